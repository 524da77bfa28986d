"""What the sequential judge tells people: one row per question, and how long it will take.

Pure; called by ``sequential`` for every verdict. The rows are what ``rollout
status`` and the notifications show: what was measured on the canary, the same
on stable beside it, the line it is held to, and how far the evidence has come
towards a rollback and towards 100% (as a share of what is needed, on a log scale:
an e-value's logarithm grows about linearly with the requests seen).

The time estimate (:func:`seconds_to_decide`) extrapolates the current step: the
evidence each test gathered in the step so far, per second, at its best-fitting
alternative, is how fast it will go on gathering it at the same traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rollout.analysis.evalues import Pair, e_value
from rollout.analysis.observations import Counts
from rollout.analysis.verdicts import Step
from rollout.model import MetricVerdict, parse_duration

MAX_ESTIMATE_S = 7 * 24 * 3600.0
SLOW_SHARE = 0.01  # "P99 under a bound" = at most 1% of requests above it


def needed_for_worse(name: str, floored: bool) -> tuple[str, ...]:
    """The tests that must all say "worse" for test ``name`` to count as worse: when the
    noise floor sets the bound (``floored``), slow requests count only with the canary's
    P99 above the floor too. The one statement of the rule, for the verdict
    (``rollout.analysis.sequential``) and for the time estimate here."""
    return (name, "latencyFloor") if floored and name == "latency" else (name,)


@dataclass(frozen=True)
class Reading:
    """The step's (deflated) counts and the latency bounds the tests use."""

    canary: Counts
    stable: Counts
    bound_ms: float | None  # stable's P99 bucket (fixed at the run's first look) or the floor's
    slo_bound_ms: float | None  # the bucket at or above maxP99Ms
    elapsed_s: float
    floored: bool = False  # latencyFloorMs set bound_ms: "worse" also needs the canary's P99 above


def progress(e: float, target: float) -> float:
    """How far an e-value has come towards ``target``, 0..1 on a log scale."""
    if e <= 1 or target <= 1:
        return 0.0
    return round(min(1.0, math.log(e) / math.log(target)), 3)


def _rate(counts: Counts) -> float | None:
    return counts.errors / counts.requests if counts.has_data else None


def _slow(counts: Counts, bound: float | None) -> float | None:
    return counts.share_above(bound) if bound is not None and counts.has_data else None


def rows(
    step: Step,
    reading: Reading,
    worse: dict[str, float],
    fine: dict[str, float],
    fail_at: dict[str, float],
    pass_at: float,
    routes: dict[str, tuple[str, ...]],
    failing: list[str],
) -> list[MetricVerdict]:
    """The verdict's rows: 5xx and slow requests against stable, then the two SLOs."""
    a, canary, stable = step.analysis, reading.canary, reading.stable
    n = int(canary.requests)

    def row(
        name: str, test: str, value: float | None, threshold: float | None, **extra: object
    ) -> MetricVerdict:
        metric = "errors" if test in ("errors", "errorSlo") else "latency"
        promoted = sum(fine[r] for r in routes[metric]) / len(routes[metric])
        outcome = "fail" if test in failing else "pass" if promoted >= pass_at else "nodata"
        return MetricVerdict.model_validate(
            {
                "name": name,
                "value": None if value is None else round(value, 6),
                "threshold": None if threshold is None else round(threshold, 6),
                "samples": n,
                "outcome": outcome,
                "regression": progress(worse[test], fail_at[test]),
                "promotion": progress(promoted, pass_at),
                **extra,
            }
        )

    stable_rate = _rate(stable)
    bound = reading.bound_ms
    slow_stable = _slow(stable, bound)
    tolerance = 1 + a.tolerance
    slow_limit = None if slow_stable is None else slow_stable * tolerance
    if slow_limit is not None and reading.floored:  # and the canary's P99 above the floor
        slow_limit = max(slow_limit, SLOW_SHARE)
    out = [
        row(
            "5xx ratio",
            "errors",
            _rate(canary),
            None if stable_rate is None else stable_rate * tolerance,
            stable=None if stable_rate is None else round(stable_rate, 6),
            unit="ratio",
        ),
        row(
            f"requests slower than {bound:g} ms" if bound is not None else "slow requests",
            "latency",
            _slow(canary, bound),
            slow_limit,
            stable=None if slow_stable is None else round(slow_stable, 6),
            unit="ratio",
        ),
        row("5xx ratio (SLO)", "errorSlo", _rate(canary), a.max_error_rate, unit="ratio"),
        row(
            "P99 (SLO)",
            "latencySlo",
            canary.quantile(0.99) if canary.has_data else None,
            a.max_p99_ms,
            unit="ms",
        ),
    ]
    # Errors and latency as a whole are shown on their comparison rows; the SLO rows
    # only say "pass" when they were the route that proved the metric at 100%.
    if step.stage.weight < 100:
        out[2] = out[2].model_copy(update={"promotion": None})
        out[3] = out[3].model_copy(update={"promotion": None})
    return out


def _per_second(pair: np.ndarray, elapsed_s: float) -> float:
    """How fast a test gathered evidence in this step: its best alternative's log-ratio."""
    if elapsed_s <= 0 or len(pair) == 0:
        return 0.0
    return max(0.0, float(np.max(pair))) / elapsed_s


def _time_to(e: float, target: float, speed: float) -> float:
    if e >= target:
        return 0.0
    if speed <= 0:
        return math.inf
    return (math.log(target) - math.log(max(e, 1e-300))) / speed


def seconds_to_decide(
    step: Step,
    reading: Reading,
    current: dict[str, Pair],
    worse: dict[str, float],
    fine: dict[str, float],
    fail_at: dict[str, float],
    pass_at: float,
    routes: dict[str, tuple[str, ...]],
) -> float | None:
    """About how long until this step can be decided, at the current traffic; None when
    no evidence is building either way (no traffic, or no events to learn from)."""
    elapsed = reading.elapsed_s
    stage = step.stage
    left = max(0.0, parse_duration(stage.duration).total_seconds() - elapsed)
    speed = reading.canary.requests / elapsed if elapsed > 0 else 0.0
    missing = max(0.0, stage.min_requests - reading.canary.requests)
    if missing:
        left = max(left, missing / speed if speed > 0 else math.inf)
    to_pass = left
    if step.gate or stage.weight >= 100:
        # A metric passes when the mean of its routes' e-values reaches pass_at: counted
        # here as the quickest route carrying the mean alone (never an early "now").
        slowest = max(
            min(
                _time_to(fine[r], pass_at * len(names), _per_second(current[r][1], elapsed))
                for r in names
            )
            for names in routes.values()
        )
        to_pass = max(left, slowest)
    # A regression's evidence: only tests whose step so far leans towards "worse". Above
    # the noise floor, slow requests are worse only with the canary's P99 above it too:
    # both tests must get there.
    to_fail = math.inf
    for name in fail_at:
        tests = needed_for_worse(name, reading.floored)
        if all(e_value(current[t][0]) > 1 for t in tests):
            to_fail = min(
                to_fail,
                max(
                    _time_to(worse[t], fail_at[name], _per_second(current[t][0], elapsed))
                    for t in tests
                ),
            )
    estimate = min(to_pass, to_fail)
    return None if math.isinf(estimate) else round(min(estimate, MAX_ESTIMATE_S), 1)
