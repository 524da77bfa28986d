"""The Kubernetes adapter over real HTTP: preconditions, conflicts, status, watches,
Events and readiness (mTLS: test_mtls.py). Runs on the emulator, or a real cluster
when configured."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rollout.kube import (
    Conflict,
    EventRecorder,
    KubeClient,
    MeshDocs,
    NotFound,
    RolloutClient,
    RoutingClient,
    Watcher,
    WorkloadClient,
)
from rollout.kube.resources import (
    DEPLOYMENTS,
    EVENTS,
    destination_rules,
    virtual_services,
)
from rollout.mesh import Target, set_weights, tighten
from tests.integration.conftest import Cluster
from tests.unit.istio import HOST, destination_rule, in_namespace, seed_vs, weights

TIGHT = {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "5m"}


def seed(cluster: Cluster, kube: KubeClient) -> RoutingClient:
    mesh = RoutingClient(kube)
    kube.create(
        virtual_services(mesh.version),
        cluster.namespace,
        in_namespace(seed_vs(), cluster.namespace),
    )
    kube.create(
        destination_rules(mesh.version),
        cluster.namespace,
        in_namespace(destination_rule(), cluster.namespace),
    )
    return mesh


def target(cluster: Cluster) -> Target:
    return Target(HOST, "v1", "v2", namespace=cluster.namespace)


def to_weight(t: Target, weight: int) -> Any:
    return lambda d: MeshDocs(set_weights(d.virtual_service, t, weight), d.destination_rule)


def test_finds_the_documents_by_host(cluster: Cluster) -> None:
    """The VirtualService and DestinationRule are found by the host they route."""
    mesh = seed(cluster, cluster.kube())
    vs = mesh.find_virtual_service(cluster.namespace, HOST)
    dr = mesh.find_destination_rule(cluster.namespace, f"{HOST}.{cluster.namespace}.svc")
    assert (vs["metadata"]["name"], dr["metadata"]["name"]) == ("inventory-route", "inventory-dr")
    with pytest.raises(NotFound, match="no VirtualService"):
        mesh.find_virtual_service(cluster.namespace, "cart-service")


def test_update_patches_only_what_changed(cluster: Cluster) -> None:
    """Weights change; the DestinationRule, untouched, is not written at all."""
    mesh = seed(cluster, cluster.kube("writer"))
    before = mesh.read(cluster.namespace, "inventory-route", "inventory-dr")
    after = mesh.update(
        cluster.namespace, "inventory-route", "inventory-dr", to_weight(target(cluster), 25)
    )
    assert weights(after.virtual_service) == [("v1", 75), ("v2", 25)]
    assert after.destination_rule == before.destination_rule
    if cluster.api is not None:
        patches = [e for e in cluster.writes(user="writer") if e.verb == "patch"]
        assert [(e.resource, e.code) for e in patches] == [
            ("virtualservices.networking.istio.io", 200)
        ]
        assert (
            patches[0].body["metadata"]["resourceVersion"]
            == (before.virtual_service["metadata"]["resourceVersion"])
        )


def test_a_concurrent_edit_is_never_overwritten(cluster: Cluster) -> None:
    """A person edits the route between our read and write: 409, re-read, re-apply; both stay."""
    kube = cluster.kube()
    mesh = seed(cluster, kube)
    person = RoutingClient(cluster.kube("person"))
    calls: list[str] = []

    def transform(docs: MeshDocs) -> MeshDocs:
        if not calls:  # the person strikes after our read
            edited = docs.virtual_service["spec"]["http"][1] | {"timeout": "9s"}
            spec = {**docs.virtual_service["spec"]}
            spec["http"] = [spec["http"][0], edited]
            person.write(docs.virtual_service, {**docs.virtual_service, "spec": spec})
        calls.append(docs.virtual_service["metadata"]["resourceVersion"])
        return to_weight(target(cluster), 50)(docs)  # type: ignore[no-any-return]

    result = mesh.update(cluster.namespace, "inventory-route", "inventory-dr", transform)
    assert len(calls) == 2
    assert calls[0] != calls[1]
    route = result.virtual_service["spec"]["http"][1]
    assert route["timeout"] == "9s"
    assert weights(result.virtual_service) == [("v1", 50), ("v2", 50)]


def test_outlier_tightening_round_trips_through_the_api(cluster: Cluster) -> None:
    """The DestinationRule patch keeps the saved original in its annotation."""
    mesh = seed(cluster, cluster.kube())
    t = target(cluster)
    out = mesh.update(
        cluster.namespace,
        "inventory-route",
        "inventory-dr",
        lambda d: MeshDocs(d.virtual_service, tighten(d.destination_rule, t, TIGHT)),
    )
    subset = out.destination_rule["spec"]["subsets"][1]
    assert subset["trafficPolicy"]["outlierDetection"] == TIGHT
    assert (
        "meshrollout.dev/replaced-outlier-detection"
        in out.destination_rule["metadata"]["annotations"]
    )


def test_status_is_replaced_with_optimistic_concurrency(cluster: Cluster) -> None:
    """Status writes replace the whole status, leave the spec, and 409 when stale."""
    rollouts = RolloutClient(cluster.kube())
    spec = {"service": HOST, "stableSubset": "v1", "canarySubset": "v2"}
    made = rollouts.create(cluster.namespace, "inventory", spec)
    first = rollouts.write_status(made, {"phase": "Paused", "pauseReason": "user"})
    second = rollouts.write_status(first, {"phase": "Progressing"})
    assert second["status"]["phase"] == "Progressing"
    assert "pauseReason" not in second["status"]
    assert second["spec"]["service"] == HOST
    with pytest.raises(Conflict):
        rollouts.write_status(first, {"phase": "Failed"})
    edited = rollouts.patch_spec(cluster.namespace, "inventory", {"paused": True})
    assert edited["metadata"]["generation"] == 2
    assert edited["status"]["phase"] == "Progressing"


def test_events_are_recorded_once_per_effect(cluster: Cluster) -> None:
    """The same effect id twice makes one Event, with the reason given."""
    kube = cluster.kube()
    made = RolloutClient(kube).create(
        cluster.namespace,
        "inventory",
        {"service": HOST, "stableSubset": "v1", "canarySubset": "v2"},
    )
    recorder = EventRecorder(kube, instance="replica-1")
    assert recorder.record(made, "r1.2.StepPromoted", "StepPromoted", "canary at 25%")
    assert not recorder.record(made, "r1.2.StepPromoted", "StepPromoted", "canary at 25%")
    assert recorder.record(made, "r1.3.RolledBack", "RolledBack", "5xx 4%", "Warning")
    events, _ = kube.list(EVENTS, cluster.namespace)
    assert sorted(e["reason"] for e in events) == ["RolledBack", "StepPromoted"]
    assert {e["regarding"]["name"] for e in events} == {"inventory"}


def deployment(name: str, version: str, ready: int, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "inventory", "version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "inventory"}]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": ready,
            "readyReplicas": ready,
        },
    }


def test_canary_readiness_follows_the_subset_labels(cluster: Cluster) -> None:
    """The canary subset's Deployments must be fully ready; missing ones are named."""
    cluster.require_emulator("on a real cluster the Deployment controller owns status")
    kube = cluster.kube()
    workloads = WorkloadClient(kube)
    dr = destination_rule()
    assert not workloads.subset_readiness(cluster.namespace, dr, "v2").ready
    kube.create(DEPLOYMENTS, cluster.namespace, deployment("inventory-v2", "v2", ready=1))
    made = kube.get(DEPLOYMENTS, cluster.namespace, "inventory-v2")
    kube.replace(
        DEPLOYMENTS,
        cluster.namespace,
        "inventory-v2",
        {**made, "status": deployment("x", "v2", 1)["status"]},
        sub="status",
    )
    waiting = workloads.subset_readiness(cluster.namespace, dr, "v2")
    assert (waiting.ready, waiting.message) == (False, "Deployment inventory-v2 is not ready")
    made = kube.get(DEPLOYMENTS, cluster.namespace, "inventory-v2")
    kube.replace(
        DEPLOYMENTS,
        cluster.namespace,
        "inventory-v2",
        {**made, "status": deployment("x", "v2", 2)["status"]},
        sub="status",
    )
    assert workloads.subset_readiness(cluster.namespace, dr, "v2").ready


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_watch_delivers_changes_within_a_second(cluster: Cluster) -> None:
    """Someone edits the weights by hand: the watcher hears of it in well under a second."""
    kube = cluster.kube()
    mesh = seed(cluster, kube)
    seen: list[tuple[str, str]] = []
    watcher = Watcher(
        kube,
        virtual_services(mesh.version),
        lambda kind, obj: seen.append((kind, obj["metadata"]["resourceVersion"])),
        namespace=cluster.namespace,
        stream_timeout_s=2,
    ).start()
    try:
        wait_for(lambda: seen)
        assert seen[0][0] == "SYNC"
        changed_at = time.monotonic()
        out = RoutingClient(cluster.kube("person")).update(
            cluster.namespace, "inventory-route", "inventory-dr", to_weight(target(cluster), 10)
        )
        wait_for(lambda: seen[-1][1] == out.virtual_service["metadata"]["resourceVersion"])
        assert time.monotonic() - changed_at < 1.0
        assert seen[-1][0] == "MODIFIED"
    finally:
        watcher.stop()


