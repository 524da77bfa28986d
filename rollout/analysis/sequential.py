"""The sequential judge (``analysis.judge: sequential``, the default): e-processes. Pure.

Sequential tests run for the whole rollout, so evidence carries across steps.
Each asks one question of the canary, in two directions:

* **is it worse?** than stable beyond ``tolerance`` (5xx ratio; share of requests
  slower than stable's P99 bucket, fixed at the run's first look), or than the SLOs
  (``maxErrorRate``; 1% of requests above the ``maxP99Ms`` bucket). Enough evidence
  (``1/(alpha * share)``, :data:`ALPHA_SHARE`) fails the step at any evaluation,
  however often the judge looks.
* **the noise floor** (``latencyFloorMs``, capped at ``maxP99Ms``): latency differences
  below it are not regressions. Slow means above stable's P99 bucket or the floor's
  bucket, whichever is higher (:func:`slow_bound`, at every look: the status keeps
  stable's P99 bucket, so a run in flight gets the floor from its next evaluation);
  when the floor's bucket is the bound, the canary is also worse only with more than
  1% of its requests above it (its P99 above the floor), as stable has next to none.
* **is it fine?** better than the ``mustCatch`` bounds: a 5xx ratio under
  ``mustCatch.errors`` times stable's (or under a quarter of the SLO), and under
  ``mustCatch.slowRequests`` times stable's share of slow requests (or under 1%).
  Enough evidence (``2/alpha``: two routes per metric) is what lets the canary reach
  100%; a canary at least as bad as those bounds gets there with chance at most alpha.

So the steps before the last one are short: they pass after their time and minimum
requests unless the evidence leans towards a regression; the step whose pass sends
the canary to 100% (``Step.gate``) waits for the "fine" evidence, gathered over the
whole run. At 100% no stable traffic is left: the step passes on evidence that the
SLOs hold.

A common-mode incident (stable, at the canary's volume, breaks the same SLO) fails
nothing: the comparison with stable decides; a finished step's SLO evidence from such
an incident is dropped, so it does not hold the 100% stage later. Each evaluation
works on the step's cumulative counts (``increase`` over the step), deflated by the
most Prometheus's extrapolation can add (:func:`extrapolation_bound`); a new step folds
the last one's evidence into the run's. The state (:class:`~rollout.model.Evidence`)
travels in the verdict into the status; the e-value maths is in ``evalues``, the
rows and the time estimate in ``explain``.
"""

from __future__ import annotations

import math

import numpy as np

from rollout.analysis.evalues import GRID, Pair, e_value, rate_log_lr, ratio_log_lr
from rollout.analysis.explain import (
    SLOW_SHARE,
    Reading,
    needed_for_worse,
    rows,
    seconds_to_decide,
)
from rollout.analysis.observations import (
    Buckets,
    Counts,
    Observation,
    Unavailable,
    bound_at_or_above,
)
from rollout.analysis.verdicts import Step, unavailable
from rollout.model import Analysis, Evidence, LogLikelihoods, Verdict

ALPHA_SHARE = {"errors": 0.4, "latency": 0.4, "errorSlo": 0.1, "latencySlo": 0.1}
"""How the run's alpha is split between the "worse" tests: most to the comparisons with
stable, which must catch small effects early; an SLO breach is usually large."""
STABLE = {"errorSlo": "stableErrorSlo", "latencySlo": "stableLatencySlo"}
ROUTES: dict[str, tuple[str, ...]] = {
    "errors": ("errors", "errorFloor"),
    "latency": ("latency", "latencyFloor"),
}
"""The two ways to show a metric fine for 100%: against stable, or in absolute terms."""
FLOOR = 0.25  # a 5xx ratio under a quarter of the SLO is never a regression worth catching
SUSPICIOUS = 1.0


def extrapolation_bound(range_s: float, scrape_s: float) -> float:
    """The most ``increase(x[range_s])`` can exceed the true increase by, scrapes every
    ``scrape_s``: the range holds at least ``floor(range/scrape)`` samples, and
    Prometheus stretches their span to the whole range."""
    if scrape_s <= 0 or range_s <= scrape_s:
        return 1.0
    sampled = max(scrape_s, (math.floor(range_s / scrape_s) - 1) * scrape_s)
    return max(1.0, range_s / sampled)


