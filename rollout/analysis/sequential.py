"""The sequential judge (``analysis.judge: sequential``): verdicts from e-processes. Pure.

Four sequential tests run for the whole rollout, so evidence carries across
steps: canary vs stable 5xx, canary vs stable requests above a latency bound
(the stable P99's bucket, fixed at the run's first evaluation), the canary's
5xx rate against ``maxErrorRate`` and its share above the SLO's bucket against
1%. The run's error budget ``alpha`` is split between them (:data:`ALPHA_SHARE`).

Each evaluation computes the current step's likelihood ratios from the step's
cumulative counts (``increase`` over the step): the canary's share of traffic
is constant within a step, so the step's counts are a sufficient summary, and
no period is counted twice. When a new step starts, the finished step's ratios
are folded into the run's. Prometheus's ``increase`` extrapolates to the ends
of the range, inflating counts early in a step (up to 2x at 30 s with 15 s
scrapes): counts are deflated by the most that extrapolation can add
(:func:`extrapolation_bound`), which keeps the tests valid.

* fail: any test's "worse" e-value reaches ``1/(alpha * share)``, at any evaluation,
  except an SLO test while stable, at the canary's volume, breaks the same SLO
  (a common-mode incident: held, as the threshold judge does) or at a 100% stage, where
  no stable traffic is left to tell a regression from an incident (held too:
  ``onInconclusive`` decides once ``maxInconclusive`` is exceeded);
* pass: positive evidence (e >= ``2/alpha``: a bad canary passes a step through
  one of two tests, each at ``alpha/2``), from the current step's data, on both errors (vs
  stable, or under the SLO) and latency (vs stable, or under the SLO), with the
  stage's minimum requests; the step's minimum time is the engine's to enforce;
* otherwise inconclusive: the step is extended, up to ``maxInconclusive``.

The state (:class:`~rollout.model.Evidence`, 16 numbers per test and direction)
travels in the verdict into the status. The e-value maths is in ``evalues``.
"""

from __future__ import annotations

import math

import numpy as np

from rollout.analysis.evalues import GRID, Pair, e_value, rate_log_lr, ratio_log_lr
from rollout.analysis.observations import Counts, Observation, Unavailable, bound_at_or_above
from rollout.analysis.verdicts import Step, unavailable
from rollout.model import Analysis, Evidence, LogLikelihoods, MetricVerdict, Stage, Verdict

TESTS = ("errors", "latency", "errorSlo", "latencySlo")
SUSPICIOUS = 1.0
ALPHA_SHARE = {"errors": 0.4, "latency": 0.4, "errorSlo": 0.1, "latencySlo": 0.1}
"""How the run's alpha is split: most to the comparisons with stable, which must catch
small effects early; an SLO breach is usually large and affords a higher bar."""
STABLE = {"errorSlo": "stableErrorSlo", "latencySlo": "stableLatencySlo"}
LATENCY_SHARE = 0.01  # "P99 under the SLO" = at most 1% of requests above its bucket


def extrapolation_bound(range_s: float, scrape_s: float) -> float:
    """The most ``increase(x[range_s])`` can exceed the true increase by, scrapes every
    ``scrape_s``: the range holds at least ``floor(range/scrape)`` samples, and
    Prometheus stretches their span to the whole range."""
    if scrape_s <= 0 or range_s <= scrape_s:
        return 1.0
    sampled = max(scrape_s, (math.floor(range_s / scrape_s) - 1) * scrape_s)
    return max(1.0, range_s / sampled)


def _deflate(counts: Counts, factor: float) -> Counts:
    return Counts(
        requests=counts.requests / factor,
        errors=counts.errors / factor,
        buckets=tuple((le, c / factor) for le, c in counts.buckets),
    )


def _above(counts: Counts, bound: float | None) -> float:
    share = counts.share_above(bound) if bound is not None else None
    return 0.0 if share is None else share * counts.requests


def _pairs(saved: dict[str, LogLikelihoods]) -> dict[str, Pair]:
    return {
        name: (np.array(ll.worse, dtype=float), np.array(ll.fine, dtype=float))
        for name, ll in saved.items()
        if len(ll.worse) == GRID and len(ll.fine) == GRID  # another grid: start afresh
    }


def _plain(pairs: dict[str, Pair]) -> dict[str, LogLikelihoods]:
    return {
        name: LogLikelihoods(
            worse=[round(float(x), 4) for x in w], fine=[round(float(x), 4) for x in f]
        )
        for name, (w, f) in pairs.items()
    }


def _step_pairs(
    canary: Counts, stable: Counts, bound: float | None, slo_bound: float | None, a: Analysis
) -> dict[str, Pair]:
    """The current step's likelihood ratios, from its (deflated) cumulative counts."""
    match = canary.requests / stable.requests if stable.has_data else 0.0
    return {
        "errors": ratio_log_lr(
            a.tolerance, canary.errors, canary.requests, stable.errors, stable.requests
        ),
        "latency": ratio_log_lr(
            a.tolerance,
            _above(canary, bound),
            canary.requests,
            _above(stable, bound),
            stable.requests,
        ),
        "errorSlo": rate_log_lr(a.max_error_rate, canary.errors, canary.requests),
        "latencySlo": rate_log_lr(LATENCY_SHARE, _above(canary, slo_bound), canary.requests),
        # Stable's data at the canary's volume: a common-mode incident gives both the same
        # evidence against the SLO, whatever their shares of traffic.
        "stableErrorSlo": rate_log_lr(a.max_error_rate, stable.errors * match, canary.requests),
        "stableLatencySlo": rate_log_lr(
            LATENCY_SHARE, _above(stable, slo_bound) * match, canary.requests
        ),
    }


