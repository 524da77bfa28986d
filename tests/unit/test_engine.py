"""The engine's transitions, one table row each, plus the desired mesh for every phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import strategies
from rollout.actions import SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.engine import Observed, decide, desired_mesh, invalid, spec_in_force
from rollout.model import MetricVerdict, RolloutSpec, RolloutStatus, Verdict, parse_spec

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TIGHT = {
    "consecutive5xxErrors": 1,
    "interval": "1s",
    "baseEjectionTime": "5m",
    "maxEjectionPercent": 50,
}


def spec(**changes: Any) -> RolloutSpec:
    base: dict[str, Any] = {
        "service": "inventory-service",
        "stableSubset": "v1",
        "canarySubset": "v2",
    }
    return parse_spec({**base, **changes})


def running(
    step: int = 1,
    phase: str = "Progressing",
    since: timedelta = timedelta(0),
    the_spec: RolloutSpec | None = None,
    **changes: Any,
) -> RolloutStatus:
    """A status as the engine leaves it ``since`` after entering ``step`` (started at T0)."""
    plan = strategies.plan(the_spec or spec())
    status = RolloutStatus.model_validate(
        {
            "phase": phase,
            "run": 1,
            "decisions": step + 1,
            "stableSubset": "v1",
            "canarySubset": "v2",
            "plan": [s.wire() for s in plan],
            "stepIndex": step,
            "canaryWeight": plan[step].weight,
            "startedAt": T0,
            "stepStartedAt": T0 + since,
        }
    )
    return RolloutStatus.model_validate({**status.model_dump(), **changes})


def verdict(outcome: str = "pass", at: datetime = T0 + MINUTE, requests: int = 500) -> Verdict:
    metrics = [
        MetricVerdict(
            name="error-rate",
            value=0.05 if outcome == "fail" else 0.001,
            threshold=0.01,
            samples=requests,
            outcome="fail" if outcome == "fail" else "pass",
        )
    ]
    return Verdict(outcome=outcome, at=at, canary_requests=requests, metrics=metrics)


@dataclass
class Case:
    """One transition: inputs, then the expected phase, step, weight and effect reasons."""

    status: RolloutStatus
    now: datetime = T0 + MINUTE
    verdict: Verdict | None = None
    spec: RolloutSpec = field(default_factory=spec)
    canary_ready: bool = True
    phase: str = "Progressing"
    step: int | None = 1
    weight: int = 25
    reasons: tuple[str, ...] = ()


CASES = [
    pytest.param(
        Case(RolloutStatus(), now=T0, step=0, weight=5, reasons=("Started",)),
        id="new-rollout-starts-at-the-first-step",
    ),
    pytest.param(
        Case(
            RolloutStatus(),
            spec=spec(strategy={"headerRoute": {}}),
            now=T0,
            step=0,
            weight=0,
            reasons=("Started",),
        ),
        id="header-stage-first-with-no-user-traffic",
    ),
    pytest.param(
        Case(
            RolloutStatus(),
            now=T0,
            canary_ready=False,
            phase="Pending",
            step=None,
            weight=0,
            reasons=("WaitingForCanary",),
        ),
        id="waits-for-the-canary-workload",
    ),
    pytest.param(
        Case(
            RolloutStatus(
                phase="Pending",
                stable_subset="v1",
                canary_subset="v2",
                message="waiting for the v2 workload to be ready",
            ),
            now=T0,
            canary_ready=False,
            phase="Pending",
            step=None,
            weight=0,
        ),
        id="waiting-is-said-once",
    ),
    pytest.param(
        Case(
            RolloutStatus(),
            now=T0,
            spec=spec(paused=True),
            phase="Paused",
            step=0,
            weight=0,
            reasons=("Started",),
        ),
        id="created-paused-moves-no-traffic",
    ),
    pytest.param(
        Case(running(1), verdict=verdict(), step=2, weight=50, reasons=("StepPromoted",)),
        id="pass-after-the-step-time-promotes",
    ),
    pytest.param(
        Case(running(1), now=T0 + MINUTE / 2, verdict=verdict(at=T0 + MINUTE / 2)),
        id="pass-before-the-step-time-holds",
    ),
    pytest.param(
        Case(running(1), verdict=verdict(requests=99)),
        id="pass-with-too-few-requests-holds",
    ),
    pytest.param(
        Case(running(1), verdict=verdict(at=T0 - MINUTE)),
        id="verdict-from-before-the-step-is-ignored",
    ),
    pytest.param(
        Case(running(1), verdict=None),
        id="no-verdict-holds",
    ),
    pytest.param(
        Case(
            running(3),
            verdict=verdict(),
            phase="Succeeded",
            step=3,
            weight=100,
            reasons=("Succeeded",),
        ),
        id="last-step-passing-succeeds",
    ),
    pytest.param(
        Case(
            running(1),
            now=T0 + MINUTE / 4,
            verdict=verdict("fail", at=T0 + MINUTE / 4),
            phase="RolledBack",
            weight=0,
            reasons=("RolledBack", "OutlierDetectionTightened"),
        ),
        id="fail-mid-step-rolls-back-at-once",
    ),
    pytest.param(
        Case(
            running(1),
            verdict=verdict("fail"),
            spec=spec(onRegression={"rollback": False}),
            phase="Paused",
            reasons=("Paused", "OutlierDetectionTightened"),
        ),
        id="fail-without-rollback-pauses",
    ),
    pytest.param(
        Case(
            running(2, phase="Paused", pause_reason="user"),
            spec=spec(paused=True),
            verdict=verdict("fail"),
            phase="RolledBack",
            step=2,
            weight=0,
            reasons=("RolledBack", "OutlierDetectionTightened"),
        ),
        id="fail-while-paused-still-rolls-back",
    ),
    pytest.param(
        Case(running(1), verdict=verdict("inconclusive")),
        id="inconclusive-holds",
    ),
    pytest.param(
        Case(
            running(1, inconclusive_count=5),
            verdict=verdict("inconclusive"),
            spec=spec(analysis={"maxInconclusive": 5}),
            phase="Paused",
            reasons=("Paused",),
        ),
        id="too-many-inconclusive-pauses",
    ),
    pytest.param(
        Case(
            running(1, inconclusive_count=5),
            verdict=verdict("inconclusive"),
            spec=spec(analysis={"judge": "threshold"}),
            phase="Paused",
            reasons=("Paused",),
        ),
        id="the-threshold-judge-gives-up-after-five",
    ),
    pytest.param(
        Case(running(1, inconclusive_count=5), verdict=verdict("inconclusive")),
        id="the-sequential-judge-keeps-gathering-past-five",
    ),
    pytest.param(
        Case(
            running(1, inconclusive_count=5),
            verdict=verdict("inconclusive"),
            spec=spec(analysis={"onInconclusive": "rollback", "maxInconclusive": 5}),
            phase="RolledBack",
            weight=0,
            reasons=("RolledBack",),
        ),
        id="too-many-inconclusive-rolls-back-per-spec",
    ),
    pytest.param(
        Case(
            running(1),
            spec=spec(paused=True),
            verdict=verdict(),
            phase="Paused",
            reasons=("Paused",),
        ),
        id="pause-stops-promotion",
    ),
    pytest.param(
        Case(
            running(1, phase="Paused", pause_reason="user"), verdict=verdict(), reasons=("Resumed",)
        ),
        id="unpausing-resumes-with-a-fresh-step-clock",
    ),
    pytest.param(
        Case(
            running(1, phase="Paused", pause_reason="inconclusive"),
            verdict=verdict(),
            phase="Paused",
        ),
        id="system-pause-needs-a-resume-command",
    ),
    pytest.param(
        Case(
            running(1, phase="Paused", pause_reason="inconclusive"),
            spec=spec(command={"name": "resume", "id": "c1"}),
            reasons=("Resumed",),
        ),
        id="resume-command-leaves-a-system-pause",
    ),
    pytest.param(
        Case(
            running(1),
            now=T0,
            spec=spec(command={"name": "promote", "id": "c1"}),
            step=2,
            weight=50,
            reasons=("StepPromoted",),
        ),
        id="promote-skips-the-rest-of-the-step",
    ),
    pytest.param(
        Case(
            running(1, handled_command_id="c1"),
            now=T0,
            spec=spec(command={"name": "promote", "id": "c1"}),
        ),
        id="a-command-is-carried-out-once",
    ),
    pytest.param(
        Case(
            running(1),
            spec=spec(command={"name": "promoteFull", "id": "c2"}),
            phase="Succeeded",
            step=3,
            weight=100,
            reasons=("Succeeded",),
        ),
        id="promote-full-finishes",
    ),
    pytest.param(
        Case(
            running(2),
            spec=spec(command={"name": "abort", "id": "c3"}),
            phase="RolledBack",
            step=2,
            weight=0,
            reasons=("RolledBack",),
        ),
        id="abort-rolls-back-without-tightening",
    ),
    pytest.param(
        Case(
            running(3, phase="Succeeded"),
            verdict=verdict("fail"),
            spec=spec(command={"name": "abort", "id": "c4"}),
            phase="Succeeded",
            step=3,
            weight=100,
        ),
        id="succeeded-is-absorbing",
    ),
    pytest.param(
        Case(
            running(1, phase="RolledBack", canary_weight=0),
            verdict=verdict(),
            phase="RolledBack",
            weight=0,
        ),
        id="rolled-back-is-absorbing",
    ),
    pytest.param(
        Case(
            running(1, phase="RolledBack", canary_weight=0, handled_command_id="old"),
            now=T0 + 5 * MINUTE,
            spec=spec(command={"name": "restart", "id": "again"}),
            step=0,
            weight=5,
            reasons=("Started",),
        ),
        id="restart-command-runs-again",
    ),
    pytest.param(
        Case(
            running(3, phase="Succeeded"),
            spec=spec(stableSubset="v2", canarySubset="v3"),
            step=0,
            weight=5,
            reasons=("Started",),
        ),
        id="new-subsets-start-a-new-run",
    ),
    pytest.param(
        Case(
            running(2, phase="Failed", message="broken"),
            verdict=verdict(),
            step=2,
            weight=50,
            reasons=("InputValid",),
        ),
        id="failed-recovers-when-input-is-valid-again",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_transition(case: Case) -> None:
    """Each row: one call to decide and the phase, step, weight and Events it produces."""
    decision = decide(
        case.spec,
        case.status,
        case.now,
        Observed(verdict=case.verdict, canary_ready=case.canary_ready),
    )
    s = decision.status
    assert (s.phase, s.step_index, s.canary_weight) == (case.phase, case.step, case.weight)
    reasons = tuple(e.reason for e in decision.effects if e.kind == "event")
    assert reasons == case.reasons


def test_promotion_notifies_once_with_a_stable_id() -> None:
    """A transition emits one Event and one notification, ids keyed by run and decision."""
    decision = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict()))
    (event, note) = decision.effects
    assert note.kind == "notify"
    assert (note.id, note.event, note.canary_weight, note.step_index) == (
        "r1.3.step-promoted",
        "step-promoted",
        50,
        2,
    )
    assert event.kind == "event"
    assert event.id == "r1.3.StepPromoted"
    # The same inputs again (the mesh still at the old weight) change nothing.
    again = decide(
        spec(), decision.status, T0 + MINUTE, Observed(verdict=verdict(), mesh_in_sync=False)
    )
    assert again.effects == []
    assert again.status == decision.status


def test_rollback_notification_carries_the_failing_metric() -> None:
    """The rolled-back message names the metric, its value and threshold."""
    decision = decide(spec(), running(2), T0 + MINUTE, Observed(verdict=verdict("fail")))
    note = next(e for e in decision.effects if e.kind == "notify")
    assert note.event == "rolled-back"
    assert "error-rate 0.05 > 0.01" in note.message
    assert note.verdict is not None
    assert note.outlier_detection == spec().on_regression.outlier_detection.wire()
    assert decision.status.last_verdict == note.verdict
    assert decision.status.rollback_reason == "regression"
    assert decision.status.outlier_tightened


def test_invalid_input_fails_without_touching_the_mesh() -> None:
    """A mesh problem: Failed, one Warning Event, no mesh action; said once per message."""
    first = decide(spec(), running(1), T0, Observed(problem="DestinationRule.spec.subsets: no v2"))
    assert first.status.phase == "Failed"
    assert first.mesh == []
    assert [e.reason for e in first.effects if e.kind == "event"] == ["InvalidInput"]
    assert first.status.condition("Valid") is not None
    again = decide(
        spec(), first.status, T0 + MINUTE, Observed(problem="DestinationRule.spec.subsets: no v2")
    )
    assert again.effects == []
    assert again.mesh == []


def test_invalid_spec_before_start_records_why() -> None:
    """An unparseable spec (no RolloutSpec at all) still gets a Failed status and an Event."""
    decision = invalid(
        RolloutStatus(), "spec.strategy.steps[1]: must be 100", T0, reason="InvalidSpec"
    )
    assert decision.status.phase == "Failed"
    assert decision.status.message == "spec.strategy.steps[1]: must be 100"
    assert [e.reason for e in decision.effects if e.kind == "event"] == ["InvalidSpec"]


def test_finished_rollout_ignores_later_mesh_problems() -> None:
    """Once done, an edit that breaks the documents does not turn Succeeded into Failed."""
    done = running(3, phase="Succeeded")
    decision = decide(spec(), done, T0, Observed(problem="VirtualService.spec.http: found none"))
    assert decision.status == done
    assert decision.actions == ()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(RolloutStatus(), [], id="never-started"),
        pytest.param(RolloutStatus(phase="Pending"), [], id="pending"),
        pytest.param(running(1, phase="Failed"), [], id="failed"),
        pytest.param(
            running(2),
            [SetWeights(50), SetHeaderRoute(), SetOutlierDetection(False)],
            id="progressing",
        ),
        pytest.param(
            running(1, phase="Paused", outlier_tightened=True),
            [SetWeights(25), SetHeaderRoute(), SetOutlierDetection(True, TIGHT)],
            id="paused-after-regression",
        ),
        pytest.param(
            running(2, phase="RolledBack", canary_weight=0, outlier_tightened=True),
            [
                SetHeaderRoute(),
                SetWeights(0, drop_unused=True),
                SetOutlierDetection(True, TIGHT),
            ],
            id="rolled-back",
        ),
        pytest.param(
            running(3, phase="Succeeded"),
            [SetHeaderRoute(), SetWeights(100, drop_unused=True), SetOutlierDetection(False)],
            id="succeeded",
        ),
    ],
)
def test_desired_mesh(status: RolloutStatus, expected: list[Any]) -> None:
    """The mesh state is a function of the status alone: nothing until a run starts."""
    assert desired_mesh(spec(), status) == expected


def test_header_route_stays_until_the_end() -> None:
    """Testers keep reaching the canary through the weighted steps; it goes at the end."""
    with_header = spec(strategy={"headerRoute": {"header": "x-qa", "value": "1"}})
    status = running(2, the_spec=with_header)
    assert SetHeaderRoute("x-qa", "1") in desired_mesh(with_header, status)
    done = running(4, phase="Succeeded", the_spec=with_header)
    assert SetHeaderRoute() in desired_mesh(with_header, done)


def test_header_stage_uses_its_own_minimum_requests() -> None:
    """The header stage passes on the testers' few requests (minRequests of headerRoute)."""
    with_header = spec(strategy={"headerRoute": {"minRequests": 3}})
    status = running(0, the_spec=with_header)
    decision = decide(with_header, status, T0 + MINUTE, Observed(verdict=verdict(requests=3)))
    assert (decision.status.step_index, decision.status.canary_weight) == (1, 5)


