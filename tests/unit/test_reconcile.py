"""The reconciler on fakes of its ports: write order, crashes between writes, preflight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.controller.fakes import (
    Crash,
    FakeCluster,
    FakeEvents,
    FakeFence,
    FakeMesh,
    FakeNotifier,
    FakeRollouts,
    FakeWorkloads,
)
from rollout.controller.fakes import evaluation as fake_evaluation
from rollout.controller.reconcile import Reconciler
from rollout.engine.preflight import MtlsMode
from rollout.kube.leader import NotLeader
from rollout.model import parse_status
from tests.unit.istio import destination_rule, seed_vs, weights

T0 = datetime(2026, 11, 25, tzinfo=UTC)


class World:
    """A fake cluster with the seed documents, one Rollout and a controllable clock."""

    def __init__(self, mtls_floor: MtlsMode = "off", **spec: Any) -> None:
        self.cluster = FakeCluster()
        self.now = T0
        self.cluster.put("VirtualService", seed_vs())
        self.cluster.put("DestinationRule", destination_rule())
        body = {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": {"stepDuration": "1m"},
            "analysis": {"minRequests": 10},
            **spec,
        }
        self.cluster.put(
            "Rollout", {"metadata": {"name": "inventory", "generation": 1}, "spec": body}
        )
        self.workloads = FakeWorkloads()
        self.events = FakeEvents(self.cluster)
        self.notifier = FakeNotifier(self.cluster)
        self.fence = FakeFence()
        self.reconciler = Reconciler(
            FakeRollouts(self.cluster),
            FakeMesh(self.cluster),
            self.workloads,
            self.events,
            self.notifier,
            self.fence,
            lambda: self.now,
            mtls_floor=mtls_floor,
        )

    def run(self, outcome: str | None = None, requests: int = 20_000) -> None:
        """Reconcile (with Prometheus's answer for the current step when ``outcome`` is
        given: a healthy canary for "pass", one failing half its requests for "fail")."""
        evaluation = None
        if outcome is not None:
            started = self.status().step_started_at or self.now
            evaluation = fake_evaluation(outcome, self.now, started, requests)
        before = len(self.cluster.writes)
        self.reconciler.reconcile("shop", "inventory", evaluation)
        if any(kind != "Rollout" for kind, _, _ in self.cluster.writes[before:]):
            # The controller's watch on the VirtualService/DestinationRule reconciles again.
            self.reconciler.reconcile("shop", "inventory", None)

    def status(self) -> Any:
        return parse_status(self.cluster.get("Rollout", "inventory").get("status"))

    def weights(self) -> list[tuple[str, int | None]]:
        return weights(self.cluster.get("VirtualService", "inventory-route"))

    def tick(self, seconds: float = 61) -> None:
        self.now += timedelta(seconds=seconds)


def test_a_healthy_rollout_goes_all_the_way() -> None:
    """Each passing evaluation after the step time moves one step; the canary ends stable."""
    w = World()
    w.run()
    assert (w.status().phase, w.weights()) == ("Progressing", [("v1", 95), ("v2", 5)])
    for expected in (25, 50, 100):
        w.tick()
        w.run("pass")
        assert w.weights() == [("v1", 100 - expected), ("v2", expected)]
    w.tick()
    w.run("pass")
    assert w.status().phase == "Succeeded"
    assert w.weights() == [("v2", 100)]
    assert w.status().outbox == []
    assert [e.event for e in w.notifier.sent] == [
        "started",
        "step-promoted",
        "step-promoted",
        "step-promoted",
        "succeeded",
    ]


def test_status_is_written_before_the_mesh() -> None:
    """The first write of a transition is the status; the VirtualService follows it."""
    w = World()
    w.run()
    kinds = [kind for kind, _, _ in w.cluster.writes]
    assert kinds[0] == "Rollout"
    assert kinds.index("VirtualService") > 0


@pytest.mark.parametrize("crash_at", ["mesh_update", "event", "notify", "write_status"])
def test_a_crash_between_writes_converges(crash_at: str) -> None:
    """Killed between any two writes, the next reconcile finishes the job, once."""
    w = World()
    w.run()
    w.tick()
    w.cluster.crashes.arm(crash_at)
    with pytest.raises(Crash):
        w.run("pass")
    w.run()  # the restarted controller, with no verdict in hand yet
    w.run("pass")  # and its next evaluation (a crash before any write decided nothing)
    status = w.status()
    assert (status.step_index, status.canary_weight) == (1, 25)
    assert w.weights() == [("v1", 75), ("v2", 25)]
    assert status.outbox == []
    promoted = [e for e in w.notifier.sent if e.event == "step-promoted"]
    assert len(promoted) == 1
    assert sorted(r for r, _ in w.events.recorded.values()) == ["Started", "StepPromoted"]


def test_a_regression_rolls_back_and_tightens() -> None:
    """A failing verdict: 100% stable, outlier detection tightened and its original saved."""
    w = World()
    w.run()
    w.run("fail")
    status = w.status()
    assert status.phase == "RolledBack"
    assert w.weights() == [("v1", 100)]
    dr = w.cluster.get("DestinationRule", "inventory-dr")
    assert (
        dr["spec"]["subsets"][1]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 1
    )
    assert status.outlier_tightened
    assert w.events.recorded  # RolledBack and OutlierDetectionTightened
    reasons = sorted(r for r, _ in w.events.recorded.values())
    assert reasons == ["OutlierDetectionTightened", "RolledBack", "Started"]


def test_invalid_spec_fails_and_touches_nothing() -> None:
    """An invalid spec: Failed with the field in the message, and no mesh write."""
    w = World(strategy={"steps": [50, 5]})
    w.run()
    assert w.status().phase == "Failed"
    assert "spec.strategy.steps[1]" in w.status().message
    assert all(kind == "Rollout" for kind, _, _ in w.cluster.writes)


def test_missing_subset_fails_without_touching_the_mesh() -> None:
    """A DestinationRule without the canary subset: Failed, the field named, no mesh write."""
    w = World(canarySubset="v9")
    w.run()
    assert w.status().phase == "Failed"
    assert "DestinationRule.spec.subsets" in w.status().message
    assert w.weights() == [("v1", None)]


def test_preflight_waits_for_the_canary_and_can_block_on_mtls() -> None:
    """Not ready: Pending, nothing moved. mTLS not STRICT with `block`: Failed."""
    w = World()
    w.workloads.ready = False
    w.run()
    assert (w.status().phase, w.weights()) == ("Pending", [("v1", None)])
    w.workloads.ready = True
    w.run()
    assert w.status().phase == "Progressing"
    strict = World(preflight={"mtls": "block"})
    strict.workloads.mtls = "PERMISSIVE"
    strict.run()
    assert strict.status().phase == "Failed"
    assert "mTLS is PERMISSIVE" in strict.status().message


def test_plain_text_is_told_once_when_the_preflight_only_warns() -> None:
    """`warn` (the default) with a PERMISSIVE namespace: the run starts, and says so in a
    Warning Event, a PreflightClean=False condition and the release's first message."""
    w = World()
    w.workloads.mtls = "PERMISSIVE"
    w.run()
    status = w.status()
    assert status.phase == "Progressing"
    clean = status.condition("PreflightClean")
    assert clean is not None
    assert (clean.status, clean.reason) == ("False", "Warning")
    assert "plain text is accepted (mTLS is PERMISSIVE" in clean.message
    assert [r for r, _ in w.events.recorded.values()] == ["Started", "PreflightWarning"]
    (started,) = w.notifier.sent
    assert "warning: plain text is accepted" in started.message
    w.tick()
    w.run("pass")
    assert sum(r == "PreflightWarning" for r, _ in w.events.recorded.values()) == 1


