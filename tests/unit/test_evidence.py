"""Judge v2 (sequential) on hand-built observations, evaluation after evaluation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from rollout.analysis.evidence import sequential_judge
from rollout.analysis.observations import Counts, Observation, Unavailable, VersionCounts
from rollout.model import Analysis, Stage, Verdict

T0 = datetime(2026, 11, 25, tzinfo=UTC)
STAGE = Stage(kind="weight", weight=25, duration="1m", min_requests=100)
BOUNDS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, math.inf)


def counts(n: int, errors: int, slow_share: float, rng: np.random.Generator) -> Counts:
    """n requests: 99% under 25 ms for a healthy version; ``slow_share`` above 250 ms."""
    slow = rng.binomial(n, slow_share)
    fast = n - slow
    cumulative = []
    for le in BOUNDS:
        share = 0.0 if le < 25 else (0.99 if le < 50 else 1.0)
        value = fast * share if le < 250 else fast
        cumulative.append((le, float(value + (slow if le > 250 else 0))))
    return Counts(requests=float(n), errors=float(errors), buckets=tuple(cumulative))


def add(a: Counts, b: Counts) -> Counts:
    """Cumulative counts: what Prometheus answers for 'since the step started'."""
    if not a.buckets:
        return b
    buckets = tuple((le, x + y) for (le, x), (_, y) in zip(a.buckets, b.buckets, strict=True))
    return Counts(requests=a.requests + b.requests, errors=a.errors + b.errors, buckets=buckets)


def evaluate(
    error_ratio: float,
    slow_share: float,
    looks: int,
    seed: int,
    rps: float = 400.0,
    base: float = 0.005,
) -> list[Verdict]:
    rng = np.random.default_rng(seed)
    evidence = None
    verdicts = []
    canary_total, stable_total = Counts(), Counts()
    for look in range(looks):
        n, m = rng.poisson(rps * 0.25 * 15), rng.poisson(rps * 0.75 * 15)
        canary_total = add(
            canary_total, counts(n, rng.binomial(n, base * error_ratio), slow_share, rng)
        )
        stable_total = add(stable_total, counts(m, rng.binomial(m, base), 0.0, rng))
        obs = Observation(
            at=T0 + timedelta(seconds=15 * look),
            canary=VersionCounts(step=canary_total),
            stable=VersionCounts(step=stable_total),
        )
        verdict = sequential_judge(
            obs, Analysis(judge="sequential"), STAGE, evidence, step_started_at="step-1"
        )
        evidence = verdict.evidence
        verdicts.append(verdict)
        if verdict.outcome != "inconclusive":
            break
    return verdicts


def test_four_times_the_errors_fails_fast() -> None:
    """4x stable's 5xx rate: a fail within a few evaluations, naming the test."""
    verdicts = evaluate(4.0, 0.0, looks=40, seed=1)
    assert verdicts[-1].outcome == "fail"
    assert len(verdicts) <= 10
    assert "e-errors" in verdicts[-1].reason


def test_slow_canary_fails_on_latency() -> None:
    """5% of requests above 250 ms where stable has none: a latency failure."""
    verdicts = evaluate(1.0, 0.05, looks=40, seed=2)
    assert verdicts[-1].outcome == "fail"
    assert "latency" in verdicts[-1].reason


def test_healthy_canary_earns_a_pass() -> None:
    """Like stable: positive evidence on errors and latency, in time."""
    verdicts = evaluate(1.0, 0.0, looks=200, seed=3)
    assert verdicts[-1].outcome == "pass"


def test_evidence_survives_a_restart() -> None:
    """The state in the verdict is all a restarted controller needs to carry on."""
    verdicts = evaluate(4.0, 0.0, looks=2, seed=4)
    state = verdicts[-1].evidence
    assert state is not None
    assert set(state) >= {"errors", "latency", "errorSlo", "latencySlo", "boundMs"}
    assert len(state["errors"]["worse"]) == 16


def test_unavailable_is_no_data_and_keeps_the_evidence() -> None:
    """No answer from Prometheus: inconclusive, no data, evidence untouched."""
    kept = {"boundMs": 25.0}
    verdict = sequential_judge(Unavailable(at=T0, reason="refused"), Analysis(), STAGE, kept)
    assert (verdict.outcome, verdict.no_data, verdict.evidence) == ("inconclusive", True, kept)


def test_evidence_is_plain_json() -> None:
    """The state goes into the status as JSON: plain floats, no numpy types."""
    import json

    verdicts = evaluate(4.0, 0.0, looks=3, seed=5)
    json.dumps(verdicts[-1].wire())
    assert all(type(x) is float for x in verdicts[-1].evidence["errors"]["worse"])  # type: ignore[index]
