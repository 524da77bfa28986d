"""The judges ours is compared with, each as its makers describe it, on the same data.

* ``flagger`` / ``flagger_thr1``: every minute, the canary's success rate and P99
  over the last minute against fixed thresholds (success rate >= 1 - the SLO's
  5xx rate, 99% by default; P99 <= 500 ms); a failed check (no data is a failed
  check) counts towards a run-long threshold (5, or 1); the iteration after the
  threshold is reached rolls back; a passing check advances one step.
* ``kayenta``: Netflix's canary judge: at the end of each 5-minute step, a
  Mann-Whitney test (98% confidence, two-sided) of the canary's and stable's
  5xx ratio and P99 over 30 s intervals; a metric whose canary mean is more
  than 25% above stable's and significantly different fails; any failure
  (score 50 < 75) rolls back.
* ``naive_z``: a one-sided two-proportion z-test (alpha 0.01) at every scrape on
  the step's 5xx and on requests above stable's P99 bucket: the classic
  repeated fixed-sample test.
* ``wald_oracle``: Wald's SPRT with the true rates (canary's and stable's 5xx and
  share above stable's P99 bucket), counting every canary request up to the
  last scrape, from the regression's onset: the floor no judge can beat.

All but Flagger promote on time (one minute per step, 100 canary requests).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.stats import mannwhitneyu

from bench.judge.scenarios import BOUNDS, TOLERANCE, Scenario, share_above
from bench.judge.traffic import Path, as_counts
from rollout.analysis.observations import bound_at_or_above

Move = Literal["advance", "rollback", "succeed"]
STEPS = (5, 25, 50, 100)
STEP_S = 60
MIN_REQUESTS = 100


def _p99(values: np.ndarray) -> float | None:
    return as_counts(values).quantile(0.99)


class _Steps:
    """Where a rival's rollout is: the step index and when it started."""

    def __init__(self) -> None:
        self.index, self.started = 0, 0

    def move(self, t: int) -> Move:
        self.started = t
        if self.index == len(STEPS) - 1:
            return "succeed"
        self.index += 1
        return "advance"

    @property
    def weight(self) -> int:
        return STEPS[self.index]


class Flagger:
    """Flagger's defaults: a check a minute, rolled back after five failed checks."""

    every_s = 60

    def __init__(self, scenario: Scenario, threshold: int = 5) -> None:
        self.name = "flagger" if threshold == 5 else f"flagger_thr{threshold}"
        self.threshold, self.failed = threshold, 0
        self.min_success = 1 - scenario.slo_error
        self.steps = _Steps()

    def look(self, t: int, path: Path) -> Move | None:
        if self.failed >= self.threshold:
            return "rollback"
        last = path.increase("canary", t - 60, t)
        ok = last is not None and last[0] > 0
        if ok and last is not None:
            p99 = _p99(last)
            ok = 1 - last[1] / last[0] >= self.min_success and p99 is not None and p99 <= 500
        if not ok:
            self.failed += 1
            return None
        return self.steps.move(t)


class Kayenta:
    """Kayenta's Mann-Whitney judge on 30 s points over five-minute steps."""

    name = "kayenta"
    every_s = 30
    step_s = 300

    def __init__(self, scenario: Scenario) -> None:
        self.steps = _Steps()
        self.points: dict[str, list[tuple[float, float]]] = {"stable": [], "canary": []}

    def look(self, t: int, path: Path) -> Move | None:
        for version, points in self.points.items():
            window = path.increase(version, t - 30, t)
            p99 = _p99(window) if window is not None else None
            if window is not None and window[0] > 0 and p99 is not None:
                points.append((window[1] / window[0], p99))
        if t - self.steps.started < self.step_s:
            return None
        canary, stable = self.points["canary"], self.points["stable"]
        self.points = {"stable": [], "canary": []}
        for metric in (0, 1):
            a, b = [p[metric] for p in canary], [p[metric] for p in stable]
            if len(a) < 3 or len(b) < 3:
                continue  # no data for this metric: Kayenta leaves it out of the score
            if np.mean(a) <= np.mean(b) * 1.25 or len(set(a) | set(b)) < 2:
                continue
            if mannwhitneyu(a, b, alternative="two-sided").pvalue < 0.02:
                return "rollback"
        return self.steps.move(t)


