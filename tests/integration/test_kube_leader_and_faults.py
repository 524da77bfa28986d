"""Leader election between two replicas, and exactly-once writes under API faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rollout.kube import Conflict, LeaderElector, LeaseTiming, MeshDocs, NotLeader, RoutingClient
from rollout.kube.resources import LEASES, destination_rules, virtual_services
from rollout.mesh import Target, set_weights
from tests.integration.conftest import Cluster
from tests.unit.istio import HOST, destination_rule, in_namespace, seed_vs, weights

FAST = LeaseTiming(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)


def elector(cluster: Cluster, identity: str) -> LeaderElector:
    return LeaderElector(
        cluster.kube(identity), cluster.namespace, "rollout-controller", identity, FAST
    )


class Replica:
    """A replica's loop: renew the lease, and write a ConfigMap-like marker while leading."""

    def __init__(self, cluster: Cluster, identity: str) -> None:
        self.elector = elector(cluster, identity)
        self.identity = identity
        self.wrote_at: list[float] = []
        self.refused = 0
        self.thread = self.elector.start()
        self.stop_writing = threading.Event()
        self.writer = threading.Thread(target=self._write_loop, daemon=True)
        self.writer.start()

    def _write_loop(self) -> None:
        while not self.stop_writing.is_set():
            try:
                self.elector.fence()
                self.wrote_at.append(time.monotonic())
            except NotLeader:
                self.refused += 1
            time.sleep(0.02)

    def crash(self) -> None:
        """Stop renewing without releasing the lease, as a killed process would."""
        self.elector.stopping.set()
        self.elector._valid_until = float("-inf")  # the process is gone: it writes nothing
        self.stop_writing.set()

    def stop(self) -> None:
        self.stop_writing.set()
        self.elector.stopping.set()
        self.thread.join(timeout=5)


def to_weight(t: Target, weight: int) -> Callable[[MeshDocs], MeshDocs]:
    return lambda d: MeshDocs(set_weights(d.virtual_service, t, weight), d.destination_rule)


