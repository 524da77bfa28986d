"""The scenarios of ``python -m bench judge``: what the stable and canary versions really do.

A scenario is ground truth: request rate of the whole service, the 5xx rates,
the latency distributions, when the canary's regression starts, and whether a
common-mode incident hits both versions. ``bad`` says what a judge should do:
roll back (the canary is worse than stable beyond the tolerance) or promote.
Names follow the issue: ``err4x_100rps`` = 4 times stable's 5xx rate at 100 requests
per second for the whole service, base 5xx rate 0.5% unless the name says
otherwise (``_base1pct``).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

from scipy.stats import norm

from meshlab.istio_metrics import ISTIO_BUCKETS_MS

BOUNDS = (*(float(b) for b in ISTIO_BUCKETS_MS), math.inf)
"""Istio's default buckets for ``istio_request_duration_milliseconds`` (ms)."""

MEDIAN_MS = 50.0
SIGMA = 0.6  # stable P99 = 50 ms * e^(2.326 * 0.6) ≈ 202 ms
TAIL_FROM = 0.95  # "tail only": requests above stable's P95 slow down, the rest do not
TOLERANCE = 0.2  # the spec's default: 20% worse than stable is still fine


@dataclass(frozen=True)
class Scenario:
    """One situation a judge is benchmarked on: traffic, rates, latencies, onset."""

    name: str
    rps: float
    base_error: float = 0.005
    error_ratio: float = 1.0  # canary's 5xx rate / stable's
    latency_scale: float = 1.0  # every canary request this many times slower
    tail_p99_scale: float = 1.0  # canary's P99 this many times stable's, below P95 unchanged
    onset_s: float = 0.0  # the canary's regression starts this long after the rollout
    common_mode: bool = False  # an incident hits both versions for two minutes
    slo_error: float = 0.01  # the spec's maxErrorRate
    scrape_s: int = 15  # Prometheus's scrape interval; judges that look at every scrape follow it
    median_ms: float = MEDIAN_MS  # both versions' latency: log-normal with this median
    sigma: float = SIGMA  # and this spread

    @property
    def bad(self) -> bool:
        """The canary should be rolled back: worse than stable beyond the tolerance."""
        slower = self.latency_scale > 1 + TOLERANCE or self.tail_p99_scale > 1 + TOLERANCE
        return self.error_ratio > 1 + TOLERANCE or slower

    def bucket_shares(self, canary: bool, slow: float = 1.0) -> list[float]:
        """The share of requests in each bucket (not cumulative), +Inf last."""
        scale, tail = (self.latency_scale, self.tail_p99_scale) if canary else (1.0, 1.0)
        return list(_shares(self.median_ms * scale * slow, self.sigma, tail))


def _cdf(x: float, median: float, sigma: float, tail: float) -> float:
    if x == math.inf:
        return 1.0
    p95 = median * math.exp(norm.ppf(TAIL_FROM) * sigma)
    if tail != 1.0 and x > p95:
        # Above P95 every request's excess over P95 is stretched so P99 grows `tail` times.
        p99 = median * math.exp(norm.ppf(0.99) * sigma)
        stretch = (tail * p99 - p95) / (p99 - p95)
        x = p95 + (x - p95) / stretch
    return float(norm.cdf(math.log(x / median) / sigma))


@functools.cache  # scipy's ppf and cdf cost more than a run's traffic: compute each once
def _shares(median: float, sigma: float, tail: float) -> tuple[float, ...]:
    cdf = [_cdf(le, median, sigma, tail) for le in BOUNDS]
    return (cdf[0], *(max(0.0, b - a) for a, b in itertools.pairwise(cdf)))


def share_above(shares: list[float], bound: float) -> float:
    """True probability that a request is slower than ``bound`` (a bucket boundary)."""
    return sum(s for le, s in zip(BOUNDS, shares, strict=True) if le > bound)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("aa_100rps", 100),
    Scenario("aa_1000rps", 1000),
    Scenario("aa_10rps", 10),
    Scenario("common_mode_100rps", 100, common_mode=True),
    Scenario("err1p1x_100rps", 100, error_ratio=1.1),
    Scenario("better_100rps", 100, error_ratio=0.5),
    Scenario("err2x_100rps", 100, error_ratio=2),
    Scenario("err4x_100rps", 100, error_ratio=4),
    Scenario("err2x_1000rps", 1000, error_ratio=2),
    Scenario("err4x_1000rps", 1000, error_ratio=4),
    Scenario("err4x_1000rps_scrape5s", 1000, error_ratio=4, scrape_s=5),
    Scenario("err2x_100rps_base0p1pct", 100, base_error=0.001, error_ratio=2),
    Scenario("err4x_100rps_base0p1pct", 100, base_error=0.001, error_ratio=4),
    Scenario("err2x_100rps_base1pct", 100, base_error=0.01, error_ratio=2, slo_error=0.02),
    Scenario("err4x_100rps_base1pct", 100, base_error=0.01, error_ratio=4, slo_error=0.02),
    Scenario("err4x_10rps", 10, error_ratio=4),
    Scenario("err4x_1rps", 1, error_ratio=4),
    Scenario("err4x_late_100rps", 100, error_ratio=4, onset_s=120),
    Scenario("p99_50pct_100rps", 100, latency_scale=1.5),
    Scenario("p99_50pct_tail_100rps", 100, tail_p99_scale=1.5),
    # Like the lab's healthy service: no 5xx, a fast body and a long tail, P99 just above
    # Istio's 25 ms bucket boundary (1.1% of requests above 25 ms), where a P99
    # interpolated in the 25-50 ms bucket swings with a handful of requests.
    Scenario("aa_100rps_p99_near_bucket", 100, base_error=0.0, median_ms=4.0, sigma=0.8),
)
"""Every scenario of the full run. ``--quick`` runs the ones in QUICK."""

QUICK = (
    "aa_100rps",
    "common_mode_100rps",
    "err4x_1000rps",
    "err4x_100rps",
    "err2x_100rps",
    "err4x_10rps",
    "p99_50pct_100rps",
    "aa_100rps_p99_near_bucket",
)

COMMON_MODE_ERRORS = 0.05  # added to both versions' 5xx rate during the incident
COMMON_MODE_SLOWDOWN = 2.0  # and every request twice as slow
COMMON_MODE_S = 120.0


def by_name(names: tuple[str, ...] | None = None) -> list[Scenario]:
    if names is None:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
    return [known[n] for n in names]