class _Fixed:
    """Stable's P99 bucket from the first look that has stable data, as ours does."""

    bound: float | None = None

    def fix(self, stable: np.ndarray | None) -> float | None:
        p99 = _p99(stable) if stable is not None and stable[0] > 0 else None
        if self.bound is None and p99 is not None:
            self.bound = bound_at_or_above(as_counts(stable).buckets, p99)
        return self.bound


def _above(values: np.ndarray, bound: float | None) -> float:
    """Requests slower than ``bound``."""
    share = as_counts(values).share_above(bound) if bound is not None else None
    return 0.0 if share is None else share * float(values[0])


class NaiveZ:
    """A fixed-sample z-test repeated at every scrape (peeking)."""

    name = "naive_z"
    z = 2.326  # one-sided alpha = 0.01 for a single look

    def __init__(self, scenario: Scenario) -> None:
        self.steps, self.fixed = _Steps(), _Fixed()
        self.every_s = scenario.scrape_s

    def look(self, t: int, path: Path) -> Move | None:
        canary = path.increase("canary", self.steps.started, t)
        stable = path.increase("stable", self.steps.started, t)
        bound = self.fixed.fix(stable)
        if canary is not None and stable is not None and canary[0] > 0 and stable[0] > 0:
            pairs = ((canary[1], stable[1]), (_above(canary, bound), _above(stable, bound)))
            for x, y in pairs:
                if _z(x, canary[0], y, stable[0]) > self.z:
                    return "rollback"
        served = 0.0 if canary is None else canary[0]
        if t - self.steps.started >= STEP_S and served >= MIN_REQUESTS:
            return self.steps.move(t)
        return None


def _z(x: float, n: float, y: float, m: float) -> float:
    pooled = (x + y) / (n + m)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m)) if 0 < pooled < 1 else 0.0
    return (x / n - y / m) / spread if spread > 0 else 0.0


class WaldOracle:
    """Wald's SPRT told the true rates: the floor for how fast a judge can be."""

    name = "wald_oracle"

    def __init__(self, scenario: Scenario, alpha: float = 0.01) -> None:
        self.steps, self.onset = _Steps(), int(scenario.onset_s)
        self.every_s = scenario.scrape_s
        self.limit = math.log(2 / alpha)  # two tests, alpha split evenly
        stable = scenario.bucket_shares(canary=False)
        bound = min(le for le in BOUNDS if le != math.inf and share_above(stable, le) <= 0.01)
        self.bound = bound
        p_err, q_err = scenario.base_error, scenario.base_error * scenario.error_ratio
        p_lat = share_above(stable, bound)
        q_lat = share_above(scenario.bucket_shares(canary=True), bound)
        # Healthy canaries: test the design's smallest effect worth catching, 2x.
        # A rate of zero (a service without 5xx) leaves nothing to test.
        self.tests = [
            (p, q if q > p * (1 + TOLERANCE) else min(0.99, 2 * p)) if p > 0 else None
            for p, q in ((p_err, q_err), (p_lat, q_lat))
        ]

    def look(self, t: int, path: Path) -> Move | None:
        scraped = path.world.scrapes["canary"]
        last = int(scraped[np.searchsorted(scraped, t, side="right") - 1]) if scraped[0] <= t else 0
        if last > self.onset:
            seen = path.served("canary", int(last)) - path.served("canary", self.onset)
            # It knows the truth: a common-mode incident is nobody's regression.
            start, end = path.world.incident
            if start < last:
                seen = seen - (
                    path.served("canary", min(end, int(last))) - path.served("canary", start)
                )
            n = seen[0]
            events = (seen[1], _above(seen, self.bound))
            for test, k in zip(self.tests, events, strict=True):
                if test is None:
                    continue
                p, q = test
                llr = k * math.log(q / p) + (n - k) * math.log((1 - q) / (1 - p))
                if llr >= self.limit:
                    return "rollback"
        if t - self.steps.started >= STEP_S:
            return self.steps.move(t)
        return None
