"""The engine's own decisions carried by an HTTPRoute and the canary Service's host rule:
a whole rollout replayed through ``engine.decide`` with the Gateway API documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollout.actions import SetOutlierDetection
from rollout.engine import Observed, decide, desired_mesh
from rollout.mesh.gateway import apply_gateway, gateway_drift, gateway_in_sync
from rollout.mesh.gatewayapi import GatewayDocs
from rollout.mesh.httproute import Backends
from rollout.model import RolloutStatus, Verdict, parse_spec
from tests.unit.test_mesh_httproute import busy_route, refs_of

T0 = datetime(2026, 11, 25, tzinfo=UTC)
B = Backends("inventory-v1", "inventory-v2", namespace="shop")
SPEC = parse_spec(
    {
        "service": "inventory-service",
        "stableSubset": "v1",
        "canarySubset": "v2",
        "strategy": {"stepDuration": "1m", "headerRoute": {"minRequests": 10}},
        "analysis": {"minRequests": 10},
    }
)


class Run:
    """A rollout driven by the engine, its mesh actions applied to the Gateway documents
    (each write followed by the reconcile its watch event brings)."""

    def __init__(self) -> None:
        self.now = T0
        self.status = RolloutStatus()
        self.docs = GatewayDocs(busy_route())
        self.writes: list[str] = []

    def turn(self, outcome: str | None = None) -> None:
        verdict = None
        if outcome is not None:
            verdict = Verdict(outcome=outcome, at=self.now, canary_requests=1000)
        seen = Observed(
            verdict=verdict,
            generation=1,
            drift=gateway_drift(self.docs, B),
            mesh_in_sync=gateway_in_sync(self.docs, B, desired_mesh(SPEC, self.status)),
        )
        decision = decide(SPEC, self.status, self.now, seen)
        self.status = decision.status
        result = apply_gateway(self.docs, B, decision.mesh)
        self.docs = result.docs
        if result.rule_write:
            self.writes.append(result.rule_write)
        if result.route_changed or result.rule_write:
            self.turn()

    def promote(self, outcome: str = "pass") -> None:
        self.now += timedelta(seconds=61)
        self.turn(outcome)


def test_a_healthy_rollout_on_an_httproute() -> None:
    """Header stage (testers only), 5 → 25 → 50 → 100, then the canary Service alone; the
    other rules never change; no host rule was ever needed."""
    run = Run()
    run.turn()
    assert [r.get("name") for r in run.docs.route["spec"]["rules"]][2] == "main-meshrollout-canary"
    assert refs_of(run.docs.route) == [("inventory-v1", 100), ("inventory-v2", 0)]
    seen = []
    while run.status.phase == "Progressing":
        run.promote()
        seen.append(dict(refs_of(run.docs.route)).get("inventory-v2", 0))
    assert run.status.phase == "Succeeded"
    assert seen == [5, 25, 50, 100, 100]
    assert refs_of(run.docs.route) == [("inventory-v2", 100)]
    assert [r.get("name") for r in run.docs.route["spec"]["rules"]] == ["beta", "api", "main"]
    assert run.docs.route["spec"]["rules"][:2] == busy_route()["spec"]["rules"][:2]
    assert run.docs.host_rule is None
    assert run.writes == []


def test_a_regression_on_an_httproute_tightens_the_canary_service() -> None:
    """A failing verdict at 5%: the stable Service alone, the header rule gone, and a host
    rule of ours for inventory-v2 with the seed's outlier settings, which restoring
    deletes."""
    run = Run()
    run.turn()
    run.promote()
    assert dict(refs_of(run.docs.route))["inventory-v2"] == 5
    run.now += timedelta(seconds=5)
    run.turn("fail")
    assert run.status.phase == "RolledBack"
    assert refs_of(run.docs.route) == [("inventory-v1", 100)]
    assert [r.get("name") for r in run.docs.route["spec"]["rules"]] == ["beta", "api", "main"]
    rule = run.docs.host_rule
    assert rule is not None
    assert rule["spec"]["host"] == "inventory-v2"
    detection = rule["spec"]["trafficPolicy"]["outlierDetection"]
    assert (detection["consecutive5xxErrors"], detection["maxEjectionPercent"]) == (1, 50)
    assert run.writes == ["create"]
    assert gateway_in_sync(run.docs, B, desired_mesh(SPEC, run.status))
    restored = apply_gateway(run.docs, B, [SetOutlierDetection(False)])
    assert (restored.rule_write, restored.docs.host_rule) == ("delete", None)
