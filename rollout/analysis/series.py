"""A release as time series, for the charts of the dashboard and the picture posted in
Slack: the canary weight over a run (from the status's history), and the PromQL of the
canary's and stable's 5xx ratio and P99 over that time, with the parsing of the answers.

Pure: the Prometheus adapter sends the queries (``query_range``), the dashboard and the
notifier draw the points. Times are seconds since the run started, so every chart of
one release shares its x axis. Label values are quoted as in ``queries`` (a spec cannot
change a query's shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollout.analysis.promql import quote, re2_literal
from rollout.model.status import HistoryEntry, RolloutStatus

Points = list[tuple[float, float | None]]
STEP_DECISIONS = frozenset({"started", "promoted"})
"""History decisions that begin a step: where a weight chart draws a boundary."""
POINTS = 150
"""Points per metric series: a smooth line, few enough to redraw every second."""


@dataclass(frozen=True)
class Mark:
    """One decision of the run, where it happened on the weight line."""

    t: float
    weight: int
    decision: str
    reason: str


@dataclass
class WeightLine:
    """The canary weight of one run as a step line, with step starts and decisions."""

    start: datetime | None
    end: float
    weight: Points = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def seconds(at: datetime, start: datetime) -> float:
    """``at`` on a release's axis."""
    return round((at - start).total_seconds(), 3)


def run_history(status: RolloutStatus) -> list[HistoryEntry]:
    """The history entries of the current run, oldest first."""
    return sorted((h for h in status.history if h.run == status.run), key=lambda h: h.at)


def weight_line(status: RolloutStatus, now: datetime) -> WeightLine:
    """The weight from the run's start to its end (or ``now``): a step at each change, a
    boundary at each step's start, a mark at each decision. No start: nothing to draw."""
    entries = run_history(status)
    start = status.started_at or (entries[0].at if entries else None)
    if start is None:
        return WeightLine(start=None, end=0.0)
    end_at = status.finished_at if status.terminal and status.finished_at else now
    end = max(seconds(end_at, start), 0.0)
    line = WeightLine(start=start, end=end)
    weight = 0
    line.weight.append((0.0, 0.0))
    for entry in entries:
        t = max(seconds(entry.at, start), 0.0)
        if entry.canary_weight != weight:
            line.weight += [(t, float(weight)), (t, float(entry.canary_weight))]
            weight = entry.canary_weight
        if entry.decision in STEP_DECISIONS:
            line.boundaries.append(t)
        line.marks.append(Mark(t, entry.canary_weight, entry.decision, entry.reason))
    line.weight.append((max(end, line.weight[-1][0]), float(status.canary_weight)))
    return line


@dataclass(frozen=True)
class SeriesAsk:
    """What to chart for one release: its service's labels and the two versions."""

    namespace: str
    service: str  # destination_service_name
    canary_version: str
    stable_version: str
    window_s: int = 60
    requests_metric: str = "istio_requests_total"
    latency_metric: str = "istio_request_duration_milliseconds_bucket"

    def selector(self) -> str:
        versions = re2_literal(self.canary_version) + "|" + re2_literal(self.stable_version)
        return ", ".join(
            [
                'reporter="destination"',
                f"destination_service_namespace={quote(self.namespace)}",
                f"destination_service_name={quote(self.service)}",
                f"destination_version=~{quote(versions)}",
            ]
        )

    def roles(self) -> dict[str, str]:
        """``destination_version`` → ``canary`` / ``stable``."""
        return {self.canary_version: "canary", self.stable_version: "stable"}


def error_ratio_query(ask: SeriesAsk) -> str:
    """Each version's 5xx ratio over the window; zero (not nothing) when none failed."""
    w, sel = f"[{max(1, ask.window_s)}s]", ask.selector()
    total = f"sum by (destination_version) (rate({ask.requests_metric}{{{sel}}}{w}))"
    failed = (
        f"sum by (destination_version) "
        f'(rate({ask.requests_metric}{{{sel}, response_code=~"5.."}}{w}))'
    )
    return f"({failed} or 0 * {total}) / {total}"


def p99_query(ask: SeriesAsk) -> str:
    """Each version's P99 (ms) over the window, from the latency histogram."""
    w, sel = f"[{max(1, ask.window_s)}s]", ask.selector()
    return (
        "histogram_quantile(0.99, sum by (destination_version, le) "
        f"(rate({ask.latency_metric}{{{sel}}}{w})))"
    )


def range_step(span_s: float, points: int = POINTS) -> float:
    """The step of a range query over ``span_s``: about ``points`` points, at least 1 s."""
    return max(1.0, span_s / points)


def matrix_points(
    result: list[dict[str, Any]], start: datetime, roles: dict[str, str]
) -> dict[str, Points]:
    """A Prometheus matrix by ``destination_version``, as points per role (NaN: None)."""
    found: dict[str, Points] = {}
    for series in result:
        version = str((series.get("metric") or {}).get("destination_version", ""))
        role = roles.get(version)
        if role is None:
            continue
        points: Points = []
        for stamp, text in series.get("values") or []:
            value = float(text)
            t = round(float(stamp) - start.timestamp(), 3)
            points.append((t, None if math.isnan(value) or math.isinf(value) else value))
        found[role] = points
    return found