@pytest.mark.parametrize(
    ("spec_mode", "floor", "phase"),
    [
        ("off", "block", "Failed"),
        ("warn", "block", "Failed"),
        ("off", "warn", "Progressing"),
        ("off", "off", "Progressing"),
    ],
)
def test_the_platform_sets_a_floor_under_the_mtls_preflight(
    spec_mode: MtlsMode, floor: MtlsMode, phase: str
) -> None:
    """A tenant cannot loosen the platform's choice: with a `block` floor, `off` blocks."""
    w = World(mtls_floor=floor, preflight={"mtls": spec_mode})
    w.workloads.mtls = "PERMISSIVE"
    w.run()
    assert w.status().phase == phase
    if phase == "Failed":
        assert "the platform requires STRICT" in w.status().message
    warned = w.status().condition("PreflightClean") is not None
    assert warned == (floor == "warn")


def test_a_follower_writes_nothing() -> None:
    """Without the lease, the fence refuses the very first write."""
    w = World()
    w.fence.leader = False
    with pytest.raises(NotLeader):
        w.run()
    assert w.cluster.writes == []


def test_hand_edited_weights_are_put_back() -> None:
    """Someone sets the weights by hand: the next reconcile restores them and says so."""
    w = World()
    w.run()
    vs = w.cluster.get("VirtualService", "inventory-route")
    vs["spec"]["http"][1]["route"][0]["weight"] = 10
    vs["spec"]["http"][1]["route"][1]["weight"] = 90
    w.cluster.put("VirtualService", vs)
    w.run()
    assert w.weights() == [("v1", 95), ("v2", 5)]
    assert "DriftReverted" in [r for r, _ in w.events.recorded.values()]