def test_watch_resumes_after_dropped_streams_without_missing_changes(cluster: Cluster) -> None:
    """Streams cut every 0.3 s: the watcher resumes from its version and misses nothing."""
    kube = cluster.kube("watcher")
    mesh = seed(cluster, cluster.kube())
    cluster.emulator.faults.set(drop_watches_after_s=0.3, users=["watcher"])
    seen: list[str] = []
    watcher = Watcher(
        kube,
        virtual_services(mesh.version),
        lambda kind, obj: seen.append(obj["metadata"]["resourceVersion"]),
        namespace=cluster.namespace,
        stream_timeout_s=5,
        backoff_s=0.05,
    ).start()
    try:
        written = []
        for weight in range(10, 100, 10):
            docs = mesh.update(
                cluster.namespace,
                "inventory-route",
                "inventory-dr",
                to_weight(target(cluster), weight),
            )
            written.append(docs.virtual_service["metadata"]["resourceVersion"])
            time.sleep(0.1)
        wait_for(lambda: bool(seen) and seen[-1] == written[-1])
        assert set(written) <= set(seen)
        assert watcher.relists == 1
    finally:
        watcher.stop()


def test_watch_relists_when_its_version_is_gone(cluster: Cluster, tmp_path: Any) -> None:
    """After 410 Gone the watcher lists again and reports every object as SYNC."""
    from meshlab.kubeapi import KubeAPI

    if cluster.api is None:
        pytest.skip("compaction cannot be forced on a real cluster")
    small = KubeAPI.start(history_limit=3)
    try:
        kube = KubeClient.connect(str(small.write_kubeconfig(tmp_path / "kc", "shop")))
        mesh = RoutingClient(kube)
        kube.create(virtual_services("v1"), "shop", seed_vs())
        kube.create(destination_rules("v1"), "shop", destination_rule())
        seen: list[tuple[str, str]] = []
        watcher = Watcher(
            kube,
            virtual_services("v1"),
            lambda kind, obj: seen.append((kind, obj["metadata"]["name"])),
            namespace="shop",
            stream_timeout_s=1,
        )
        watcher.relist()
        t = Target(HOST, "v1", "v2", namespace="shop")
        for weight in (10, 20, 30, 40, 50):
            mesh.update("shop", "inventory-route", "inventory-dr", to_weight(t, weight))
        runner = threading.Thread(target=watcher.run)
        runner.start()
        wait_for(lambda: watcher.relists == 2)
        watcher.stopping.set()
        runner.join(timeout=5)
        assert seen.count(("SYNC", "inventory-route")) == 2
    finally:
        small.stop()


def test_the_client_sends_its_identity_in_the_user_agent_only(tmp_path: Path) -> None:
    """What goes on the wire: the identity in the User-Agent (which API servers audit), and
    no emulator-only header such as X-Remote-User (issue #13)."""
    seen: list[dict[str, str]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            body = json.dumps({"kind": "List", "metadata": {}, "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
            ],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(kubeconfig))
        kube = KubeClient.connect(str(path), identity="ctl-a")
        kube.list(DEPLOYMENTS, "shop")
        kube.close()
    finally:
        server.shutdown()
        server.server_close()
    (headers,) = seen
    assert "ctl-a" in headers["User-Agent"]
    assert not {k.lower() for k in headers} & {
        "x-remote-user",
        "x-remote-group",
        "impersonate-user",
    }