def wait_for(condition: Any, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic()


def test_one_of_two_replicas_leads_and_the_other_never_writes(cluster: Cluster) -> None:
    """Two contenders: exactly one leads; the other's fence refuses every write."""
    a, b = Replica(cluster, "replica-a"), Replica(cluster, "replica-b")
    try:
        wait_for(lambda: a.elector.is_leader() or b.elector.is_leader(), timeout=3)
        time.sleep(1.0)
        leader, follower = (a, b) if a.elector.is_leader() else (b, a)
        assert not follower.elector.is_leader()
        assert leader.wrote_at
        assert not follower.wrote_at
        lease = cluster.kube().get(LEASES, cluster.namespace, "rollout-controller")
        assert lease["spec"]["holderIdentity"] == leader.identity
    finally:
        a.stop()
        b.stop()


def test_the_other_replica_takes_over_within_the_lease_duration(cluster: Cluster) -> None:
    """Kill the leader: the other leads within the lease duration (plus one retry period)."""
    a = Replica(cluster, "replica-a")
    wait_for(a.elector.is_leader, timeout=3)
    b = Replica(cluster, "replica-b")
    try:
        time.sleep(0.5)
        assert not b.elector.is_leader()
        crashed = time.monotonic()
        a.crash()
        took_over = wait_for(b.elector.is_leader, timeout=5)
        assert took_over - crashed <= FAST.lease_duration + 2 * FAST.retry_period
        wait_for(lambda: b.wrote_at, timeout=1)
        assert min(b.wrote_at) > max(a.wrote_at)
    finally:
        a.stop()
        b.stop()


def test_a_leader_that_cannot_renew_stops_before_anyone_else_starts(cluster: Cluster) -> None:
    """The leader's renewals fail (API errors for it alone): it stops writing before the
    other replica can acquire the lease, so there are never two writers."""
    a = Replica(cluster, "replica-a")
    wait_for(a.elector.is_leader, timeout=3)
    b = Replica(cluster, "replica-b")
    try:
        time.sleep(0.3)
        cluster.emulator.faults.set(error_rate=1.0, error_codes=[503], users=["replica-a"])
        wait_for(b.elector.is_leader, timeout=5)
        wait_for(lambda: b.wrote_at, timeout=1)
        assert a.wrote_at
        assert max(a.wrote_at) < min(b.wrote_at), "two writers at once"
        assert not a.elector.is_leader()
    finally:
        a.stop()
        b.stop()


def test_a_late_renewal_that_refused_work_is_a_loss_and_a_gain(cluster: Cluster) -> None:
    """A round that comes after the renew deadline (a starved process) renews the lease;
    if the fence refused a write in between, that work was dropped: the elector says it
    stopped and started leading, so the controller queues everything again."""
    clock = [100.0]
    e = LeaderElector(
        cluster.kube("a"), cluster.namespace, "late", "a", FAST, monotonic=lambda: clock[0]
    )
    calls: list[str] = []

    def started() -> None:
        calls.append("started")

    def stopped() -> None:
        calls.append("stopped")

    leading = e.round(False, started, stopped)
    assert (leading, calls) == (True, ["started"])
    clock[0] += FAST.retry_period  # on time: renewed, nothing to say
    leading = e.round(leading, started, stopped)
    assert (leading, calls) == (True, ["started"])
    clock[0] += FAST.renew_deadline + 0.5  # late, but nobody was refused meanwhile
    leading = e.round(leading, started, stopped)
    assert (leading, calls) == (True, ["started"])
    clock[0] += FAST.renew_deadline + 0.5  # late, and a write was refused
    with pytest.raises(NotLeader):
        e.fence()
    leading = e.round(leading, started, stopped)
    assert leading
    assert e.is_leader()
    assert calls == ["started", "stopped", "started"]
    clock[0] += FAST.retry_period
    leading = e.round(leading, started, stopped)
    assert (leading, calls) == (True, ["started", "stopped", "started"])


def test_graceful_release_hands_over_at_once(cluster: Cluster) -> None:
    """A replica that stops cleanly releases the lease; the other need not wait it out."""
    a = Replica(cluster, "replica-a")
    wait_for(a.elector.is_leader, timeout=3)
    b = Replica(cluster, "replica-b")
    try:
        time.sleep(0.3)
        released = time.monotonic()
        a.stop()
        took_over = wait_for(b.elector.is_leader, timeout=5)
        assert took_over - released < FAST.lease_duration
    finally:
        b.stop()


def test_weight_changes_land_exactly_once_under_faults(cluster: Cluster) -> None:
    """20% of requests answered 500, 200 ms latency, some answers lost after the write:
    a sequence of 100 weight changes all land, each exactly once, in order."""
    api = cluster.emulator
    kube = cluster.kube("controller")
    mesh = RoutingClient(kube)
    ns = cluster.namespace
    kube.create(virtual_services(mesh.version), ns, in_namespace(seed_vs(), ns))
    kube.create(destination_rules(mesh.version), ns, in_namespace(destination_rule(), ns))
    t = Target(HOST, "v1", "v2", namespace=ns, routes=("primary",))
    plan = [(i * 37) % 100 + 1 for i in range(100)]  # 100 distinct weights, in a jumbled order
    api.faults.set(
        error_rate=0.2,
        error_codes=[500],
        latency_ms=200,
        lost_response_rate=0.05,
        writes_only=False,
        users=["controller"],
        seed=42,
    )
    docs = None
    for weight in plan:
        docs = mesh.update(
            ns,
            "inventory-route",
            "inventory-dr",
            to_weight(t, weight),
            current=docs,
        )
    api.faults.clear()
    assert docs is not None
    assert weights(docs.virtual_service) == [("v1", 100 - plan[-1]), ("v2", plan[-1])]
    landed = [
        e.body["spec"]["http"][1]["route"][1]["weight"]
        for e in cluster.writes("virtualservices.networking.istio.io", "controller")
        if e.verb == "patch" and e.code in (200, 500) and e.resource_version
    ]
    assert landed == plan
    codes = {e.code for e in cluster.writes(user="controller")}
    assert 500 in codes, "the faults did happen"


def test_a_409_storm_delays_but_does_not_lose_a_change(cluster: Cluster) -> None:
    """Half the writes refused with 409: each update re-reads, re-applies and lands."""
    api = cluster.emulator
    kube = cluster.kube("stormy")
    mesh = RoutingClient(kube, conflict_attempts=30)
    ns = cluster.namespace
    kube.create(virtual_services(mesh.version), ns, in_namespace(seed_vs(), ns))
    kube.create(destination_rules(mesh.version), ns, in_namespace(destination_rule(), ns))
    t = Target(HOST, "v1", "v2", namespace=ns)
    api.faults.set(conflict_rate=0.5, users=["stormy"], seed=3)
    for weight in (5, 25, 50, 100):
        docs = mesh.update(
            ns,
            "inventory-route",
            "inventory-dr",
            to_weight(t, weight),
        )
        assert weights(docs.virtual_service) == [("v1", 100 - weight), ("v2", weight)]
    refused = [e for e in cluster.writes(user="stormy") if e.code == 409]
    assert refused, "the storm did happen"


def test_faults_can_be_aimed_at_one_resource_type(cluster: Cluster) -> None:
    """``resources`` limits the emulator's faults to those types: every VirtualService
    write refused, the DestinationRule beside it written as usual."""
    api = cluster.emulator
    kube = cluster.kube("aimed")
    mesh = RoutingClient(kube)
    ns = cluster.namespace
    vs_type, dr_type = virtual_services(mesh.version), destination_rules(mesh.version)
    kube.create(vs_type, ns, in_namespace(seed_vs(), ns))
    dr = kube.create(dr_type, ns, in_namespace(destination_rule(), ns))
    api.faults.set(conflict_rate=1.0, users=["aimed"], resources=["virtualservices"])
    try:
        vs = kube.get(vs_type, ns, "inventory-route")
        with pytest.raises(Conflict):
            kube.replace(vs_type, ns, "inventory-route", vs)
        kube.replace(dr_type, ns, "inventory-dr", dr)
    finally:
        api.faults.clear()
    codes = [(e.resource.split(".")[0], e.code) for e in cluster.writes(user="aimed")]
    assert ("virtualservices", 409) in codes
    assert ("destinationrules", 200) in codes
