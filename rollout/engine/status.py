"""Bookkeeping of the status that the engine keeps beside its decisions:
the bounded history and the Kubernetes-style conditions.

Pure helpers called only by ``rollout.engine``; kept apart so the engine's
file reads as the rules of a rollout and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from rollout.model import Condition, HistoryEntry, RolloutStatus

HISTORY_LIMIT = 50
OWN_CONDITIONS = frozenset({"Valid", "Paused", "Completed", "PreflightClean", "Notified"})


def history_entry(status: RolloutStatus, now: datetime, decision: str) -> list[HistoryEntry]:
    """The history with one more entry for ``decision``, keeping the last 50."""
    entry = HistoryEntry(
        at=now,
        run=status.run,
        step_index=status.step_index,
        canary_weight=status.canary_weight,
        decision=decision,
        reason=status.message,
    )
    return [*status.history, entry][-HISTORY_LIMIT:]


def _condition(
    previous: list[Condition],
    type_: str,
    value: bool,
    reason: str,
    message: str,
    now: datetime,
) -> Condition:
    state: Literal["True", "False"] = "True" if value else "False"
    old = next((c for c in previous if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == state else now
    return Condition(
        type=type_, status=state, reason=reason, message=message, last_transition_time=since
    )


def conditions(status: RolloutStatus, now: datetime) -> list[Condition]:
    """``Valid``, ``Paused`` and ``Completed``, derived from the phase, and
    ``PreflightClean`` (False) when the preflight warned, ``Notified`` (False) while
    notifications are refused or failing.

    ``lastTransitionTime`` moves only when a condition's status flips, as
    Kubernetes tools expect.
    """
    phase, old = status.phase, status.conditions
    # Conditions the controller sets itself (a failed reconcile or evaluation) are kept.
    foreign = [c for c in old if c.type not in OWN_CONDITIONS]
    valid = phase != "Failed"
    paused = phase == "Paused"
    done = status.terminal
    warned = []
    if status.preflight_warning:
        warned = [
            _condition(old, "PreflightClean", False, "Warning", status.preflight_warning, now)
        ]
    if status.notification_problem:
        warned.append(
            _condition(
                old, "Notified", False, "NotificationProblem", status.notification_problem, now
            )
        )
    return [
        _condition(
            old,
            "Valid",
            valid,
            "InputValid" if valid else "InvalidInput",
            "" if valid else status.message,
            now,
        ),
        _condition(
            old,
            "Paused",
            paused,
            f"Paused{(status.pause_reason or '').capitalize()}" if paused else "NotPaused",
            status.message if paused else "",
            now,
        ),
        _condition(
            old,
            "Completed",
            done,
            str(phase) if done else "InProgress",
            status.message if done else "",
            now,
        ),
        *warned,
        *foreign,
    ]
