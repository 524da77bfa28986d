"""The reconciler on an HTTPRoute (spec.httpRoute) on fakes: every step on the backend
Services' weights, a regression tightening the canary Service's host rule, drift, a crash
between writes, bad input untouched, and the controller's asks by backend Service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.controller.fakes import (
    Crash,
    FakeCluster,
    FakeEvents,
    FakeFence,
    FakeGateways,
    FakeMesh,
    FakeNotifier,
    FakeRollouts,
    FakeWorkloads,
)
from rollout.controller.fakes import evaluation as fake_evaluation
from rollout.controller.reconcile import Reconciler
from rollout.mesh.ambient import DataPlane
from rollout.model import parse_status
from tests.unit.test_mesh_httproute import busy_route, refs_of

T0 = datetime(2026, 11, 25, tzinfo=UTC)
ROUTE = {
    "name": "inventory-route",
    "stableService": "inventory-v1",
    "canaryService": "inventory-v2",
}


def service(name: str, version: str | None) -> dict[str, Any]:
    selector = {"app": "inventory", **({"version": version} if version else {})}
    return {"metadata": {"name": name}, "spec": {"selector": selector}}


class GatewayWorld:
    """A fake cluster with an HTTPRoute, version Services, one Rollout and a clock."""

    def __init__(self, **spec: Any) -> None:
        self.cluster = FakeCluster()
        self.now = T0
        route = busy_route()
        route["metadata"] = {"name": "inventory-route", "namespace": "shop"}
        self.cluster.put("HTTPRoute", route)
        for name, version in (("inventory-service", None), ("inventory-v1", "v1"),
                              ("inventory-v2", "v2"), ("inventory-v3", "v3")):  # fmt: skip
            self.cluster.put("Service", service(name, version))
        body = {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "httpRoute": ROUTE,
            "strategy": {"stepDuration": "1m"},
            "analysis": {"minRequests": 10},
            **spec,
        }
        self.cluster.put(
            "Rollout", {"metadata": {"name": "inventory", "generation": 1}, "spec": body}
        )
        self.events = FakeEvents(self.cluster)
        self.reconciler = Reconciler(
            FakeRollouts(self.cluster),
            FakeMesh(self.cluster),
            FakeWorkloads(),
            self.events,
            FakeNotifier(self.cluster),
            FakeFence(),
            lambda: self.now,
            gateways=FakeGateways(self.cluster),
        )

    def run(self, outcome: str | None = None) -> None:
        evaluation = None
        if outcome is not None:
            started = self.status().step_started_at or self.now
            evaluation = fake_evaluation(outcome, self.now, started)
        result = self.reconciler.reconcile("shop", "inventory", evaluation)
        if result is not None and result.wrote_gateway:
            self.reconciler.reconcile("shop", "inventory", None)  # the loop's re-queue

    def status(self) -> Any:
        return parse_status(self.cluster.get("Rollout", "inventory").get("status"))

    def route(self) -> dict[str, Any]:
        return self.cluster.get("HTTPRoute", "inventory-route")

    def rules(self) -> list[str]:
        return [k[1] for k in self.cluster.objects if k[0] == "DestinationRule"]


def test_a_healthy_rollout_on_an_httproute() -> None:
    """5 → 25 → 50 → 100 on the backend Services, the clock started by the re-queue, then
    inventory-v2 alone; the other rules are untouched."""
    w = GatewayWorld()
    w.run()
    assert refs_of(w.route()) == [("inventory-v1", 95), ("inventory-v2", 5)]
    assert w.status().step_started_at == T0
    for expected in (25, 50, 100):
        w.now += timedelta(seconds=61)
        w.run("pass")
        assert refs_of(w.route()) == [("inventory-v1", 100 - expected), ("inventory-v2", expected)]
    w.now += timedelta(seconds=61)
    w.run("pass")
    assert w.status().phase == "Succeeded"
    assert refs_of(w.route()) == [("inventory-v2", 100)]
    assert w.route()["spec"]["rules"][:2] == busy_route()["spec"]["rules"][:2]
    assert w.rules() == []


def test_a_regression_tightens_the_canary_services_host_rule() -> None:
    """A failing verdict: inventory-v1 alone, a host rule of ours for inventory-v2 created."""
    w = GatewayWorld()
    w.run()
    w.now += timedelta(seconds=5)
    w.run("fail")
    assert w.status().phase == "RolledBack"
    assert refs_of(w.route()) == [("inventory-v1", 100)]
    (name,) = w.rules()
    rule = w.cluster.get("DestinationRule", name)
    assert rule["spec"]["host"] == "inventory-v2"
    assert rule["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 1
    assert "OutlierDetectionTightened" in [r for r, _ in w.events.recorded.values()]


def test_a_hand_edit_of_the_route_is_drift_and_reverted() -> None:
    """Weights changed by hand on the HTTPRoute: put back to the step's."""
    w = GatewayWorld()
    w.run()
    edited = w.route()
    edited["spec"]["rules"][2]["backendRefs"][1]["weight"] = 50
    w.cluster.replace("HTTPRoute", edited)
    w.run()
    assert refs_of(w.route()) == [("inventory-v1", 95), ("inventory-v2", 5)]
    assert "DriftReverted" in [r for r, _ in w.events.recorded.values()]


