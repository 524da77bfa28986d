"""``ours`` and ``threshold``: the shipped controller's decisions, through its real pure code.

Every evaluation builds the :class:`Observation` the Prometheus adapter would
(``increase`` over the step so far, per version), asks a shipped judge
(``rollout.analysis.judges.JUDGES``) for a verdict and the shipped engine
(``rollout.engine.decide``) for the next status. Nothing here decides: the
benchmark measures the code users run, with the spec a user would write.

* ``ours``: the default (sequential) judge with a user's defaults, evaluated at every
  scrape (the interval set to the scenario's scrape interval);
* ``threshold``: the threshold judge with exactly a new user's settings (only
  ``judge: threshold`` in the spec's analysis; everything else, the 15 s
  interval and ``maxInconclusive: 5`` then pause included, is the default).

Analysis overrides (``--promotion-table``) are merged into the spec as a user
would write them, so any field of ``Analysis`` can be benchmarked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.judge.rivals import Move
from bench.judge.scenarios import Scenario
from bench.judge.traffic import Path, as_counts
from rollout.analysis.judges import JUDGES
from rollout.analysis.observations import Observation, VersionCounts
from rollout.analysis.verdicts import Step
from rollout.engine import Observed, decide
from rollout.model import RolloutSpec, RolloutStatus, parse_duration, parse_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)

SPEC: dict[str, Any] = {
    "service": "inventory",
    "stableSubset": "v1",
    "canarySubset": "v2",
    # Every setting the default: steps 5/25/50/100 of 1 minute, the sequential judge, which
    # may extend a step by an hour of evaluations while it gathers evidence.
    "analysis": {},
}
THRESHOLD_SPEC: dict[str, Any] = {
    "service": "inventory",
    "stableSubset": "v1",
    "canarySubset": "v2",
    "analysis": {"judge": "threshold"},
}
"""What a new user writes: every other setting is the default."""


class Shipped:
    """A shipped judge and the shipped engine, looking every ``analysis.interval``."""

    def __init__(self, name: str, spec: dict[str, Any], scrape_s: int) -> None:
        self.name = name
        self.spec = parse_spec(spec)
        self.every_s = max(1, round(parse_duration(self.spec.analysis.interval).total_seconds()))
        # The controller's --scrape-interval: what increase() may extrapolate.
        self.scrape_s = scrape_s
        self.judge = JUDGES[self.spec.analysis.judge]
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
        verdict = self.judge(observed, step)
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


def ours(scenario: Scenario, overrides: dict[str, Any] | None = None) -> Shipped:
    """The default judge at every scrape, as a user following the README would set it."""
    analysis = {
        **SPEC["analysis"],
        "maxErrorRate": scenario.slo_error,
        "interval": f"{scenario.scrape_s}s",
        **(overrides or {}),
    }
    return Shipped("ours", {**SPEC, "analysis": analysis}, scenario.scrape_s)


def threshold(scenario: Scenario) -> Shipped:
    """The threshold judge with a new user's defaults (the SLO is the scenario's)."""
    analysis = {**THRESHOLD_SPEC["analysis"]}
    if scenario.slo_error != 0.01:  # the scenarios whose base rate needs a looser SLO
        analysis["maxErrorRate"] = scenario.slo_error
    return Shipped("threshold", {**THRESHOLD_SPEC, "analysis": analysis}, scenario.scrape_s)


def _weight_set(spec: RolloutSpec, status: RolloutStatus, now: datetime) -> RolloutStatus:
    """The simulated mesh takes a new weight at once: the reconcile that the watch on the
    VirtualService causes right after the write starts the step's clock at ``now``."""
    if status.step_started_at is None and status.phase in ("Progressing", "Paused"):
        return decide(spec, status, now, Observed(mesh_in_sync=True)).status
    return status
