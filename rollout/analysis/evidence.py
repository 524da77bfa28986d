"""Judge v2 (``analysis.judge: sequential``): verdicts from e-processes. Pure.

Each evaluation adds what happened since the last one (differences of the
step's cumulative counts, so nothing is counted twice) to four sequential tests kept for
the whole run (so evidence carries across steps): canary vs stable 5xx, canary
vs stable requests above a latency bound (the stable P99's bucket, fixed at the
run's first evaluation), the canary's 5xx rate against ``maxErrorRate`` and its
share above the SLO's bucket against 1%. The run's error budget ``alpha`` is
split evenly between them.

* fail: any test's "worse" e-value reaches ``4/alpha``, at any evaluation;
* pass: positive evidence on both errors (vs stable, or under the SLO) and
  latency (vs stable, or under the SLO), with the stage's minimum requests;
* otherwise inconclusive: the step is extended, up to ``maxInconclusive``.

The tests' state (a few numbers each) travels in the verdict into the status.
"""

from __future__ import annotations

import math
from typing import Any

from rollout.analysis.observations import Counts, Observation, Unavailable
from rollout.analysis.sequential import RateTest, RatioTest, _Mixture
from rollout.model import Analysis, MetricVerdict, Stage, Verdict

TESTS = 4
LATENCY_SHARE = 0.01  # "P99 under the SLO" = at most 1% of requests above its bucket


def _bound_at_or_above(buckets: tuple[tuple[float, float], ...], value: float) -> float | None:
    finite = [le for le, _ in buckets if le != math.inf and le >= value]
    return min(finite) if finite else None


def _above(counts: Counts, bound: float | None) -> float:
    share = counts.share_above(bound) if bound is not None else None
    return 0.0 if share is None else share * counts.requests


def _load(state: dict[str, Any] | None, analysis: Analysis) -> dict[str, Any]:
    state = dict(state or {})
    tests: dict[str, RatioTest | RateTest] = {
        "errors": RatioTest(delta=analysis.tolerance),
        "latency": RatioTest(delta=analysis.tolerance),
        "errorSlo": RateTest(limit=analysis.max_error_rate),
        "latencySlo": RateTest(limit=LATENCY_SHARE),
    }
    for name, test in tests.items():
        saved = state.get(name) or {}
        if saved:
            test.worse = _Mixture(list(saved["worse"]))
            test.fine = _Mixture(list(saved["fine"]))
    state["tests"] = tests
    return state


def _dump(state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k != "tests"}
    for name, test in state["tests"].items():
        out[name] = {
            "worse": [round(x, 6) for x in test.worse.log_lr],
            "fine": [round(x, 6) for x in test.fine.log_lr],
        }
    return out


def _since(now: Counts, before: dict[str, Any] | None) -> Counts:
    """What happened between two readings of the same step's cumulative counts."""
    if not before:
        return now
    past = {float(le): c for le, c in (before.get("buckets") or {}).items()}
    buckets = tuple((le, max(0.0, c - past.get(le, 0.0))) for le, c in now.buckets)
    return Counts(
        requests=max(0.0, now.requests - before.get("requests", 0.0)),
        errors=max(0.0, now.errors - before.get("errors", 0.0)),
        buckets=buckets,
    )


def _increments(
    state: dict[str, Any], observed: Observation, step_started_at: str
) -> tuple[Counts, Counts]:
    """This evaluation's new requests per version: the step's counts minus those already
    counted (windows could overlap or leave gaps; differences of one cumulative cannot)."""
    seen = state.get("seen") if state.get("step") == step_started_at else None
    canary = _since(observed.canary.step, (seen or {}).get("canary"))
    stable = _since(observed.stable.step, (seen or {}).get("stable"))
    state["step"] = step_started_at
    state["seen"] = {
        # Bounds as text: JSON has no infinity, and +Inf is a bucket like any other here.
        name: {
            "requests": c.requests,
            "errors": c.errors,
            "buckets": {str(le): count for le, count in c.buckets},
        }
        for name, c in (("canary", observed.canary.step), ("stable", observed.stable.step))
    }
    return canary, stable


def sequential_judge(
    observed: Observation | Unavailable,
    analysis: Analysis,
    stage: Stage,
    evidence: dict[str, Any] | None,
    alpha: float = 0.01,
    step_started_at: str = "",
) -> Verdict:
    """The verdict for this evaluation, with the updated evidence inside it."""
    if isinstance(observed, Unavailable):
        return Verdict(
            outcome="inconclusive",
            at=observed.at,
            no_data=True,
            evidence=evidence,
            reason=f"Prometheus unavailable: {observed.reason}",
        )
    state = _load(evidence, analysis)
    tests = state["tests"]
    canary, stable = _increments(state, observed, step_started_at)
    if state.get("boundMs") is None and stable.has_data:
        p99 = stable.quantile(0.99)
        state["boundMs"] = _bound_at_or_above(stable.buckets, p99) if p99 is not None else None
    slo_bound = _bound_at_or_above(canary.buckets or stable.buckets, analysis.max_p99_ms)
    tests["errors"].update(canary.errors, canary.requests, stable.errors, stable.requests)
    tests["latency"].update(
        _above(canary, state.get("boundMs")),
        canary.requests,
        _above(stable, state.get("boundMs")),
        stable.requests,
    )
    tests["errorSlo"].update(canary.errors, canary.requests)
    tests["latencySlo"].update(_above(canary, slo_bound), canary.requests)
    threshold = TESTS / alpha
    n = int(observed.canary.step.requests)
    metrics = [
        MetricVerdict(
            name=f"e-{name}",
            value=round(test.worse_e(), 3),
            threshold=threshold,
            samples=n,
            outcome="fail"
            if test.worse_e() >= threshold
            else ("pass" if test.fine_e() >= threshold else "nodata"),
        )
        for name, test in tests.items()
    ]
    failing = [m.name for m in metrics if m.outcome == "fail"]

    def fine(*names: str) -> bool:
        return any(tests[name].fine_e() >= threshold for name in names)

    if failing:
        outcome, reason = "fail", "sequential evidence of a regression: " + ", ".join(failing)
    elif n >= stage.min_requests and fine("errors", "errorSlo") and fine("latency", "latencySlo"):
        outcome, reason = "pass", "positive evidence on errors and latency"
    else:
        outcome, reason = "inconclusive", "not enough evidence either way yet"
    return Verdict(
        outcome=outcome,
        at=observed.at,
        canary_requests=n,
        no_data=not canary.has_data and n == 0,
        reason=reason,
        metrics=metrics,
        evidence=_dump(state),
    )
