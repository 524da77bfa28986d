"""Simulated requests, scrapes and Prometheus's ``increase()``: what every judge sees.

A :class:`World` is one run's randomness, shared by all judges (common random
numbers): the request rate with its bursts, the scrape times (every 15 s unless
the scenario says otherwise, some missed), the counter resets, the common-mode
incident, and, for each canary weight, every second's requests split by
version, 5xx and latency bucket. The
counts are drawn per request in distribution (Poisson arrivals, a binomial
split by weight, binomial 5xx, multinomial buckets) but aggregated per second,
which is as fine as any judge can see. The traffic at second ``t`` depends only
on the run and the weight then, so judges that took the same steps saw the
same requests.

A :class:`Path` is one judge's rollout through that world: the weights it set
and when. It turns them into counter values at scrape times (resets included)
and answers ``increase(counter[range])`` exactly as Prometheus 2.x computes it,
extrapolation and all.
"""

from __future__ import annotations

import bisect

import numpy as np

from bench.judge.scenarios import (
    BOUNDS,
    COMMON_MODE_ERRORS,
    COMMON_MODE_S,
    COMMON_MODE_SLOWDOWN,
    Scenario,
)
from rollout.analysis.observations import Counts

SERIES = 2 + len(BOUNDS)  # requests, 5xx, then cumulative buckets (le ascending, +Inf last)
MISSED_SCRAPE = 0.02  # a scrape that fails (target slow, Prometheus busy)
RESET_EVERY_S = 1800.0  # a pod restarts, its counters start again from zero
BURST_EVERY_S = 300.0  # bursts: 2-4x the rate for ~30 s, this often on average
VERSIONS = ("stable", "canary")


def _bursts(rng: np.random.Generator, seconds: int) -> np.ndarray:
    multiplier = np.ones(seconds)
    for start in rng.uniform(0, seconds, rng.poisson(seconds / BURST_EVERY_S)):
        length = int(rng.exponential(30.0)) + 1
        multiplier[int(start) : int(start) + length] *= rng.uniform(2.0, 4.0)
    return multiplier


class World:
    """One run: everything random that every judge shares."""

    def __init__(self, scenario: Scenario, seed: int, horizon_s: int) -> None:
        self.scenario, self.seed, self.horizon = scenario, seed, horizon_s
        rng = np.random.default_rng([seed, 0])
        self.rate = scenario.rps * _bursts(rng, horizon_s)
        phase = int(rng.integers(0, scenario.scrape_s))
        times = np.arange(phase, horizon_s + 1, scenario.scrape_s)
        self.scrapes = {v: times[rng.random(len(times)) >= MISSED_SCRAPE] for v in VERSIONS}
        self.resets = {
            v: sorted(
                int(r) for r in rng.uniform(0, horizon_s, rng.poisson(horizon_s / RESET_EVERY_S))
            )
            for v in VERSIONS
        }
        self.incident = (0, 0)
        if scenario.common_mode:
            start = int(rng.uniform(60, 900))
            self.incident = (start, start + int(COMMON_MODE_S))
        self._streams: dict[int, dict[str, np.ndarray]] = {}

    def cumulative(self, weight: int, version: str) -> np.ndarray:
        """(horizon + 1, SERIES): what ``version`` served in seconds [0, t) at this weight."""
        if weight not in self._streams:
            self._streams[weight] = self._draw(weight)
        return self._streams[weight][version]

    def _draw(self, weight: int) -> dict[str, np.ndarray]:
        s, rng = self.scenario, np.random.default_rng([self.seed, 1, weight])
        seconds = np.arange(self.horizon)
        total = rng.poisson(self.rate)
        canary = rng.binomial(total, weight / 100)
        in_incident = (seconds >= self.incident[0]) & (seconds < self.incident[1])
        bad = seconds >= s.onset_s
        out = {}
        for version, n in (("stable", total - canary), ("canary", canary)):
            is_canary = version == "canary"
            error = np.full(self.horizon, s.base_error)
            if is_canary:
                error = np.where(bad, error * s.error_ratio, error)
            error = np.clip(error + in_incident * COMMON_MODE_ERRORS, 0, 1)
            kinds = np.where(in_incident, 2, 0) + np.where(bad & is_canary, 1, 0)
            table = np.array(
                [
                    s.bucket_shares(
                        canary=regressed, slow=COMMON_MODE_SLOWDOWN if incident else 1.0
                    )
                    for incident in (False, True)
                    for regressed in (False, True)
                ]
            )
            pvals = table[kinds]
            pvals = pvals / pvals.sum(axis=1, keepdims=True)
            per_bucket = rng.multinomial(n, pvals)
            per_second = np.column_stack([n, rng.binomial(n, error), np.cumsum(per_bucket, axis=1)])
            cum = np.zeros((self.horizon + 1, SERIES))
            np.cumsum(per_second, axis=0, out=cum[1:])
            out[version] = cum
        return out


