"""How a step is judged: the Judge port, what a judge is given, and the judges by name.

A judge turns one :class:`~rollout.analysis.observations.Observation` of the
current step into a :class:`~rollout.model.Verdict`. It is pure: everything it
needs is in its arguments, including the evidence it left in the status last
time (the sequential judge's memory). ``spec.analysis.judge`` picks one from
:data:`JUDGES`; the reconciler calls it on the status it has just read.

To add a judge: write ``rollout/analysis/<name>.py`` with a function of the
:class:`Judge` shape, register it in :data:`JUDGES`, and add ``<name>`` to the
``judge`` field's choices in ``rollout/model/spec.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.sequential import sequential_judge
from rollout.analysis.threshold import threshold_judge
from rollout.analysis.verdicts import Step
from rollout.model import Analysis, Evidence, Stage, Verdict

Judge = Callable[[Observation | Unavailable, Step], Verdict]
"""``(observation, step) -> verdict``: one evaluation of the current step."""

JUDGES: dict[str, Judge] = {
    "threshold": threshold_judge,
    "sequential": sequential_judge,
}


@dataclass(frozen=True)
class Evaluation:
    """An observation of one rollout, and the step it was asked for.

    The controller observes every due rollout in one batch and hands each
    result to the rollout's reconcile, which judges it only if the status it
    reads is still at that step (otherwise the data belongs to another weight).
    """

    observed: Observation | Unavailable
    step_started_at: datetime

    @property
    def at(self) -> datetime:
        return self.observed.at


def judge(
    evaluation: Evaluation,
    analysis: Analysis,
    stage: Stage,
    step_started_at: datetime | None,
    evidence: Evidence | None,
    scrape_interval_s: float,
    gate: bool = False,
) -> Verdict | None:
    """The verdict of ``analysis.judge`` on ``evaluation``; None when it is stale."""
    if step_started_at is None or evaluation.step_started_at != step_started_at:
        return None
    step = Step(analysis, stage, step_started_at, evidence, scrape_interval_s, gate)
    return JUDGES[analysis.judge](evaluation.observed, step)


__all__ = ["JUDGES", "Evaluation", "Judge", "Step", "judge"]
