"""``ours``: the shipped controller's decisions, through its real pure code.

Every evaluation builds the :class:`Observation` the Prometheus adapter would
(``increase`` over the step so far, per version), asks the shipped sequential
judge (``rollout.analysis.sequential``) for a verdict and the shipped engine
(``rollout.engine.decide``) for the next status. Nothing here decides: the
benchmark measures the code users run, with the spec a user would write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.judge.rivals import Move
from bench.judge.scenarios import Scenario
from bench.judge.traffic import Path, as_counts
from rollout.analysis.observations import Observation, VersionCounts
from rollout.analysis.sequential import sequential_judge
from rollout.analysis.verdicts import Step
from rollout.engine import Observed, decide
from rollout.model import RolloutSpec, RolloutStatus, parse_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)

SPEC: dict[str, Any] = {
    "service": "inventory",
    "stableSubset": "v1",
    "canarySubset": "v2",
    "strategy": {"steps": [5, 25, 50, 100], "stepDuration": "1m"},
    # The sequential judge extends a step until it has positive evidence: allow an hour.
    "analysis": {"judge": "sequential", "interval": "15s", "maxInconclusive": 240},
}


class Ours:
    """The shipped sequential judge and engine, looking at every scrape."""

    name = "ours"

    def __init__(self, scenario: Scenario) -> None:
        # Evaluate at every scrape, and tell the judge the scrape interval (the controller's
        # --scrape-interval), as a user following the README would.
        self.every_s = self.scrape_s = scenario.scrape_s
        analysis = {**SPEC["analysis"], "maxErrorRate": scenario.slo_error}
        analysis["interval"] = f"{self.every_s}s"
        self.spec = parse_spec({**SPEC, "analysis": analysis})
        self.status = _weight_set(self.spec, decide(self.spec, RolloutStatus(), T0).status, T0)

    def look(self, t: int, path: Path) -> Move | None:
        before = self.status
        assert before.step_started_at is not None
        assert before.stage is not None
        now = T0 + timedelta(seconds=t)
        start = int((before.step_started_at - T0).total_seconds())
        observed = Observation(
            at=now,
            stable=VersionCounts(step=as_counts(path.increase("stable", start, t))),
            canary=VersionCounts(step=as_counts(path.increase("canary", start, t))),
        )
        step = Step(
            self.spec.analysis,
            before.stage,
            before.step_started_at,
            before.evidence,
            self.scrape_s,
            before.gate,
        )
        verdict = sequential_judge(observed, step)
        after = _weight_set(
            self.spec, decide(self.spec, before, now, Observed(verdict=verdict)).status, now
        )
        self.status = after
        if after.phase == "RolledBack":
            return "rollback"
        if after.phase == "Succeeded":
            return "succeed"
        if (after.step_index or 0) > (before.step_index or 0):
            return "advance"
        return None


def _weight_set(spec: RolloutSpec, status: RolloutStatus, now: datetime) -> RolloutStatus:
    """The simulated mesh takes a new weight at once: the reconcile that the watch on the
    VirtualService causes right after the write starts the step's clock at ``now``."""
    if status.step_started_at is None and status.phase in ("Progressing", "Paused"):
        return decide(spec, status, now, Observed(mesh_in_sync=True)).status
    return status
