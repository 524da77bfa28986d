"""The pure state machine of a rollout: what happens at a step.

``decide(spec, status, now, observed)`` returns the next status and the actions
that make the world match it. It reads no clock, does no I/O and logs nothing;
the controller calls it at every evaluation and on every watch event, writes
the status, applies the actions and sends the effects.

Two kinds of actions come out (``rollout.actions``):

* mesh actions: the *desired* VirtualService/DestinationRule state for the new
  status (:func:`desired_mesh`), emitted on every call. They are idempotent, so
  a controller that crashed half-way converges by calling ``decide`` again;
* effects (notifications, Events): emitted once, by the call that makes the
  transition, with an id made of the run and the decision's number in it.

The rules it holds (ARCHITECTURE.md, "The rules a rollout follows"): a step
advances only on a fresh passing verdict with enough requests after the step's
minimum time; a failing verdict
rolls back at once, mid-step, even while paused; an inconclusive verdict holds,
and after ``analysis.maxInconclusive`` of them in a row (counting those without
any data, and any once the step has had its time) pauses or rolls back;
paused rollouts change no weights; Succeeded and RolledBack are absorbing until
a new start (another pair of subsets, or a ``restart`` command).
"""

from __future__ import annotations

from datetime import datetime

import strategies
from rollout.actions import (
    record_event,
)
from rollout.engine import after
from rollout.engine.mesh_state import desired_mesh
from rollout.engine.outcomes import act_on, advance, roll_back, succeed
from rollout.engine.run_spec import as_applied
from rollout.engine.status import conditions
from rollout.engine.turn import Turn
from rollout.engine.types import Decision, Observed
from rollout.model import (
    AFTER_SUCCESS_PHASES,
    RolloutSpec,
    RolloutStatus,
    Verdict,
)

NOTHING_NEW = Observed()


def decide(
    spec: RolloutSpec | None,
    status: RolloutStatus,
    now: datetime,
    observed: Observed = NOTHING_NEW,
) -> Decision:
    """Decide the next status of a rollout and the actions that realise it.

    ``spec`` is the spec in force (:func:`spec_in_force`), None when it does not
    validate; ``observed`` is what the reconcile saw (:class:`Observed`).
    """
    verdict, canary_ready, generation = observed.verdict, observed.canary_ready, observed.generation
    problem, drift, mesh_in_sync = observed.problem, observed.drift, observed.mesh_in_sync
    refused, warning = observed.refused, observed.warning
    if spec is None:
        return invalid(status, observed.spec_problem or "invalid spec", now, reason="InvalidSpec")
    if generation is not None:
        status = status.model_copy(update={"observed_generation": generation})
    if problem is not None:
        return invalid(status, problem, now, spec=spec)
    turn = Turn(spec, status, now)
    if refused is not None:
        _hold_refused(turn, verdict, refused, mesh_in_sync)
        turn.update(conditions=conditions(turn.status, now))
        scale = after.desired_scale(turn.status)
        return Decision(turn.status, (*desired_mesh(spec, turn.status), *scale, *turn.effects))
    started = _is_new_start(spec, status) or status.phase == "Pending"
    if started:
        _start(turn, canary_ready, warning)
    elif status.phase == "Failed":
        _recover(turn, canary_ready)
    elif status.phase == "Paused" and status.pause_reason == "spec":
        _resume(turn, "the spec is accepted again; continuing")
    _clock_step(turn, status, mesh_in_sync)
    active = turn.status.phase in ("Progressing", "Paused")
    if (active or turn.status.phase == "Pending") and not _command(turn) and active:
        _pause_level(turn)
        if drift and not started:  # the weights on record belong to the previous run
            _drift(turn)
        act_on(turn, verdict)
    elif not started and turn.status.phase not in ("Progressing", "Paused", "Pending"):
        after.follow(turn, observed.versions, mesh_in_sync)
    after.scale_down_carried(turn, observed.versions, mesh_in_sync)
    _clock_step(turn, status, mesh_in_sync)
    if turn.status.phase in ("Progressing", "Paused"):
        turn.update(applied_spec=as_applied(spec))
    turn.update(conditions=conditions(turn.status, now))
    scale = after.desired_scale(turn.status)
    return Decision(turn.status, (*desired_mesh(spec, turn.status), *scale, *turn.effects))


