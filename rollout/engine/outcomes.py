"""What a verdict, or a person's promote and abort, does to a run. Pure.

Called by the rules (``rules.decide``) once per call: :func:`act_on` takes a fresh
verdict and rolls back at once on a failure (mid-step, even while paused), holds on
an inconclusive one (giving up after ``analysis.maxInconclusive`` of them once the
step has had its time), and advances on a pass once the step's time and minimum
requests are met; :func:`advance`, :func:`succeed` and :func:`roll_back` are also
what the CLI's commands do.
"""

from __future__ import annotations

from rollout.actions import record_event
from rollout.engine import after
from rollout.engine.turn import Turn
from rollout.model import MetricVerdict, RolloutStatus, Verdict, parse_duration
from rollout.model.status import PauseReason, RollbackReason


def act_on(turn: Turn, verdict: Verdict | None) -> None:
    """Act on a fresh verdict: roll back, hold, give up on missing data, or promote."""
    s = turn.status
    if verdict is None or not _fresh(verdict, s):
        return
    evidence = verdict.evidence if verdict.evidence is not None else s.evidence
    turn.update(last_verdict=verdict.model_copy(update={"evidence": None}), evidence=evidence)
    if verdict.outcome == "fail":
        if s.pause_reason != "regression":
            _regression(turn, verdict)
        return
    if s.phase != "Progressing" or s.step_started_at is None:
        return  # a pass or a silence says nothing of a step whose weight is not set yet
    if verdict.outcome == "inconclusive":
        # Too few requests is expected early in a step; only silence, or a step that
        # has had its time and still proves nothing, counts against the limit.
        stage, started = s.stage, s.step_started_at
        assert stage is not None
        assert started is not None
        overdue = turn.now - started >= parse_duration(stage.duration)
        if verdict.no_data or overdue:
            count = s.inconclusive_count + 1
            turn.update(inconclusive_count=count)
            if count > turn.spec.analysis.inconclusive_limit:
                _give_up(turn, verdict, count)
        return
    turn.update(inconclusive_count=0)
    advance(turn, verdict, by_user=False)


def _fresh(verdict: Verdict, s: RolloutStatus) -> bool:
    """A verdict counts once, and only if it was made during the current step."""
    if s.step_started_at is not None and verdict.at < s.step_started_at:
        return False
    return s.last_verdict is None or verdict.at > s.last_verdict.at


def advance(turn: Turn, verdict: Verdict | None, by_user: bool) -> None:
    s, stage = turn.status, turn.status.stage
    assert stage is not None
    assert s.step_index is not None
    assert s.step_started_at is not None
    if not by_user:
        assert verdict is not None
        if turn.now - s.step_started_at < parse_duration(stage.duration):
            return
        if verdict.canary_requests < stage.min_requests:
            return
    if s.step_index + 1 == len(s.plan):
        succeed(turn, "promoted by a user" if by_user else "the last step passed")
        return
    nxt = s.plan[s.step_index + 1]
    paused = turn.spec.paused and by_user
    turn.update(
        step_index=s.step_index + 1,
        canary_weight=nxt.weight,
        step_started_at=None,
        inconclusive_count=0,
        phase="Paused" if paused else "Progressing",
        pause_reason="user" if paused else None,
    )
    why = "promoted by a user" if by_user else "the step passed its analysis"
    message = f"step {s.step_index + 1}/{len(s.plan) - 1}: canary at {nxt.weight}% ({why})"
    turn.transition("promoted", message, "StepPromoted", "step-promoted", verdict=verdict)


def succeed(turn: Turn, why: str) -> None:
    turn.update(
        phase="Succeeded",
        canary_weight=100,
        step_index=len(turn.status.plan) - 1,
        finished_at=turn.now,
        pause_reason=None,
        previous=after.retire(turn.spec, turn.status, turn.now),
    )
    message = f"{turn.spec.canary_subset} serves 100% and is the new stable ({why})"
    turn.transition("succeeded", message, "Succeeded", "succeeded")


def _regression(turn: Turn, verdict: Verdict) -> None:
    failing = ", ".join(_describe(m) for m in verdict.failing()) or verdict.reason or "failed"
    turn.update(outlier_tightened=True)
    if turn.spec.on_regression.rollback:
        roll_back(turn, "regression", f"regression: {failing}", verdict)
    else:
        _pause(turn, "regression", f"regression: {failing}; paused for a person", verdict)
    turn.effects.append(
        record_event(
            turn.status.run,
            turn.status.decisions,
            "OutlierDetectionTightened",
            f"outlier detection of subset {turn.spec.canary_subset} tightened",
            "Warning",
        )
    )


def _describe(metric: MetricVerdict) -> str:
    return metric.describe()


def _give_up(turn: Turn, verdict: Verdict, count: int) -> None:
    message = f"{count} evaluations in a row without a verdict ({verdict.reason or 'no data'})"
    if turn.spec.analysis.on_inconclusive == "rollback":
        roll_back(turn, "inconclusive", message, verdict)
    else:
        _pause(turn, "inconclusive", message, verdict)


def _pause(turn: Turn, reason: PauseReason, message: str, verdict: Verdict) -> None:
    turn.update(phase="Paused", pause_reason=reason)
    turn.transition("paused", message, "Paused", "paused", "Warning", verdict)


def roll_back(turn: Turn, reason: RollbackReason, message: str, verdict: Verdict | None) -> None:
    turn.update(
        phase="RolledBack",
        rollback_reason=reason,
        canary_weight=0,
        finished_at=turn.now,
        pause_reason=None,
    )
    turn.transition("rolled back", message, "RolledBack", "rolled-back", "Warning", verdict)


__all__ = ["act_on", "advance", "roll_back", "succeed"]
