"""What the dashboard draws for one rollout, as data: the canary weight over the run,
its step boundaries and decisions, the canary's and stable's 5xx ratio and P99, every
evaluation the dashboard saw, and how close each of the judge's tests is to a decision.

Pure: built from the resource (its status's history and last verdict), the verdicts the
dashboard recorded while it watched (the status keeps only the last one) and, when a
Prometheus URL is given, range series that the server asked for. Times are seconds
since the run started, so every chart of a rollout shares its x axis.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollout.analysis.series import (
    Mark,
    Points,
    SeriesAsk,
    WeightLine,
    matrix_points,
    run_history,
    seconds,
    weight_line,
)
from rollout.model import SpecError, Verdict, parse_status
from rollout.model.status import RolloutStatus

Doc = dict[str, Any]
KEEP_VERDICTS = 500
"""Verdicts remembered per run (a day of 3-minute evaluations; a few KiB each)."""
ERROR_METRIC, P99_METRIC = "error-rate", "p99-latency"
"""The threshold judge's names for the canary's 5xx ratio and P99 (``analysis.threshold``)."""


@dataclass(frozen=True)
class Closeness:
    """How far one of the last verdict's tests has come towards its threshold (0..1+)."""

    name: str
    value: float | None
    threshold: float | None
    op: str
    outcome: str
    progress: float | None
    stable: float | None = None  # stable's value beside the canary's, when compared
    promotion: float | None = None  # the sequential judge's evidence towards 100% (0..1)
    shown: tuple[str, str, str] = ("-", "-", "-")  # value, stable, threshold for people


@dataclass
class Timeline:
    """Everything the rollout page charts, on one time axis (seconds since ``start``)."""

    start: datetime | None
    end: float
    weight: Points = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    errors: dict[str, Points] = field(default_factory=dict)
    p99: dict[str, Points] = field(default_factory=dict)
    source: str = "verdicts"
    problem: str = ""
    evaluations: list[Verdict] = field(default_factory=list)
    evidence: list[Closeness] = field(default_factory=list)
    needs: str | None = None  # the judge's estimate of the time to a decision, for people

    def series(self) -> dict[str, Any]:
        """The same data as JSON (the page's API, the tests' count of points)."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end,
            "source": self.source,
            "problem": self.problem,
            "weight": self.weight,
            "boundaries": self.boundaries,
            "decisions": [m.__dict__ for m in self.marks],
            "errors": self.errors,
            "p99": self.p99,
            "evaluations": len(self.evaluations),
        }


def status_of(rollout: Doc) -> RolloutStatus:
    """The parsed status, or an empty one when it cannot be read (the page says so)."""
    try:
        return parse_status(rollout.get("status"))
    except SpecError:
        return RolloutStatus()


class Recorder:
    """The verdicts seen while the dashboard runs, per run of each rollout, bounded: the
    status holds only the last, and the page shows every evaluation it witnessed."""

    def __init__(self, keep: int = KEEP_VERDICTS, runs: int = 200) -> None:
        self.keep, self.runs = keep, runs
        self._seen: OrderedDict[tuple[str, str, str, int], list[Verdict]] = OrderedDict()

    def see(self, rollout: Doc) -> list[Verdict]:
        """Record the rollout's last verdict (once per evaluation time); its run's list."""
        meta, status = rollout["metadata"], status_of(rollout)
        key = (meta["namespace"], meta["name"], str(meta.get("uid", "")), status.run)
        seen = self._seen.setdefault(key, [])
        self._seen.move_to_end(key)
        while len(self._seen) > self.runs:
            self._seen.popitem(last=False)
        verdict = status.last_verdict
        if verdict is not None and (not seen or verdict.at > seen[-1].at):
            seen.append(verdict)
            del seen[: -self.keep]
        return list(seen)


def of_weights(weights: WeightLine) -> Timeline:
    """A timeline that starts as the run's weight line."""
    return Timeline(
        start=weights.start,
        end=weights.end,
        weight=weights.weight,
        boundaries=weights.boundaries,
        marks=weights.marks,
    )


def from_verdicts(line: Timeline, verdicts: list[Verdict]) -> None:
    """The canary's 5xx ratio and P99 from the recorded verdicts, with their thresholds
    (the threshold judge's metrics; a judge that reports others leaves them empty)."""
    line.source, line.evaluations = "verdicts", verdicts
    if line.start is None:
        return
    start = line.start
    for name, into in ((ERROR_METRIC, line.errors), (P99_METRIC, line.p99)):
        values: Points = []
        limits: Points = []
        for verdict in verdicts:
            metric = next((m for m in verdict.metrics if m.name == name), None)
            if metric is None:
                continue
            t = seconds(verdict.at, start)
            values.append((t, metric.value))
            limits.append((t, metric.threshold))
        if values:
            into["canary"] = values
            into["threshold"] = limits


def from_prometheus(
    line: Timeline, errors: dict[str, Points], p99: dict[str, Points], verdicts: list[Verdict]
) -> None:
    """Series asked of Prometheus (already by role: ``canary``, ``stable``)."""
    line.source, line.evaluations = "prometheus", verdicts
    line.errors, line.p99 = errors, p99


def closeness(verdict: Verdict | None) -> list[Closeness]:
    """Each test of the last verdict and how close it is to deciding: the sequential
    judge says so itself (its evidence towards a rollback and towards 100%, 0..1); for a
    plain threshold value/threshold (or threshold/value for an ``>=`` bound)."""
    if verdict is None:
        return []
    found = []
    for m in verdict.metrics:
        progress: float | None = m.regression
        if progress is None and m.value is not None and m.threshold not in (None, 0.0):
            threshold = float(m.threshold or 0.0)
            if m.op == "<=":
                progress = max(0.0, m.value / threshold)
            elif m.value > 0:
                progress = max(0.0, min(m.value / threshold, 1.0))
        shown = (m.show(m.value), m.show(m.stable), m.show(m.threshold))
        found.append(
            Closeness(
                m.name,
                m.value,
                m.threshold,
                m.op,
                m.outcome,
                progress,
                m.stable,
                m.promotion,
                shown,
            )
        )
    return found


def timeline(
    rollout: Doc,
    now: datetime,
    verdicts: list[Verdict],
    prometheus: tuple[dict[str, Points], dict[str, Points]] | None = None,
) -> Timeline:
    """The rollout page's data: the weight line, then the metrics from Prometheus when
    asked for, else from the verdicts; the last verdict's closeness to a decision."""
    status = status_of(rollout)
    line = of_weights(weight_line(status, now))
    if prometheus is not None:
        from_prometheus(line, prometheus[0], prometheus[1], verdicts)
    else:
        from_verdicts(line, verdicts)
    line.evidence = closeness(status.last_verdict)
    if status.last_verdict is not None and status.phase in ("Progressing", "Paused"):
        line.needs = status.last_verdict.needs()
    return line


__all__ = [
    "Closeness",
    "Mark",
    "Points",
    "Recorder",
    "SeriesAsk",
    "Timeline",
    "matrix_points",
    "run_history",
    "status_of",
    "timeline",
    "weight_line",
]