def slow_bound(
    p99_bound: float | None, buckets: Buckets, floor_ms: float
) -> tuple[float | None, bool]:
    """Where "slow" starts against stable, and whether the noise floor set it: stable's P99
    bucket, raised to the bucket at or above ``floor_ms`` (``latencyFloorMs``). None
    without stable's P99, or when no finite bucket reaches the floor (nothing above it
    can be told apart).

    >>> slow_bound(10.0, ((10.0, 99.0), (25.0, 100.0), (math.inf, 100.0)), 20.0)
    (25.0, True)
    >>> slow_bound(250.0, ((25.0, 60.0), (250.0, 99.0), (math.inf, 100.0)), 25.0)
    (250.0, False)
    """
    if p99_bound is None or floor_ms <= 0:
        return p99_bound, False
    # No counts this step (nothing is above any bound): the floor itself, for the rows.
    floor_bound = bound_at_or_above(buckets, floor_ms) if buckets else floor_ms
    if floor_bound is not None and floor_bound < p99_bound:
        return p99_bound, False
    return floor_bound, True


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
        name: LogLikelihoods(worse=np.round(w, 4).tolist(), fine=np.round(f, 4).tolist())
        for name, (w, f) in pairs.items()
    }


def _step_pairs(
    canary: Counts, stable: Counts, bound: float | None, slo_bound: float | None, a: Analysis
) -> dict[str, Pair]:
    """The current step's likelihood ratios, from its (deflated) cumulative counts."""
    match = canary.requests / stable.requests if stable.has_data else 0.0
    slo, worse = a.max_error_rate, 1 + a.tolerance
    slow_c, slow_s = _above(canary, bound), _above(stable, bound)
    return {
        "errors": ratio_log_lr(
            worse,
            a.must_catch.errors,
            canary.errors,
            canary.requests,
            stable.errors,
            stable.requests,
        ),
        "latency": ratio_log_lr(
            worse, a.must_catch.slow_requests, slow_c, canary.requests, slow_s, stable.requests
        ),
        "errorSlo": rate_log_lr(slo, slo, canary.errors, canary.requests),
        "latencySlo": rate_log_lr(
            SLOW_SHARE, SLOW_SHARE, _above(canary, slo_bound), canary.requests
        ),
        "errorFloor": rate_log_lr(slo, slo * FLOOR, canary.errors, canary.requests),
        "latencyFloor": rate_log_lr(SLOW_SHARE, SLOW_SHARE, slow_c, canary.requests),
        # Stable's data at the canary's volume: a common-mode incident gives both the same
        # evidence against the SLO, whatever their shares of traffic.
        "stableErrorSlo": rate_log_lr(slo, slo, stable.errors * match, canary.requests),
        "stableLatencySlo": rate_log_lr(
            SLOW_SHARE, SLOW_SHARE, _above(stable, slo_bound) * match, canary.requests
        ),
    }


def _mean(e: dict[str, float], names: tuple[str, ...]) -> float:
    return sum(e[name] for name in names) / len(names)


def _fold(done: dict[str, Pair], finished: dict[str, Pair]) -> dict[str, Pair]:
    """The run's evidence once a step is over. An SLO test's step in which stable broke the
    same SLO (a common-mode incident) is left out: it says nothing of the canary."""
    out = dict(done)
    for name, (worse, fine) in finished.items():
        twin = STABLE.get(name)
        if twin is not None and twin in finished and float(np.max(finished[twin][0])) > 0:
            continue
        if name in STABLE.values() and float(np.max(worse)) > 0:
            continue
        before = out.get(name, (np.zeros(GRID), np.zeros(GRID)))
        out[name] = (before[0] + worse, before[1] + fine)
    return out