def test_spec_edits_do_not_change_a_running_plan() -> None:
    """The plan is frozen at start: editing steps mid-rollout never moves the weight."""
    edited = spec(strategy={"steps": [10, 100]})
    decision = decide(edited, running(1), T0 + MINUTE, Observed(verdict=verdict()))
    assert (decision.status.step_index, decision.status.canary_weight) == (2, 50)


def test_history_is_bounded() -> None:
    """History keeps the last 50 decisions, however long a rollout runs."""
    status = running(1)
    now = T0
    for i in range(60):
        paused = i % 2 == 0
        status = decide(spec(paused=paused), status, now).status
        now += MINUTE
    assert len(status.history) == 50
    assert status.decisions == 62


def test_drift_is_reverted_and_reported_by_default() -> None:
    """Weights edited by hand: the desired weights stay, and a Warning Event says so."""
    decision = decide(spec(), running(2), T0, Observed(drift=True))
    assert decision.status.phase == "Progressing"
    assert SetWeights(50) in decision.mesh
    assert [e.reason for e in decision.effects if e.kind == "event"] == ["DriftReverted"]


def test_drift_can_pause_and_keep_hands_off() -> None:
    """onDrift: pause leaves the hand-set weights alone until a resume command."""
    paused = decide(spec(onDrift="pause"), running(2), T0, Observed(drift=True))
    assert (paused.status.phase, paused.status.pause_reason) == ("Paused", "drift")
    assert paused.mesh == []
    again = decide(spec(onDrift="pause"), paused.status, T0, Observed(drift=True))
    assert again.effects == []
    resumed = decide(
        spec(onDrift="pause", command={"name": "resume", "id": "r1"}), paused.status, T0
    )
    assert resumed.status.phase == "Progressing"
    assert SetWeights(50) in resumed.mesh