def test_a_crash_before_the_route_write_converges() -> None:
    """Killed between the status and the HTTPRoute: the next reconcile moves it, once."""
    w = GatewayWorld()
    w.run()
    w.now += timedelta(seconds=61)
    w.cluster.crashes.arm("mesh_update")
    with pytest.raises(Crash):
        w.run("pass")
    assert (w.status().canary_weight, refs_of(w.route())[1]) == (25, ("inventory-v2", 5))
    w.run()
    assert refs_of(w.route()) == [("inventory-v1", 75), ("inventory-v2", 25)]
    assert w.status().step_started_at == w.now


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ({**ROUTE, "canaryService": "inventory-v9"}, "the canary Service 'inventory-v9'"),
        ({**ROUTE, "name": "nope"}, "HTTPRoute nope not found"),
    ],
)
def test_bad_input_fails_without_touching_anything(route: dict[str, str], words: str) -> None:
    """A missing Service or HTTPRoute: Failed, said, nothing but the status written."""
    w = GatewayWorld(httpRoute=route)
    w.run()
    assert w.status().phase == "Failed"
    assert words in w.status().message
    assert all(kind == "Rollout" for kind, _, _ in w.cluster.writes)
    assert refs_of(w.route()) == [("inventory-v1", None)]


def test_the_controller_asks_by_backend_service_and_requeues_its_writes() -> None:
    """The loop sees an HTTPRoute write as a watch would (re-queued at once), and asks
    Prometheus for the two backend Services with the spec's reporter."""
    from rollout.controller.loop import Controller
    from rollout.controller.settings import Settings
    from tests.unit.test_controller import FakeSource

    w = GatewayWorld(httpRoute={**ROUTE, "reporter": "waypoint"})
    # reporter=waypoint passes the preflight only where a waypoint serves the service.
    w.reconciler.workloads = FakeWorkloads(plane=DataPlane("ambient-waypoint", "waypoint"))
    source = FakeSource()
    controller = Controller(
        Settings(leader_election=False, metrics_port=0), w.reconciler, source, clock=lambda: w.now
    )
    controller.queue.put(("shop", "inventory"))
    while controller.work_once():
        pass
    assert w.status().step_started_at == T0  # the re-queued reconcile saw the write
    w.now += timedelta(seconds=16)
    controller.tick()
    (ask,) = source.asked[0]
    assert (ask.split_by, ask.reporter, ask.stable_version, ask.canary_version) == (
        "service",
        "waypoint",
        "inventory-v1",
        "inventory-v2",
    )
