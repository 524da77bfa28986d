"""The threshold judge (``analysis.judge: threshold``, the first default): SLO thresholds and
canary-versus-stable, from an observation to a verdict.

Pure. Each metric is judged on the step so far (since the step started):

* ``requests``: the canary has served at least the stage's minimum; below it
  nothing else can pass or fail (a handful of requests proves nothing);
* ``error-rate`` and ``p99-latency``: the canary against ``maxErrorRate`` and
  ``maxP99Ms``;
* ``error-rate-vs-stable`` and ``p99-vs-stable`` (``compareWithStable``, the
  latter from 1,000 canary requests on): the
  canary no worse than stable beyond ``tolerance`` (plus a small absolute
  slack, so 0 errors against 1 is not a regression; and a P99 in the same
  histogram bucket as stable's is never "worse": buckets are the resolution;
  nor is one at or under the bucket of ``latencyFloorMs``, capped at ``maxP99Ms``:
  below it latency differences are noise);
* each custom check within its ``min``/``max``.

The verdict is *fail* if any metric fails, *pass* if every metric passes, and
*inconclusive* otherwise: missing data is never a pass. When stable breaks the
same SLO as the canary and the canary is no worse than stable, the incident is
common to both: the verdict holds (inconclusive) and says so instead of blaming
the canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rollout.analysis.observations import Counts, Observation, Unavailable, bound_at_or_above
from rollout.analysis.verdicts import Step, unavailable
from rollout.model import Analysis, MetricVerdict, Stage, Verdict

LATENCY_SLACK_MS = 5.0
QUANTILE_SAMPLES = 1000
"""Below this many canary requests a P99 is little more than its slowest few requests:
it is held to the SLO, but not compared with stable's (judge v2 tests exceedances)."""


@dataclass(frozen=True)
class _Metric:
    name: str
    value: float | None
    threshold: float | None
    samples: int
    ok: bool | None  # None: no data
    op: Literal["<=", ">="] = "<="

    def verdict(self) -> MetricVerdict:
        outcome = "nodata" if self.ok is None else ("pass" if self.ok else "fail")
        return MetricVerdict(
            name=self.name,
            value=self.value,
            threshold=self.threshold,
            samples=self.samples,
            op=self.op,
            outcome=outcome,
        )


def _at_most(name: str, value: float | None, limit: float | None, samples: int) -> _Metric:
    ok = None if value is None or limit is None else value <= limit
    return _Metric(name, value, limit, samples, ok)


def _floor_bound(stable: Counts, floor_ms: float) -> float:
    """The bucket at or above the noise floor: a canary P99 under it is never worse than
    stable's (0 without a floor; the floor itself above the highest finite bucket)."""
    if floor_ms <= 0:
        return 0.0
    return bound_at_or_above(stable.buckets, floor_ms) or floor_ms


def threshold_judge(observed: Observation | Unavailable, step: Step) -> Verdict:
    """The verdict for one evaluation of the current stage (the Judge port)."""
    return judge(observed, step.analysis, step.stage)


def judge(
    observed: Observation | Unavailable,
    analysis: Analysis,
    stage: Stage,
) -> Verdict:
    """The verdict for one evaluation of ``stage``."""
    if isinstance(observed, Unavailable):
        return unavailable(observed)
    canary, stable = observed.canary.step, observed.stable.step
    n = int(canary.requests)
    need = stage.min_requests
    enough = True if n >= need else None
    metrics = [_Metric("requests", canary.requests, float(need), n, enough, ">=")]
    if n < need or not canary.has_data:
        reason = f"{n} canary requests so far, {need} needed"
        return _verdict(observed, metrics, n, reason)
    rate, p99 = canary.error_rate, canary.quantile(0.99)
    metrics.append(_at_most("error-rate", rate, analysis.max_error_rate, n))
    metrics.append(_at_most("p99-latency", p99, analysis.max_p99_ms, n))
    common: list[str] = []
    if analysis.compare_with_stable:
        m = int(stable.requests)
        slack = 1 + analysis.tolerance
        s_rate, s_p99 = stable.error_rate, stable.quantile(0.99)
        rate_limit = None if s_rate is None else s_rate * slack + 0.1 * analysis.max_error_rate
        p99_limit = (
            None
            if s_p99 is None
            # A P99 read from buckets is only known to its bucket: in stable's is no worse;
            # nor is one under the noise floor's bucket (latencyFloorMs).
            else max(
                s_p99 * slack + LATENCY_SLACK_MS,
                bound_at_or_above(stable.buckets, s_p99) or s_p99,
                _floor_bound(stable, analysis.noise_floor_ms),
            )
        )
        vs_rate = _at_most("error-rate-vs-stable", rate, rate_limit, m)
        vs_p99 = _at_most("p99-vs-stable", p99, p99_limit, m)
        if stage.weight < 100 or stable.has_data:  # at 100% no stable traffic is left
            metrics.append(vs_rate)
            if n >= QUANTILE_SAMPLES:
                metrics.append(vs_p99)
        if s_rate is not None and s_rate > analysis.max_error_rate and vs_rate.ok:
            common.append("error-rate")
        if s_p99 is not None and s_p99 > analysis.max_p99_ms and vs_p99.ok:
            common.append("p99-latency")
    for check in analysis.custom_checks:
        value = observed.checks.get(check.name)
        ok: bool | None = None
        op: Literal["<=", ">="] = "<=" if check.max is not None else ">="
        threshold = check.max if check.max is not None else check.min
        if value is not None:
            low_ok = check.min is None or value >= check.min
            ok = low_ok and (check.max is None or value <= check.max)
            if not low_ok:
                op, threshold = ">=", check.min
        metrics.append(_Metric(check.name, value, threshold, n, ok, op))
    if common:
        held = [
            _Metric(m.name, m.value, m.threshold, m.samples, None) if m.name in common else m
            for m in metrics
        ]
        reason = f"common-mode incident: stable breaks {', '.join(common)} too"
        return _verdict(observed, held, n, reason)
    return _verdict(observed, metrics, n, "")


def _broken(v: MetricVerdict) -> str:
    if v.value is None or v.threshold is None:
        return v.name
    word = "above" if v.op == "<=" else "below"
    return f"{v.name} {v.value:g} {word} {v.threshold:g}"


def _verdict(observed: Observation, metrics: list[_Metric], n: int, reason: str) -> Verdict:
    verdicts = [m.verdict() for m in metrics]
    failing = [v for v in verdicts if v.outcome == "fail" and v.name != "requests"]
    if failing:
        outcome = "fail"
        reason = reason or ", ".join(_broken(v) for v in failing)
    elif all(v.outcome == "pass" for v in verdicts):
        outcome = "pass"
    else:
        outcome = "inconclusive"
        missing = [v.name for v in verdicts if v.outcome == "nodata"]
        reason = reason or f"no data for {', '.join(missing)}"
    return Verdict(
        outcome=outcome,
        at=observed.at,
        canary_requests=n,
        no_data=n == 0,
        reason=reason,
        metrics=verdicts,
    )