def test_drift_on_record_from_a_previous_run_is_ignored_at_start() -> None:
    """A new run starts from the weights the last run left: that is not a hand edit."""
    done = running(1, phase="RolledBack", canary_weight=0, handled_command_id="old")
    again = decide(spec(command={"name": "restart", "id": "new"}), done, T0, Observed(drift=True))
    reasons = [e.reason for e in again.effects if e.kind == "event"]
    assert reasons == ["Started"]


# -- time at a step is time at its weight ------------------------------------------------


def test_a_promotion_leaves_the_step_clock_for_the_mesh_to_start() -> None:
    """The promoting decision does not start the next step's clock: the mesh has not moved."""
    decision = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict()))
    assert (decision.status.step_index, decision.status.step_started_at) == (2, None)


@pytest.mark.parametrize(
    ("in_sync", "started"),
    [(True, T0 + 2 * MINUTE), (False, None)],
)
def test_the_step_clock_starts_when_the_mesh_carries_the_step(
    in_sync: bool, started: datetime | None
) -> None:
    """The first call that finds the mesh as the status asks stamps stepStartedAt; not before."""
    promoted = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict())).status
    later = decide(spec(), promoted, T0 + 2 * MINUTE, Observed(mesh_in_sync=in_sync)).status
    assert later.step_started_at == started