def _hold_refused(turn: Turn, verdict: Verdict | None, why: str, mesh_in_sync: bool) -> None:
    """The resource's spec is refused mid-run: hold the canary, keep judging it, obey abort."""
    read = turn.status
    cmd = turn.spec.command
    if cmd is not None and cmd.name == "abort" and cmd.id != read.handled_command_id:
        _command(turn)
        return
    s = turn.status
    message = f"{why}; the canary stays at {s.canary_weight}% and is still judged"
    if s.message != message:
        if s.pause_reason not in ("regression", "drift", "inconclusive"):
            turn.update(phase="Paused", pause_reason="spec")  # a pause for a person stays
        turn.transition("paused", message, "SpecRefused", "paused", "Warning")
    _clock_step(turn, read, mesh_in_sync)
    act_on(turn, verdict)


def _clock_step(turn: Turn, read: RolloutStatus, mesh_in_sync: bool) -> None:
    """Start the step's clock once the mesh carries the step (time at a step is time at
    its weight).

    Every transition that changes the weights leaves ``stepStartedAt`` empty; the
    first call that finds the mesh as the status asks stamps it. A crash, or
    VirtualService writes failing for a while, can delay a step, never shorten it.
    ``mesh_in_sync`` was measured against the status as read (``read``), so it
    only counts while this call has not changed what the mesh should be.
    """
    s = turn.status
    if s.step_started_at is not None or s.phase not in ("Progressing", "Paused"):
        return
    if mesh_in_sync and desired_mesh(turn.spec, s) == desired_mesh(turn.spec, read):
        turn.update(step_started_at=turn.now)


def invalid(
    status: RolloutStatus,
    message: str,
    now: datetime,
    *,
    spec: RolloutSpec | None = None,
    reason: str = "InvalidInput",
) -> Decision:
    """Stop on invalid input (a spec or a mesh problem): say why, change nothing in the mesh.

    A finished rollout is left alone. Otherwise the phase becomes Failed, with one
    Event and one notification per distinct message; once the input is fixed,
    :func:`decide` carries on where the rollout was.
    """
    finished = status.terminal or status.phase in AFTER_SUCCESS_PHASES
    if finished and (spec is None or not _is_new_start(spec, status)):
        return Decision(status, tuple(after.desired_scale(status)))
    placeholder = RolloutSpec(
        service="unknown",
        stable_subset=status.stable_subset or "stable",
        canary_subset=status.canary_subset or "canary",
    )
    turn = Turn(spec or placeholder, status, now)
    if status.phase != "Failed" or status.message != message:
        turn.update(phase="Failed")
        turn.transition("invalid", message, reason, "failed", "Warning")
    turn.update(conditions=conditions(turn.status, now))
    return Decision(turn.status, tuple(turn.effects))


def starting(spec: RolloutSpec, status: RolloutStatus) -> bool:
    """True while no weight has moved yet in the run the spec asks for (preflight time)."""
    if _is_new_start(spec, status) or status.phase == "Pending":
        return True
    return status.phase == "Failed" and status.step_index is None


def _is_new_start(spec: RolloutSpec, status: RolloutStatus) -> bool:
    if status.phase is None:
        return True
    if (status.stable_subset, status.canary_subset) != (spec.stable_subset, spec.canary_subset):
        return True
    cmd = spec.command
    restart = cmd is not None and cmd.name == "restart" and cmd.id != status.handled_command_id
    return status.terminal and restart