class Path:
    """One judge's rollout through a world: weights over time, counters, Prometheus."""

    def __init__(self, world: World, weight: int) -> None:
        self.world = world
        self.starts = [0]
        self.weights = [weight]
        self.base = {v: [np.zeros(SERIES)] for v in VERSIONS}  # served before each segment
        # Stable's counters have run for days; the canary's series start empty.
        self.offset = {"stable": np.full(SERIES, 1e9), "canary": np.zeros(SERIES)}
        self._samples: dict[str, dict[int, np.ndarray]] = {v: {} for v in VERSIONS}

    def set_weight(self, t: int, weight: int) -> None:
        for v in VERSIONS:
            self.base[v].append(self.served(v, t))
        self.starts.append(t)
        self.weights.append(weight)

    def served(self, version: str, t: int) -> np.ndarray:
        """Exactly what ``version`` served in [0, t) (the truth, not what Prometheus saw)."""
        t = min(t, self.world.horizon)
        k = bisect.bisect_right(self.starts, t) - 1
        cum = self.world.cumulative(self.weights[k], version)
        return np.asarray(self.base[version][k] + cum[t] - cum[self.starts[k]])

    def counter(self, version: str, t: int) -> np.ndarray:
        resets = self.world.resets[version]
        i = bisect.bisect_right(resets, t) - 1
        if i < 0:
            return np.asarray(self.offset[version] + self.served(version, t))
        return np.asarray(self.served(version, t) - self.served(version, resets[i]))

    def samples(self, version: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Scraped (time, value) pairs with start <= time <= end."""
        times = self.world.scrapes[version]
        chosen = times[np.searchsorted(times, start) : np.searchsorted(times, end, side="right")]
        cache = self._samples[version]
        values = []
        for s in chosen:
            if int(s) not in cache:
                cache[int(s)] = self.counter(version, int(s))
            values.append(cache[int(s)])
        return chosen.astype(float), np.array(values).reshape(len(values), SERIES)

    def increase(self, version: str, start: int, end: int) -> np.ndarray | None:
        """``increase(counter[end - start])`` at ``end``, as Prometheus answers it."""
        times, values = self.samples(version, start, end)
        return prometheus_increase(times, values, float(start), float(end))


def as_counts(values: np.ndarray | None) -> Counts:
    """What the Prometheus adapter would make of one version's answer (a row of SERIES)."""
    if values is None:
        return Counts()  # Prometheus answered no series: fewer than two samples in range
    buckets = tuple((le, float(c)) for le, c in zip(BOUNDS, values[2:], strict=True))
    return Counts(requests=float(values[0]), errors=float(values[1]), buckets=buckets)


def prometheus_increase(
    times: np.ndarray, values: np.ndarray, start: float, end: float
) -> np.ndarray | None:
    """Prometheus 2.x ``extrapolatedRate`` for counters, per column: resets add the value
    before the drop; the result is extrapolated towards the range's ends (not below zero)."""
    if len(times) < 2:
        return None
    drops = np.where(values[1:] < values[:-1], values[:-1], 0.0).sum(axis=0)
    result = values[-1] - values[0] + drops
    sampled = times[-1] - times[0]
    average = sampled / (len(times) - 1)
    to_start = np.full(values.shape[1], times[0] - start)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = np.where(result > 0, sampled * values[0] / result, np.inf)
    to_start = np.where((result > 0) & (values[0] >= 0) & (to_zero < to_start), to_zero, to_start)
    to_end = end - times[-1]
    threshold = average * 1.1
    span = sampled + np.where(to_start < threshold, to_start, average / 2)
    span = span + (to_end if to_end < threshold else average / 2)
    return np.asarray(result * span / sampled)