def test_no_promotion_on_a_pass_before_the_step_clock_starts() -> None:
    """A pass long after the promotion, with the mesh never in sync, promotes nothing."""
    promoted = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict())).status
    hour = T0 + 60 * MINUTE
    held = decide(
        spec(), promoted, hour, Observed(verdict=verdict(at=hour), mesh_in_sync=False)
    ).status
    assert (held.step_index, held.phase, held.step_started_at) == (2, "Progressing", None)


def test_a_failure_rolls_back_even_before_the_step_clock_starts() -> None:
    """A regression does not wait for the mesh: the canary goes back to 0% at once."""
    promoted = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict())).status
    at = T0 + 2 * MINUTE
    failed = decide(
        spec(), promoted, at, Observed(verdict=verdict("fail", at=at), mesh_in_sync=False)
    ).status
    assert (failed.phase, failed.canary_weight) == ("RolledBack", 0)


def test_the_step_lasts_its_duration_from_the_mesh_not_from_the_decision() -> None:
    """With the mesh late by 10 minutes, a 1-minute step still needs 1 minute at its weight."""
    promoted = decide(spec(), running(1), T0 + MINUTE, Observed(verdict=verdict())).status
    synced_at = T0 + 11 * MINUTE
    clocked = decide(spec(), promoted, synced_at, Observed(mesh_in_sync=True)).status
    early = synced_at + MINUTE - timedelta(seconds=1)
    assert (
        decide(spec(), clocked, early, Observed(verdict=verdict(at=early))).status.step_index == 2
    )
    due = synced_at + MINUTE
    assert decide(spec(), clocked, due, Observed(verdict=verdict(at=due))).status.step_index == 3