def _start(turn: Turn, canary_ready: bool, warning: str | None = None) -> None:
    """Begin a run at stage 0, or wait (Pending) until the canary workload is ready."""
    spec, previous = turn.spec, turn.status
    if _is_new_start(spec, previous):
        # A command already in the spec was meant for an earlier run (or is the
        # restart that caused this one): it is consumed, never replayed on step 0.
        handled = spec.command.id if spec.command else previous.handled_command_id
        turn.status = RolloutStatus(
            phase="Pending",
            run=previous.run,
            decisions=previous.decisions,
            stable_subset=spec.stable_subset,
            canary_subset=spec.canary_subset,
            handled_command_id=handled,
            conditions=previous.conditions,
            observed_generation=previous.observed_generation,
            history=previous.history,
            previous=after.carry(previous.previous, spec, turn.now),
        )
    if not canary_ready:
        waiting = f"waiting for the {spec.canary_subset} workload to be ready"
        if previous.phase != "Pending" or previous.message != waiting:
            turn.transition("waiting", waiting, "WaitingForCanary")
        return
    plan = strategies.plan(spec)
    turn.update(
        phase="Paused" if spec.paused else "Progressing",
        pause_reason="user" if spec.paused else None,
        run=turn.status.run + 1,
        decisions=0,
        plan=plan,
        step_index=0,
        canary_weight=0 if spec.paused else plan[0].weight,
        started_at=turn.now,
        step_started_at=None,
    )
    steps = " → ".join(str(s.weight) if s.kind == "weight" else "header" for s in plan)
    message = f"rolling out {spec.canary_subset} beside {spec.stable_subset}: {steps}"
    if warning is not None:
        turn.update(preflight_warning=warning)
        message += f" (warning: {warning})"
    turn.transition("started", message, "Started", "started")
    if warning is not None:
        s = turn.status
        turn.effects.append(
            record_event(s.run, s.decisions, "PreflightWarning", warning, "Warning")
        )


def _recover(turn: Turn, canary_ready: bool) -> None:
    """The input is valid again: carry on where the rollout was, with the step clock reset."""
    if turn.status.step_index is None:
        _start(turn, canary_ready)
        return
    paused = turn.status.pause_reason is not None
    turn.update(
        phase="Paused" if paused else "Progressing", step_started_at=None, inconclusive_count=0
    )
    turn.transition("recovered", "the input is valid again; continuing", "InputValid", "resumed")


def _command(turn: Turn) -> bool:
    """Carry out a new CLI command, once per id. True when it changed the rollout."""
    cmd, s = turn.spec.command, turn.status
    if cmd is None or cmd.id == s.handled_command_id:
        return False
    turn.update(handled_command_id=cmd.id)
    if cmd.name == "undo":
        after.refuse(turn, f"a rollout is {s.phase}; undo goes back from a succeeded release")
        return False
    if s.phase == "Pending" and cmd.name != "abort":
        return False  # nothing to promote or resume before the first step
    if cmd.name == "abort":
        roll_back(turn, "aborted", "aborted by a user", None)
    elif cmd.name == "promoteFull":
        succeed(turn, "promoted to 100% by a user")
    elif cmd.name == "promote":
        advance(turn, None, by_user=True)
    elif cmd.name == "resume" and s.phase == "Paused":
        _resume(turn, "resumed by a user")
    else:
        return False
    return True


def _pause_level(turn: Turn) -> None:
    """Follow ``spec.paused``: pause now, or leave a pause the user asked for."""
    s = turn.status
    if turn.spec.paused and s.phase == "Progressing":
        turn.update(phase="Paused", pause_reason="user")
        turn.transition("paused", "paused by a user", "Paused", "paused")
    elif not turn.spec.paused and s.phase == "Paused" and s.pause_reason == "user":
        _resume(turn, "resumed by a user")


def _drift(turn: Turn) -> None:
    """Weights edited by hand: put ours back (and say so), or pause and keep hands off."""
    s = turn.status
    if s.pause_reason == "drift":
        return
    if turn.spec.on_drift == "pause":
        turn.update(phase="Paused", pause_reason="drift")
        message = "weights were edited by hand: paused, hands off until resumed"
        turn.transition("paused", message, "DriftPaused", "paused", "Warning")
    else:
        message = f"weights were edited by hand: set back to {s.canary_weight}%"
        turn.transition("drift reverted", message, "DriftReverted", None, "Warning")


def _resume(turn: Turn, message: str) -> None:
    stage = turn.status.stage
    assert stage is not None  # only started rollouts are paused
    turn.update(
        phase="Paused" if turn.spec.paused else "Progressing",
        pause_reason="user" if turn.spec.paused else None,
        canary_weight=stage.weight if not turn.spec.paused else turn.status.canary_weight,
        step_started_at=None,
        inconclusive_count=0,
    )
    if turn.status.phase == "Progressing":
        turn.transition("resumed", message, "Resumed", "resumed")
