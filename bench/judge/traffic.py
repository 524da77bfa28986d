"""Simulated requests, pods, scrapes and Prometheus's ``increase()``: what every judge sees.

A :class:`World` is one run's randomness, shared by all judges (common random
numbers): the request rate with its bursts, the pods of each version (three,
each its own series), their scrape times (every 15 s unless the scenario says
otherwise, each pod its own phase, a slow drift and jitter, some missed), the
pod restarts (one canary pod mid-rollout in every run, and any pod now and
then: a restarted pod is a *new* series from zero, the old one goes stale), the
common-mode incident, and, for each canary weight, every second's requests
split by version, pod, response code, 5xx and latency bucket. The counts are
drawn per request in distribution (Poisson arrivals, a binomial split by
weight, a multinomial split by pod, binomial 5xx, multinomial buckets) but
aggregated per second, which is as fine as any judge can see; a pod's buckets
are its version's in proportion to its requests of that code (their sum over
pods, all a query sees, is exact). The traffic at second ``t`` depends only on
the run and the weight then (it is drawn in blocks of ``BLOCK_S`` seconds, each
from its own seed, as far as some judge looks), so judges that took the same
steps saw the same requests.

As Istio does, each pod has a series per response code (200, 503) for the
request counter and for the latency histogram, created at that code's first
request: a canary's 5xx series appears at its first error, and ``increase()``
then counts from its first sample.

A :class:`Path` is one judge's rollout through that world: the weights it set
and when. It turns them into counter values at scrape times and answers
``sum(increase(counter[range]))`` over every series, as the Prometheus adapter
asks and Prometheus 2.x computes it, extrapolation and all.
"""

from __future__ import annotations

from collections.abc import Iterator

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
PODS = 3  # per version, each scraped on its own
CODES = ("200", "503")  # a series per response code and pod, created at its first request
MISSED_SCRAPE = 0.02  # a scrape that fails (target slow, Prometheus busy)
DRIFT = 0.002  # a target's interval runs up to this much long or short
JITTER_S = 0.3  # and each scrape's timestamp wanders by about this much
RESTART_EVERY_S = 1800.0  # a pod is replaced this often on average (per version)
CANARY_RESTART_S = (20.0, 900.0)  # and one canary pod restarts at some time in this window
KEY_SPAN = 1e7  # series id * this + time: a sort key (times are under a day)
LOOKAHEAD_S = 60  # samples computed ahead of the look that asks (recomputed on a new weight)
BLOCK_S = 300  # traffic is drawn in blocks of this many seconds, as far as a judge looks
BURST_EVERY_S = 300.0  # bursts: 2-4x the rate for ~30 s, this often on average
VERSIONS = ("stable", "canary")


def _bursts(rng: np.random.Generator, seconds: int) -> np.ndarray:
    multiplier = np.ones(seconds)
    for start in rng.uniform(0, seconds, rng.poisson(seconds / BURST_EVERY_S)):
        length = int(rng.exponential(30.0)) + 1
        multiplier[int(start) : int(start) + length] *= rng.uniform(2.0, 4.0)
    return multiplier


def _scrape_times(rng: np.random.Generator, every: int, horizon: int) -> np.ndarray:
    """One target's scrape timestamps: its own phase, a drifting interval, jitter, misses."""
    interval = every * (1 + rng.uniform(-DRIFT, DRIFT))
    k = np.arange(int(horizon / interval) + 2)
    times = rng.uniform(0, every) + k * interval + rng.normal(0, JITTER_S, len(k)).clip(-1, 1)
    times = np.sort(np.round(times[(times >= 0) & (times <= horizon)], 3))  # Prometheus: ms
    return times[rng.random(len(times)) >= MISSED_SCRAPE]