# -- the spec in force while the canary carries traffic ---------------------------------


@pytest.mark.parametrize(
    ("phase", "given", "refused"),
    [
        ("Progressing", None, "the spec is invalid"),
        ("Paused", None, "the spec is invalid"),
        ("Progressing", {"canarySubset": "v3"}, "changed from v1/v2 to v1/v3"),
        ("Progressing", {"stableSubset": "v0"}, "changed from v1/v2 to v0/v2"),
        ("Progressing", {"analysis": {"minRequests": 7}}, None),
        ("Succeeded", {"canarySubset": "v3"}, None),
        ("RolledBack", None, None),
    ],
)
def test_which_spec_a_run_follows(
    phase: str, given: dict[str, Any] | None, refused: str | None
) -> None:
    """Mid-run, an invalid spec or another pair of subsets is refused and the run's own spec
    is followed; a valid edit is taken; a finished run takes whatever the resource says."""
    applied = spec()
    status = running(1, phase=phase, applied_spec=applied.wire())
    resource = spec(**given) if given is not None else None
    followed, why = spec_in_force(resource, "spec.x: bad" if given is None else None, status)
    if refused is None:
        assert followed == resource
        assert why == (None if given is not None else "spec.x: bad")
    else:
        assert followed is not None
        assert (followed.stable_subset, followed.canary_subset) == ("v1", "v2")
        assert why is not None
        assert refused in why