def sequential_judge(observed: Observation | Unavailable, step: Step) -> Verdict:
    """The verdict for this evaluation, with the updated evidence inside it (the Judge port)."""
    analysis, evidence, started = step.analysis, step.evidence, step.started_at
    if isinstance(observed, Unavailable):
        return unavailable(observed, evidence)
    state = evidence or Evidence()
    done, current = _pairs(state.done), _pairs(state.current)
    step_key = started.isoformat() if started else ""
    if state.step != step_key:  # a new step: the last one's evidence is final
        for name, (worse, fine) in current.items():
            before = done.get(name, (np.zeros(GRID), np.zeros(GRID)))
            done[name] = (before[0] + worse, before[1] + fine)
    range_s = math.ceil((observed.at - started).total_seconds()) if started else 0
    factor = extrapolation_bound(range_s, step.scrape_interval_s)
    canary = _deflate(observed.canary.step, factor)
    stable = _deflate(observed.stable.step, factor)
    bound = state.bound_ms
    if bound is None and stable.has_data:
        p99 = stable.quantile(0.99)
        bound = bound_at_or_above(stable.buckets, p99) if p99 is not None else None
    slo_bound = bound_at_or_above(canary.buckets or stable.buckets, analysis.max_p99_ms)
    current = _step_pairs(canary, stable, bound, slo_bound, analysis)
    total = {
        name: (done[name][0] + w, done[name][1] + f) if name in done else (w, f)
        for name, (w, f) in current.items()
    }
    new_state = Evidence(step=step_key, bound_ms=bound, done=_plain(done), current=_plain(current))
    alpha = analysis.alpha
    thresholds = {name: 1 / (alpha * share) for name, share in ALPHA_SHARE.items()}
    return _verdict(observed, step.stage, total, current, thresholds, 2 / alpha, new_state)


def _verdict(
    observed: Observation,
    stage: Stage,
    total: dict[str, Pair],
    current: dict[str, Pair],
    threshold: dict[str, float],
    fine_threshold: float,
    state: Evidence,
) -> Verdict:
    worse = {name: e_value(pair[0]) for name, pair in total.items()}
    # Positive evidence from this step alone: a canary that turned bad after earning it
    # in an earlier step must earn it again.
    fine = {name: e_value(pair[1]) for name, pair in current.items()}
    # Common mode: stable's own rate, at the canary's volume, is above the same SLO
    # (some alternative above the SLO fits stable's data better than the SLO does).
    # At 100% stable serves nothing: a breach cannot be told from an incident (held, and
    # analysis.onInconclusive decides after maxInconclusive evaluations).
    common = [
        name
        for name in STABLE
        if worse[name] >= threshold[name]
        and (stage.weight >= 100 or float(np.max(total[STABLE[name]][0])) > 0)
    ]
    n = int(observed.canary.step.requests)
    metrics = [
        MetricVerdict(
            name=f"e-{name}",
            value=round(worse[name], 3),
            threshold=round(threshold[name], 3),
            samples=n,
            outcome="nodata"
            if name in common
            else "fail"
            if worse[name] >= threshold[name]
            else ("pass" if fine[name] >= fine_threshold else "nodata"),
        )
        for name in TESTS
    ]
    failing = [m.name for m in metrics if m.outcome == "fail"]
    # Not a test, a brake: no promotion while the comparison with stable leans towards
    # "worse" (its e-value above 1, where a healthy canary's drifts down to 0).
    suspicious = [f"e-{name}" for name in ("errors", "latency") if worse[name] > SUSPICIOUS]

    def ok(*names: str) -> bool:
        return any(fine[name] >= fine_threshold for name in names)

    if failing:
        outcome, reason = "fail", "sequential evidence of a regression: " + ", ".join(failing)
    elif common and stage.weight >= 100:
        outcome = "inconclusive"
        reason = (
            f"{', '.join(common)} breached with no stable traffic to compare: "
            "a canary regression or a common-mode incident"
        )
    elif common:
        outcome = "inconclusive"
        reason = f"common-mode incident: stable breaks {', '.join(common)} too"
    elif suspicious:
        outcome = "inconclusive"
        reason = "evidence leans towards a regression: " + ", ".join(suspicious)
    elif n >= stage.min_requests and ok("errors", "errorSlo") and ok("latency", "latencySlo"):
        outcome, reason = "pass", "positive evidence on errors and latency"
    else:
        outcome, reason = "inconclusive", "not enough evidence either way yet"
    return Verdict(
        outcome=outcome,
        at=observed.at,
        canary_requests=n,
        no_data=not observed.canary.step.has_data,
        reason=reason,
        metrics=metrics,
        evidence=state,
    )