def sequential_judge(observed: Observation | Unavailable, step: Step) -> Verdict:
    """The verdict for this evaluation, with the updated evidence inside it (the Judge port)."""
    analysis, evidence, started = step.analysis, step.evidence, step.started_at
    if isinstance(observed, Unavailable):
        return unavailable(observed, evidence)
    state = evidence or Evidence()
    done, current = _pairs(state.done), _pairs(state.current)
    step_key = started.isoformat() if started else ""
    if state.step != step_key:  # a new step: the last one's evidence is final
        done = _fold(done, current)
    elapsed = (observed.at - started).total_seconds() if started else 0.0
    factor = extrapolation_bound(math.ceil(elapsed), step.scrape_interval_s)
    canary = _deflate(observed.canary.step, factor)
    stable = _deflate(observed.stable.step, factor)
    p99_bound = state.bound_ms
    if p99_bound is None and stable.has_data:
        p99 = stable.quantile(0.99)
        p99_bound = bound_at_or_above(stable.buckets, p99) if p99 is not None else None
    buckets = canary.buckets or stable.buckets
    bound, floored = slow_bound(p99_bound, buckets, analysis.noise_floor_ms)
    slo_bound = bound_at_or_above(buckets, analysis.max_p99_ms)
    current = _step_pairs(canary, stable, bound, slo_bound, analysis)
    total = {
        name: (done[name][0] + w, done[name][1] + f) if name in done else (w, f)
        for name, (w, f) in current.items()
    }
    new_state = Evidence(
        step=step_key, bound_ms=p99_bound, done=_plain(done), current=_plain(current)
    )
    reading = Reading(
        canary=canary,
        stable=stable,
        bound_ms=bound,
        slo_bound_ms=slo_bound,
        elapsed_s=elapsed,
        floored=floored,
    )
    return _verdict(observed, step, total, current, reading, new_state)


def _verdict(
    observed: Observation,
    step: Step,
    total: dict[str, Pair],
    current: dict[str, Pair],
    reading: Reading,
    state: Evidence,
) -> Verdict:
    alpha, stage = step.analysis.alpha, step.stage
    fail_at = {name: 1 / (alpha * share) for name, share in ALPHA_SHARE.items()}
    # When the noise floor, not stable's P99, sets the bound, stable has next to nothing
    # above it: the canary is slower only when its own P99 is above the floor too (the
    # min of two e-processes is valid for the union of their nulls).
    worse = {
        name: min(e_value(total[t][0]) for t in needed_for_worse(name, reading.floored))
        for name in total
    }
    fine = {name: e_value(pair[1]) for name, pair in total.items()}
    full = stage.weight >= 100
    # Two routes per metric below 100% (the SLOs alone at 100%): their mean is an e-value.
    pass_at = 1 / alpha
    routes: dict[str, tuple[str, ...]] = (
        {"errors": ("errorSlo",), "latency": ("latencySlo",)} if full else dict(ROUTES)
    )
    breached = [n for n in ALPHA_SHARE if worse[n] >= fail_at[n]]
    common = [n for n in breached if n in STABLE and float(np.max(total[STABLE[n]][0])) > 0]
    # At 100% stable serves nothing: an SLO breach cannot be told from an incident.
    held = [n for n in breached if n in STABLE and full and n not in common]
    failing = [n for n in breached if n not in common and n not in held]
    proven = {metric: _mean(fine, names) >= pass_at for metric, names in routes.items()}
    suspicious = [n for n in ("errors", "latency") if worse[n] > SUSPICIOUS and not full]
    n = int(observed.canary.step.requests)
    enough = n >= stage.min_requests
    metrics = rows(step, reading, worse, fine, fail_at, pass_at, routes, failing)
    if failing:
        outcome = "fail"
        reason = "evidence of a regression: " + ", ".join(
            m.describe() for m in metrics if m.outcome == "fail"
        )
    elif held:
        outcome = "inconclusive"
        reason = (
            f"{', '.join(held)} breached at 100% with no stable traffic to compare: "
            "a canary regression or a common-mode incident"
        )
    elif suspicious:
        outcome = "inconclusive"
        reason = "the comparison with stable leans towards a regression: waiting for more data"
    elif not enough:
        outcome, reason = "inconclusive", f"{n} of the step's {stage.min_requests} canary requests"
    elif (step.gate or full) and not all(proven.values()):
        missing = [metric for metric, ok in proven.items() if not ok]
        outcome = "inconclusive"
        reason = f"not enough evidence yet that {' and '.join(missing)} are fine for 100%"
    elif step.gate or full:
        outcome, reason = "pass", "evidence that errors and latency are fine for 100%"
    else:
        outcome, reason = "pass", "no sign of a regression (100% will need evidence)"
    if common:
        reason += f"; stable breaks the SLO too (common-mode incident: {', '.join(common)})"
    estimate = (
        seconds_to_decide(step, reading, current, worse, fine, fail_at, pass_at, routes)
        if outcome == "inconclusive"
        else 0.0
    )
    return Verdict(
        outcome=outcome,
        at=observed.at,
        canary_requests=n,
        no_data=not observed.canary.step.has_data,
        reason=reason,
        metrics=metrics,
        evidence=state,
        decision_in_s=estimate,
    )