class World:
    """One run: everything random that every judge shares."""

    def __init__(self, scenario: Scenario, seed: int, horizon_s: int) -> None:
        self.scenario, self.seed, self.horizon = scenario, seed, horizon_s
        rng = np.random.default_rng([seed, 0])
        self.rate = scenario.rps * _bursts(rng, horizon_s)
        self.scrape_times = {
            v: [_scrape_times(rng, scenario.scrape_s, horizon_s) for _ in range(PODS)]
            for v in VERSIONS
        }
        # Restarts: a pod replaced at second r; its slot's new series counts from r.
        self.restarts: dict[str, list[list[int]]] = {}
        for v in VERSIONS:
            slots: list[list[int]] = [[] for _ in range(PODS)]
            for r in rng.uniform(0, horizon_s, rng.poisson(horizon_s / RESTART_EVERY_S)):
                slots[int(rng.integers(0, PODS))].append(int(r))
            if v == "canary":
                slots[int(rng.integers(0, PODS))].append(int(rng.uniform(*CANARY_RESTART_S)))
            self.restarts[v] = [sorted(set(s)) for s in slots]
        self.incident = (0, 0)
        if scenario.common_mode:
            start = int(rng.uniform(60, 900))
            self.incident = (start, start + int(COMMON_MODE_S))
        self._streams: dict[int, dict[str, np.ndarray]] = {}
        self._drawn: dict[int, int] = {}  # per weight: seconds drawn so far
        # Bucket shares by kind of second: (incident?, canary's regression?), normalised.
        table = np.array(
            [
                scenario.bucket_shares(
                    canary=regressed, slow=COMMON_MODE_SLOWDOWN if incident else 1.0
                )
                for incident in (False, True)
                for regressed in (False, True)
            ]
        )
        self._shares = table / table.sum(axis=1, keepdims=True)
        self._layouts: dict[str, Layout] = {}

    def layout(self, version: str) -> Layout:
        """Where and when ``version``'s series are sampled (the same for every judge)."""
        if version not in self._layouts:
            self._layouts[version] = Layout(self, version)
        return self._layouts[version]

    @property
    def scrapes(self) -> dict[str, np.ndarray]:
        """One pod's scrape times per version (when a judge's "last scrape" was)."""
        return {v: times[0] for v, times in self.scrape_times.items()}

    def cumulative(self, weight: int, version: str, upto: int) -> np.ndarray:
        """(horizon + 1, PODS, CODES, SERIES): what each pod served in [0, t) at this weight,
        valid for t <= ``upto`` (the rest is drawn when asked for)."""
        if weight not in self._streams:
            shape = (self.horizon + 1, PODS, len(CODES), SERIES)
            # Only rows drawn so far are ever read: no need to zero the rest.
            self._streams[weight] = {v: np.empty(shape) for v in VERSIONS}
            for cum in self._streams[weight].values():
                cum[0] = 0.0
            self._drawn[weight] = 0
        while self._drawn[weight] < min(upto, self.horizon):
            self._draw(weight, self._drawn[weight] // BLOCK_S)
        return self._streams[weight][version]

    def _draw(self, weight: int, block: int) -> None:
        """One block of seconds at this weight, from its own seed: what is drawn never
        depends on which judge asked first, or how far."""
        s, rng = self.scenario, np.random.default_rng([self.seed, 1, weight, block])
        begin, end = block * BLOCK_S, min(self.horizon, (block + 1) * BLOCK_S)
        seconds = np.arange(begin, end)
        total = rng.poisson(self.rate[begin:end])
        canary = rng.binomial(total, weight / 100)
        in_incident = (seconds >= self.incident[0]) & (seconds < self.incident[1])
        bad = seconds >= s.onset_s
        for version, n in (("stable", total - canary), ("canary", canary)):
            is_canary = version == "canary"
            error = np.full(len(seconds), s.base_error)
            if is_canary:
                error = np.where(bad, error * s.error_ratio, error)
            error = np.clip(error + in_incident * COMMON_MODE_ERRORS, 0, 1)
            kinds = np.where(in_incident, 2, 0) + np.where(bad & is_canary, 1, 0)
            pvals = self._shares[kinds]
            pods = rng.multinomial(n, np.full(PODS, 1 / PODS))  # (seconds, PODS)
            errors = rng.binomial(pods, error[:, None])
            per_second = np.zeros((len(seconds), PODS, len(CODES), SERIES))
            for code, count in enumerate((pods - errors, errors)):
                served = count.sum(axis=1)
                buckets = np.cumsum(rng.multinomial(served, pvals), axis=1)
                share = count / np.maximum(served, 1)[:, None]  # each pod's part of it
                per_second[:, :, code, 0] = count
                per_second[:, :, code, 2:] = share[:, :, None] * buckets[:, None, :]
            per_second[:, :, 1, 1] = errors
            cum = self._streams[weight][version]
            np.cumsum(per_second, axis=0, out=cum[begin + 1 : end + 1])
            cum[begin + 1 : end + 1] += cum[begin]
        self._drawn[weight] = end


class Layout:
    """Every sample a version's series will have, whatever the weights: one row per pod's
    scrape and response code, sorted by series (pod, generation, code), then time."""

    def __init__(self, world: World, version: str) -> None:
        rows: list[tuple[np.ndarray, ...]] = []
        sid = 0
        for pod, times in enumerate(world.scrape_times[version]):
            restarts = world.restarts[version][pod]
            gens = np.searchsorted(restarts, times.astype(int), side="right")
            born = np.array([0, *restarts])[gens]
            for gen in range(len(restarts) + 1):
                at = gens == gen
                k = int(at.sum())
                if k == 0:
                    continue  # replaced again before its first scrape: never seen
                for code in range(len(CODES)):
                    ids = np.full(k, sid)
                    rows.append((times[at], born[at], np.full(k, pod), np.full(k, code), ids))
                    sid += 1
        self.times, self.born, self.pod, self.code, self.sid = (
            np.concatenate(column) for column in zip(*rows, strict=True)
        )
        self.seconds = self.times.astype(int)  # a sample holds what was served before it
        self.first = self.born == 0  # the pod's first series (stable's: running for days)
        self.ids = np.arange(sid)
        self.heads = np.searchsorted(self.sid, self.ids)  # each series' first row
        # Sorted by series then time: one searchsorted finds every series' rows in a range.
        self.key = self.sid * KEY_SPAN + self.times


class Path:
    """One judge's rollout through a world: weights over time, counters, Prometheus."""

    def __init__(self, world: World, weight: int) -> None:
        self.world = world
        self.starts = [0]
        self.weights = [weight]
        shape = (PODS, len(CODES), SERIES)
        self.base = {v: [np.zeros(shape)] for v in VERSIONS}  # served before each segment
        # Stable's pods have run for days (every series exists); the canary's start empty.
        self.offset = {"stable": 1e9, "canary": 0.0}
        self.layout = {v: world.layout(v) for v in VERSIONS}
        # Every sample's value up to ``ready`` (exclusive), as if the current weight lasts:
        # a new weight at t makes the samples from t on stale (the ones before are history).
        self.values = {v: np.zeros((len(self.layout[v].times), SERIES)) for v in VERSIONS}
        self.ready = dict.fromkeys(VERSIONS, 0)
        # Each series' first row with a request (it exists from there on), for ``values``.
        self.exists = {v: self.layout[v].heads.copy() for v in VERSIONS}

    def set_weight(self, t: int, weight: int) -> None:
        for v in VERSIONS:
            self.base[v].append(self._served_at(v, np.array([t]))[0])
            self.ready[v] = min(self.ready[v], t)
        self.starts.append(t)
        self.weights.append(weight)

    def _ensure(self, version: str, end: float) -> None:
        """Compute the samples up to ``end``, and a little beyond (looks move forward)."""
        if end < self.ready[version]:
            return
        until = min(self.world.horizon + 1, int(end) + LOOKAHEAD_S)
        seconds = self.layout[version].seconds
        rows = (seconds >= self.ready[version]) & (seconds < until)
        self.values[version][rows] = self._values(version, rows)
        self.ready[version] = until
        layout = self.layout[version]
        rows_with_requests = np.where(
            self.values[version][:, 0] > 0, np.arange(len(layout.times)), len(layout.times)
        )
        self.exists[version] = np.minimum.reduceat(rows_with_requests, layout.heads)

    def _values(self, version: str, rows: np.ndarray) -> np.ndarray:
        layout = self.layout[version]
        pod, code = layout.pod[rows], layout.code[rows]
        now = self._served_rows(version, layout.seconds[rows], pod, code)
        values = np.asarray(now - self._served_rows(version, layout.born[rows], pod, code))
        values[layout.first[rows]] += self.offset[version]
        return values

    def _served_rows(
        self, version: str, ts: np.ndarray, pod: np.ndarray, code: np.ndarray
    ) -> np.ndarray:
        """(len(ts), SERIES): what pod ``pod[i]`` served with code ``code[i]`` in [0, ts[i])."""
        ts = np.minimum(ts, self.world.horizon)
        out = np.empty((len(ts), SERIES))
        k = np.searchsorted(self.starts, ts, side="right") - 1
        for segment in range(len(self.starts)):
            at = k == segment
            if not at.any():
                continue
            cum = self.world.cumulative(self.weights[segment], version, int(ts[at].max()))
            p, c = pod[at], code[at]
            begin = cum[self.starts[segment]]
            # The difference first: a nonnegative addition keeps the counter from dipping.
            out[at] = self.base[version][segment][p, c] + (cum[ts[at], p, c] - begin[p, c])
        return out

    def _served_at(self, version: str, ts: np.ndarray) -> np.ndarray:
        """(len(ts), PODS, CODES, SERIES): what each pod served in [0, t) (the truth)."""
        ts = np.minimum(ts, self.world.horizon)
        k = np.searchsorted(self.starts, ts, side="right") - 1
        cum = [
            self.world.cumulative(self.weights[s], version, t) for s, t in zip(k, ts, strict=True)
        ]
        return np.array(
            [
                self.base[version][s] + (c[t] - c[self.starts[s]])
                for s, c, t in zip(k, cum, ts, strict=True)
            ]
        ).reshape(len(ts), PODS, len(CODES), SERIES)

    def served(self, version: str, t: int) -> np.ndarray:
        """Exactly what ``version`` served in [0, t), all pods and codes (a row of SERIES)."""
        return np.asarray(self._served_at(version, np.array([t]))[0].sum(axis=(0, 1)))

    def series(self, version: str, start: float, end: float) -> Iterator[tuple[np.ndarray, ...]]:
        """Every series' scraped (time, value) pairs with start <= time <= end: one per pod,
        generation and code, only where that series exists (from its first request on)."""
        self._ensure(version, end)
        layout, values = self.layout[version], self.values[version]
        chosen = (layout.times >= start) & (layout.times <= end) & (values[:, 0] > 0)
        for sid in np.unique(layout.sid[chosen]):
            rows = chosen & (layout.sid == sid)
            yield layout.times[rows], values[rows]

    def increase(self, version: str, start: int, end: int) -> np.ndarray | None:
        """``sum(increase(counter[end - start]))`` at ``end`` over every series of
        ``version``, as Prometheus answers it: None when no series has two samples.

        :func:`prometheus_increase` for all series at once; a series never drops (a
        restarted pod is a new series), so there are no resets to add."""
        self._ensure(version, end)
        layout, values = self.layout[version], self.values[version]
        lo = np.searchsorted(layout.key, layout.ids * KEY_SPAN + start)
        hi = np.searchsorted(layout.key, layout.ids * KEY_SPAN + end, side="right") - 1
        lo = np.maximum(lo, self.exists[version])
        keep = hi - lo >= 1  # two samples at least
        if not keep.any():
            return None
        first, last = lo[keep], hi[keep]
        t0, t1 = layout.times[first][:, None], layout.times[last][:, None]
        v0, v1 = values[first], values[last]
        result = v1 - v0
        sampled = t1 - t0
        average = sampled / (last - first)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            to_zero = np.where(result > 0, sampled * v0 / result, np.inf)
        to_start = np.minimum(t0 - start, to_zero)  # v0 >= 0 always: counters
        to_end = end - t1
        threshold = average * 1.1
        span = sampled + np.where(to_start < threshold, to_start, average / 2)
        span = span + np.where(to_end < threshold, to_end, average / 2)
        return np.asarray((result * span / sampled).sum(axis=0))


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
