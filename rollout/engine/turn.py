"""One call of the decision core's working state: the status being built and the effects
its transitions caused. Pure.

Created by ``rules.decide`` for each call and handed to the rules that change a run
(``rules``, ``outcomes``, ``after``); each transition appends its Event (and maybe its
notification) with an id made of the run and the decision's number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from rollout.actions import Effect, NotifyEvent, record_event
from rollout.actions import notify as notify_effect
from rollout.engine.status import history_entry
from rollout.model import RolloutSpec, RolloutStatus, Verdict


@dataclass
class Turn:
    """One call's working state: the status being built and the effects it caused."""

    spec: RolloutSpec
    status: RolloutStatus
    now: datetime
    effects: list[Effect] = field(default_factory=list)

    def update(self, **changes: object) -> None:
        self.status = self.status.model_copy(update=changes)

    def transition(
        self,
        decision: str,
        message: str,
        reason: str,
        notify: NotifyEvent | None = None,
        kind: Literal["Normal", "Warning"] = "Normal",
        verdict: Verdict | None = None,
    ) -> None:
        """Record one decision: a history entry, an Event, and maybe a notification."""
        count = self.status.decisions + 1
        self.update(decisions=count, message=message)
        self.update(history=history_entry(self.status, self.now, decision))
        s = self.status
        self.effects.append(record_event(s.run, count, reason, message, kind))
        if notify is not None:
            tightened = self.spec.on_regression.outlier_detection.wire()
            self.effects.append(
                notify_effect(
                    run=s.run,
                    decision=count,
                    event=notify,
                    message=message,
                    canary_weight=s.canary_weight,
                    step_index=s.step_index,
                    verdict=verdict,
                    outlier_detection=tightened if s.outlier_tightened else None,
                )
            )


__all__ = ["Turn"]
