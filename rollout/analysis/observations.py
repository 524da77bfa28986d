"""What the judge sees: counts per version, never PromQL.

An :class:`Observation` holds, for the stable and the canary version, the
requests, the 5xx errors and the latency histogram (cumulative bucket counts)
since the step started (both judges judge the step so far), plus the value of
each custom check. Missing data is explicit: a :class:`Counts` with zero
requests, a check value of None, or, when Prometheus could not answer at all,
:class:`Unavailable` instead of an observation. Pure; built by the Prometheus
adapter, read by the judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

Buckets = tuple[tuple[float, float], ...]
"""Cumulative histogram buckets as (upper bound ``le``, count), ascending, +Inf last."""


@dataclass(frozen=True)
class Counts:
    """Requests, 5xx errors and latency buckets of one version over one range."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: Buckets = ()

    @property
    def has_data(self) -> bool:
        return self.requests > 0 and not math.isnan(self.requests)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.has_data else None

    def quantile(self, q: float) -> float | None:
        return histogram_quantile(q, self.buckets)

    def share_above(self, bound_ms: float) -> float | None:
        """The share of requests slower than ``bound_ms`` (a bucket boundary)."""
        total = self.buckets[-1][1] if self.buckets else 0.0
        if total <= 0:
            return None
        below = max((c for le, c in self.buckets if le <= bound_ms), default=0.0)
        return (total - below) / total


@dataclass(frozen=True)
class VersionCounts:
    """One version's counts since the step started."""

    step: Counts = field(default_factory=Counts)


@dataclass(frozen=True)
class Observation:
    """Everything measured for one rollout at one evaluation time."""

    at: datetime
    stable: VersionCounts = field(default_factory=VersionCounts)
    canary: VersionCounts = field(default_factory=VersionCounts)
    checks: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Unavailable:
    """Prometheus could not be asked (refused, timeout, 5xx, an answer that is not JSON)."""

    at: datetime
    reason: str


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of cumulative buckets, interpolated as Prometheus's histogram_quantile.

    Linear interpolation inside the bucket that holds the rank; the lowest bucket
    starts at 0 (for positive bounds); a rank in the +Inf bucket answers the
    highest finite bound. None when there are no observations.

    >>> histogram_quantile(0.5, ((100.0, 50.0), (200.0, 100.0), (math.inf, 100.0)))
    100.0
    >>> histogram_quantile(0.99, ((100.0, 50.0), (200.0, 100.0), (math.inf, 100.0)))
    198.0
    """
    if not buckets or not math.isinf(buckets[-1][0]) or not 0 <= q <= 1:
        return None
    ordered = sorted(buckets)
    counts = [c for _, c in ordered]
    for i in range(1, len(counts)):  # Prometheus fixes non-monotonic counts the same way
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if total <= 0 or math.isnan(total):
        return None
    rank = q * total
    index = next(i for i, c in enumerate(counts) if c >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0] if len(ordered) > 1 else None
    upper = ordered[index][0]
    lower, below = (0.0, 0.0) if index == 0 else (ordered[index - 1][0], counts[index - 1])
    if index == 0 and upper <= 0:
        return upper
    in_bucket = counts[index] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


def bound_at_or_above(buckets: Buckets, value: float) -> float | None:
    """The smallest finite bucket bound at or above ``value``: the top of the bucket a
    quantile read from these buckets falls in (None above the highest finite bound).

    >>> bound_at_or_above(((100.0, 5.0), (250.0, 9.0), (math.inf, 10.0)), 180.0)
    250.0
    """
    finite = [le for le, _ in buckets if le != math.inf and le >= value]
    return min(finite) if finite else None