def test_failing_mesh_writes_delay_a_step_and_never_shorten_it() -> None:
    """VirtualService writes failing for longer than the step: the step's minute starts when
    the weight is finally written, so a pass right after the write promotes nothing."""
    w = World()
    w.run()
    w.tick()
    w.cluster.crashes.arm("mesh_update", times=3)
    for _ in range(3):  # the promotion is decided, the mesh write keeps failing
        with pytest.raises(Crash):
            w.run("pass")
        w.tick(30)
    assert (w.status().step_index, w.status().step_started_at) == (1, None)
    assert w.weights() == [("v1", 95), ("v2", 5)]
    w.run()  # the write goes through now; the watch's reconcile starts the clock
    written_at = w.now
    assert w.weights() == [("v1", 75), ("v2", 25)]
    assert w.status().step_started_at == written_at
    w.tick(30)
    w.run("pass")  # 90 s after the decision, but only 30 s at 25%
    assert w.status().step_index == 1
    w.tick(31)
    w.run("pass")
    assert w.status().step_index == 2


def _edit_spec(w: World, **changes: Any) -> None:
    rollout = w.cluster.get("Rollout", "inventory")
    rollout["spec"] = {**rollout["spec"], **changes}
    rollout["metadata"]["generation"] += 1
    w.cluster.put("Rollout", rollout)


def _at_25(w: World) -> None:
    w.run()
    w.tick()
    w.run("pass")
    assert w.weights() == [("v1", 75), ("v2", 25)]


def test_an_invalid_spec_mid_run_holds_the_canary_and_keeps_judging_it() -> None:
    """A broken edit while the canary serves 25%: paused there with a message naming the
    field, a regression still rolls back (by the run's own spec), nothing goes untracked."""
    w = World()
    _at_25(w)
    _edit_spec(w, analysis={"minRequests": -5})
    w.run()
    status = w.status()
    assert (status.phase, status.pause_reason, status.canary_weight) == ("Paused", "spec", 25)
    assert "spec.analysis.minRequests" in status.message
    assert "still judged" in status.message
    assert w.weights() == [("v1", 75), ("v2", 25)]
    w.tick(5)
    w.run("fail")
    assert (w.status().phase, w.weights()) == ("RolledBack", [("v1", 100)])


def test_a_fixed_spec_resumes_where_the_run_was() -> None:
    """Once the spec is valid again the run carries on at its step, clock restarted."""
    w = World()
    _at_25(w)
    _edit_spec(w, analysis={"minRequests": -5})
    w.run()
    w.tick(5)
    _edit_spec(w, analysis={"minRequests": 10})
    w.run()
    status = w.status()
    assert (status.phase, status.step_index, status.canary_weight) == ("Progressing", 1, 25)
    assert status.step_started_at == w.now


def test_a_change_of_subsets_mid_run_is_refused_until_aborted() -> None:
    """Switching canarySubset to v3 at 25%: v2 keeps its 25% and is judged, v3 gets nothing;
    an abort rolls v2 back, and the next reconcile starts v3 from the beginning."""
    w = World()
    w.cluster.put("DestinationRule", destination_rule("v1", "v2", "v3"))
    _at_25(w)
    _edit_spec(w, canarySubset="v3")
    w.run()
    status = w.status()
    assert (status.phase, status.pause_reason, status.canary_subset) == ("Paused", "spec", "v2")
    assert "abort this run first" in status.message
    assert w.weights() == [("v1", 75), ("v2", 25)]
    _edit_spec(w, canarySubset="v3", command={"name": "abort", "id": "c1"})
    w.run()  # the abort rolls v2 back; the watch's reconcile then starts v3
    status = w.status()
    decisions = [(h.run, h.decision) for h in status.history]
    assert decisions[-2:] == [(1, "rolled back"), (2, "started")]
    assert (status.phase, status.canary_subset, status.step_index) == ("Progressing", "v3", 0)
    assert w.weights() == [("v1", 95), ("v3", 5)]


def test_a_refused_notification_is_said_on_the_rollout_once() -> None:
    """The notifier refuses (a channel the platform does not allow): the status says why in
    a Notified=False condition, one Warning Event; once allowed, the condition goes."""
    w = World()
    w.notifier.refusal = (
        "spec.notifications.slack.channel #general is not allowed for namespace shop"
    )
    w.run()
    w.run()
    status = w.status()
    notified = status.condition("Notified")
    assert notified is not None
    assert (notified.status, notified.message) == ("False", w.notifier.refusal)
    reasons = [r for r, _ in w.events.recorded.values()]
    assert reasons.count("NotificationProblem") == 1
    w.notifier.refusal = None
    w.run()
    assert w.status().condition("Notified") is None
    assert w.status().notification_problem is None
