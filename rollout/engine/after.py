"""After a release succeeds: the previous version's scale-down, and ``rollout undo``.

Pure rules, called by ``rules.decide`` on a rollout whose last run succeeded (and
on an ``undo`` asked at any other time, which is refused with a message):

* at success the version replaced is remembered (``status.previous``) with the
  time its Deployments go to zero (``spec.afterSuccess.scaleDown.after``, or never);
  a new run started before that time carries it and scales it down at once
  (its window is over: an undo goes back to the new run's stable);
* when that time comes, and the mesh no longer routes to it, its Deployments'
  sizes (and their autoscalers' bounds) are recorded in the status and then set to
  zero, unless one of them also backs another subset or service: then nothing is
  scaled and a Warning says why;
* ``undo`` sends 100% back to the previous version (or ``command.to``) at once when
  its Deployments are ready at their recorded size; otherwise it first brings them
  back (phase ``Undoing``) and switches only once they are ready (``Undone``).

Like the mesh, the Deployments' sizes are a function of the status
(:func:`desired_scale`), re-applied on every reconcile, so a crash between the
status write and the scale converges. A Deployment is never at zero while it can
get traffic: scale-down waits for the mesh to be in sync, and an undo moves
traffic only after the scale-up is ready.

Two pure helpers serve the views: :func:`undo_refusal` (when the dashboard offers Undo)
and :func:`after_lines` (what ``rollout status`` and the dashboard say undo would do).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rollout.actions import ScaleDeployment
from rollout.engine.turn import Turn
from rollout.mesh import Target
from rollout.model import (
    Command,
    Previous,
    RecordedDeployment,
    RolloutSpec,
    RolloutStatus,
    Undo,
    parse_duration,
)
from rollout.model.base import NEVER
from rollout.model.workloads import DeploymentView, Versions

UNDOING_LOOK_S = 2.0
"""How often an undo waiting for its Deployments looks again (they are not watched)."""


def retire(spec: RolloutSpec, status: RolloutStatus, now: datetime) -> Previous:
    """At success: the version the canary replaced, and when it is to be scaled down."""
    after = spec.after_success.scale_down.after
    at = None if after == NEVER else now + parse_duration(after)
    return Previous(subset=status.stable_subset or spec.stable_subset, scale_down_at=at)


def _ours_to_size(status: RolloutStatus) -> bool:
    """The previous version is this status's to scale: after its own release succeeded, or
    carried into a later run that routes neither to it (not undoing, not undone)."""
    p = status.previous
    if p is None or status.phase in ("Undoing", "Undone"):
        return False
    return status.phase == "Succeeded" or p.subset not in (
        status.stable_subset,
        status.canary_subset,
    )


def carry(previous: Previous | None, spec: RolloutSpec, now: datetime) -> Previous | None:
    """A new run starts before the previous version was scaled down: its window is over
    (an undo goes back to the new run's stable), so it is scaled down now; unless the new
    run routes to it, it was kept on purpose (never), refused, or is already at zero."""
    if previous is None or previous.subset in (spec.stable_subset, spec.canary_subset):
        return None
    if previous.scaled_down or previous.refused is not None or previous.scale_down_at is None:
        return None
    return previous.model_copy(update={"scale_down_at": min(previous.scale_down_at, now)})


def scale_down_carried(turn: Turn, versions: Versions, mesh_in_sync: bool) -> None:
    """During a later run: scale down the version carried from the last release, when due."""
    if turn.status.phase != "Succeeded" and _ours_to_size(turn.status):
        _scale_down(turn, versions, mesh_in_sync)


def follow(turn: Turn, versions: Versions, mesh_in_sync: bool) -> None:
    """A finished rollout: carry out a new ``undo``, finish one under way, or scale the
    previous version down when its time has come."""
    cmd = turn.spec.command
    if cmd is not None and cmd.name == "undo" and cmd.id != turn.status.handled_command_id:
        turn.update(handled_command_id=cmd.id)
        _undo(turn, cmd, versions)
    phase = turn.status.phase
    if phase == "Undoing":
        _finish_undo(turn, versions)
    elif phase == "Succeeded":
        _scale_down(turn, versions, mesh_in_sync)


def refuse(turn: Turn, why: str) -> None:
    """An undo that cannot be carried out: say why (status message, Event), change nothing."""
    turn.transition("undo refused", f"undo refused: {why}", "UndoRefused", None, "Warning")


def undo_refusal(status: RolloutStatus, to: str | None = None) -> str | None:
    """Why an undo (to ``to``, default the previous version) would be refused, as far as
    the status tells (None: it goes on, unless no Deployment runs that version). The
    engine's own rule, which the dashboard also asks before it offers its Undo button."""
    s = status
    if s.phase == "Undoing" and s.undo is not None:
        return f"an undo to {s.undo.to} is already under way"
    if s.phase == "Undone" and s.undo is not None:
        return f"already undone: {s.undo.to} serves; start a new rollout to move on"
    if s.phase != "Succeeded":
        return f"the rollout is {s.phase}; undo goes back from a succeeded release"
    to = to or s.stable_subset or ""
    if not to:
        return "the version it replaced is not known"
    if to == s.canary_subset:
        return f"{to} already serves 100%"
    return None


def _undo(turn: Turn, cmd: Command, versions: Versions) -> None:
    s = turn.status
    why = undo_refusal(s, cmd.to)
    if why is not None:
        refuse(turn, why)
        return
    to = cmd.to or s.stable_subset or ""
    found = versions.get(to, ())
    if not found:
        refuse(turn, f"no Deployment runs {to} (none has the pod labels of subset {to})")
        return
    previous = s.previous
    recorded = {}
    if previous is not None and previous.subset == to and previous.scaled_down:
        recorded = {d.name: d for d in previous.deployments}
    restore = [_size_to_restore(d, recorded.get(d.name)) for d in found]
    by = cmd.by or "a user (spec.command)"
    undo = Undo(to=to, undone=s.canary_subset or "", by=by, restore=restore, requested_at=turn.now)
    turn.update(undo=undo)
    if _waiting(undo, versions):
        turn.update(phase="Undoing")
        sizes = ", ".join(f"{r.name} to {r.replicas}" for r in restore)
        message = f"undo by {by}: scaling {sizes} before traffic moves back to {to}"
        turn.transition("undoing", message, "Undoing", "undoing")
    else:
        _switch(turn, undo)


def _size_to_restore(
    seen: DeploymentView, recorded: RecordedDeployment | None
) -> RecordedDeployment:
    """The size a Deployment comes back to: as recorded at scale-down, else as it is now;
    never zero (an autoscaler's floor, or one pod)."""
    scaler = seen.autoscaler
    floor = max(1, scaler.min_replicas if scaler is not None else 1)
    if recorded is not None:
        return recorded.model_copy(update={"replicas": max(recorded.replicas, floor)})
    return RecordedDeployment(
        name=seen.name,
        replicas=max(seen.replicas, floor),
        autoscaler=scaler.name if scaler is not None else None,
        min_replicas=scaler.min_replicas if scaler is not None else None,
        max_replicas=scaler.max_replicas if scaler is not None else None,
    )


def _waiting(undo: Undo, versions: Versions) -> list[str]:
    """The Deployments of ``undo.to`` not yet ready at the size they come back to."""
    seen = {d.name: d for d in versions.get(undo.to, ())}
    waiting = []
    for r in undo.restore:
        d = seen.get(r.name)
        if d is None or not d.ready or d.replicas < r.replicas or d.ready_replicas < r.replicas:
            waiting.append(r.name)
    return waiting


def _finish_undo(turn: Turn, versions: Versions) -> None:
    undo = turn.status.undo
    if undo is not None and not _waiting(undo, versions):
        _switch(turn, undo)


def _switch(turn: Turn, undo: Undo) -> None:
    """Traffic back to ``undo.to`` at once, without analysis; the previous version stays."""
    turn.update(
        phase="Undone", canary_weight=0, finished_at=turn.now, previous=None, pause_reason=None
    )
    message = f"undone by {undo.by}: {undo.to} serves 100% again, {undo.undone} 0%"
    turn.transition("undone", message, "Undone", "undone", "Warning")


def _scale_down(turn: Turn, versions: Versions, mesh_in_sync: bool) -> None:
    s, now = turn.status, turn.now
    p = s.previous
    if p is None or p.scaled_down or p.refused is not None or p.scale_down_at is None:
        return
    if now < p.scale_down_at or not mesh_in_sync or p.subset not in versions:
        return  # not yet; or the old version may still get traffic; or not seen this time
    found = versions[p.subset]
    shared = [f"{d.name} (also {', '.join(d.shared_with)})" for d in found if d.shared_with]
    if shared:
        why = (
            f"{p.subset} is not scaled down: Deployment {'; '.join(shared)} serves more "
            "than this release"
        )
        turn.update(previous=p.model_copy(update={"refused": why}))
        turn.transition("scale-down refused", why, "ScaleDownRefused", None, "Warning")
        return
    records = [
        RecordedDeployment(
            name=d.name,
            replicas=d.replicas,
            autoscaler=d.autoscaler.name if d.autoscaler else None,
            min_replicas=d.autoscaler.min_replicas if d.autoscaler else None,
            max_replicas=d.autoscaler.max_replicas if d.autoscaler else None,
        )
        for d in found
    ]
    turn.update(previous=p.model_copy(update={"scaled_down": True, "deployments": records}))
    sizes = ", ".join(f"{d.name} {d.replicas} → 0" for d in found) or "no Deployment found"
    message = f"{p.subset} scaled down ({sizes}); rollout undo brings it back"
    turn.transition("scaled down", message, "ScaledDown")


def desired_scale(status: RolloutStatus) -> list[ScaleDeployment]:
    """The Deployment sizes a status asks for: the previous version at zero once scaled
    down; the undo's target at its recorded sizes while an undo waits for it."""
    p, undo = status.previous, status.undo
    if _ours_to_size(status) and p is not None and p.scaled_down:
        return [ScaleDeployment(d.name, 0) for d in p.deployments]
    if status.phase == "Undoing" and undo is not None:
        return [ScaleDeployment(r.name, r.replicas) for r in undo.restore]
    return []


def subsets_to_see(spec: RolloutSpec, status: RolloutStatus, now: datetime) -> list[str]:
    """The subsets whose Deployments a reconcile must read for these rules: an undo's
    target, and the previous version once its scale-down is due (none otherwise)."""
    wanted: list[str] = []
    cmd = spec.command
    if cmd is not None and cmd.name == "undo" and cmd.id != status.handled_command_id:
        wanted.append(cmd.to or status.stable_subset or "")
    if status.phase == "Undoing" and status.undo is not None:
        wanted.append(status.undo.to)
    p = status.previous
    if _ours_to_size(status) and p is not None and p.scaled_down:
        wanted.append(p.subset)  # kept at zero: read, so that only a change is written
    if (
        _ours_to_size(status)
        and p is not None
        and not p.scaled_down
        and p.refused is None
        and p.scale_down_at is not None
        and now >= p.scale_down_at
    ):
        wanted.append(p.subset)
    return sorted({w for w in wanted if w})


def pair_in_force(status: RolloutStatus) -> tuple[str, str] | None:
    """The (stable, canary) pair the mesh is managed with once an undo is asked: the
    version gone back to and the one undone (None: the spec's pair)."""
    if status.phase in ("Undoing", "Undone") and status.undo is not None:
        return status.undo.to, status.undo.undone
    return None


def target_in_force(spec: RolloutSpec, status: RolloutStatus, namespace: str) -> Target:
    """What the mesh transforms manage: the spec's pair, or an undo's own (the version gone
    back to and the one undone, which may be neither of the spec's subsets)."""
    target = Target.of(spec, namespace)
    pair = pair_in_force(status)
    if pair is not None:
        target = replace(target, stable=pair[0], canary=pair[1])
    return target


def next_look(status: RolloutStatus, now: datetime) -> float | None:
    """Seconds until this rollout must be reconciled again with nothing else happening:
    an undo waiting for Deployments, or a scale-down coming due (None: no need)."""
    if status.phase == "Undoing":
        return UNDOING_LOOK_S
    p = status.previous
    if not _ours_to_size(status) or p is None or p.scaled_down or p.refused is not None:
        return None
    if p.scale_down_at is None:
        return None
    # At least a second: a due scale-down waiting for the mesh is looked at again, not spun on.
    return max(1.0, (p.scale_down_at - now).total_seconds())


def _in(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def after_lines(status: RolloutStatus, now: datetime) -> list[str]:
    """After a release: when the previous version is scaled down, and what undo would do;
    the lines ``rollout status`` prints and the dashboard's rollout page shows."""
    p, undo = status.previous, status.undo
    if status.phase == "Undoing" and undo is not None:
        sizes = ", ".join(f"{r.name} ({r.replicas})" for r in undo.restore)
        return [f"undoing: waiting for {sizes} to be ready, then 100% to {undo.to}"]
    if status.phase == "Undone" and undo is not None:
        return [f"{undo.undone} keeps its pods; rollout start tries it again from {undo.to}"]
    if status.phase != "Succeeded" or p is None:
        return []
    at_once = f"rollout undo: 100% back to {p.subset} at once"
    if p.scaled_down:
        sizes = ", ".join(f"{d.name} {d.replicas}" for d in p.deployments) or "nothing"
        return [
            f"{p.subset} scaled down (was: {sizes})",
            f"rollout undo: scale {p.subset} back, wait until ready, then 100% to it",
        ]
    if p.refused is not None:
        return [p.refused, at_once]
    if p.scale_down_at is None:
        return [f"{p.subset} kept (scaleDown: never)", at_once]
    left = (p.scale_down_at - now).total_seconds()
    when = f"in {_in(left)}" if left > 0 else "now"
    return [f"{p.subset} scaled down {when} ({p.scale_down_at:%H:%M:%S}Z)", at_once]
