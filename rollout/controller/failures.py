"""How a failed reconcile or evaluation is said on the Rollout: conditions and Events.

The reconciler (``rollout.controller.reconcile``) clears or sets the conditions as part
of each decision (:func:`conditions_after`); the controller's loop, when a reconcile
raised, records the failure on the raw status (:func:`record_failure`, through
``Reconciler.record_failure``), so that it works even when parsing or deciding broke.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from rollout.controller.ports import Events, Fence, Rollouts
from rollout.engine import Decision
from rollout.model import Condition

FAILED_CONDITION = "ReconcileFailed"
EVALUATION_FAILED = "EvaluationFailed"


def conditions_after(
    decision: Decision, judged: bool, judge_failure: str | None, now: datetime
) -> Decision:
    """This reconcile worked: no ReconcileFailed; it judged: no EvaluationFailed;
    its judge broke: EvaluationFailed says so (type and place only)."""
    cleared = {FAILED_CONDITION} | ({EVALUATION_FAILED} if judged or judge_failure else set())
    kept = [c for c in decision.status.conditions if c.type not in cleared]
    if judge_failure is not None:
        kept.append(
            Condition(
                type=EVALUATION_FAILED,
                status="True",
                reason="InternalError",
                message=judge_failure,
                last_transition_time=now,
            )
        )
    return Decision(decision.status.model_copy(update={"conditions": kept}), decision.actions)


def record_failure(
    rollouts: Rollouts,
    events: Events,
    fence: Fence,
    now: datetime,
    namespace: str,
    name: str,
    message: str,
    kind: str = FAILED_CONDITION,
) -> None:
    """Say on the Rollout that reconciling (``ReconcileFailed``) or evaluating it
    (``EvaluationFailed``) failed: a condition and a Warning Event. ``message`` must
    already be free of secrets.

    Works on the raw status so that it still works when the failure is in
    parsing or deciding. The next successful reconcile drops ``ReconcileFailed``;
    the next one with a verdict drops ``EvaluationFailed``.
    """
    obj = rollouts.get(namespace, name)
    status = dict(obj.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    others = [c for c in conditions if c.get("type") != kind]
    if any(c.get("type") == kind and c.get("message") == message for c in conditions):
        return  # said already: no write, so no watch event and no busy loop
    failed = {
        "type": kind,
        "status": "True",
        "reason": "InternalError",
        "message": message,
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    status["conditions"] = [*others, failed]
    fence.fence()
    obj = rollouts.write_status(obj, status)
    digest = hashlib.sha256(f"{kind}/{message}".encode()).hexdigest()[:12]
    events.record(obj, f"failed.{digest}", kind, message, "Warning")


__all__ = ["EVALUATION_FAILED", "FAILED_CONDITION", "conditions_after", "record_failure"]
