"""The sequential judge on hand-built observations, evaluation after evaluation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rollout.analysis.observations import Counts, Observation, Unavailable, VersionCounts
from rollout.analysis.sequential import extrapolation_bound, sequential_judge
from rollout.analysis.verdicts import Step
from rollout.model import Analysis, Evidence, Stage, Verdict, parse_status

T0 = datetime(2026, 11, 25, tzinfo=UTC)
STAGE = Stage(kind="weight", weight=25, duration="1m", min_requests=100)
GATE = Stage(kind="weight", weight=50, duration="1m", min_requests=100)
STEP_START = T0 - timedelta(seconds=15)
BOUNDS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, math.inf)


def judged(
    observed: Observation | Unavailable,
    analysis: Analysis,
    stage: Stage,
    evidence: Evidence | None,
    step_started_at: datetime | None = None,
    scrape_interval_s: float = 15.0,
) -> Verdict:
    """The sequential judge through its port, with the step spelled out."""
    return sequential_judge(
        observed, Step(analysis, stage, step_started_at, evidence, scrape_interval_s)
    )


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
        verdict = judged(
            obs, Analysis(judge="sequential"), STAGE, evidence, step_started_at=STEP_START
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
    assert "5xx ratio" in verdicts[-1].reason
    assert "vs stable" in verdicts[-1].reason


def test_slow_canary_fails_on_latency() -> None:
    """5% of requests above 250 ms where stable has none: a latency failure."""
    verdicts = evaluate(1.0, 0.05, looks=40, seed=2)
    assert verdicts[-1].outcome == "fail"
    assert "requests slower than 25 ms" in verdicts[-1].reason  # stable's P99 bucket


def test_healthy_canary_earns_a_pass() -> None:
    """Like stable: positive evidence on errors and latency, in time."""
    verdicts = evaluate(1.0, 0.0, looks=200, seed=3)
    assert verdicts[-1].outcome == "pass"


def test_evidence_survives_a_restart() -> None:
    """The state in the verdict is all a restarted controller needs to carry on."""
    verdicts = evaluate(4.0, 0.0, looks=2, seed=4)
    state = verdicts[-1].evidence
    assert state is not None
    assert state.step
    assert set(state.current) >= {"errors", "latency", "errorSlo", "latencySlo"}
    assert len(state.current["errors"].worse) == 16
    assert Evidence.model_validate(json.loads(json.dumps(state.wire()))) == state


def test_unavailable_is_no_data_and_keeps_the_evidence() -> None:
    """No answer from Prometheus: inconclusive, no data, evidence untouched."""
    kept = Evidence(bound_ms=25.0)
    verdict = judged(Unavailable(at=T0, reason="refused"), Analysis(), STAGE, kept)
    assert (verdict.outcome, verdict.no_data, verdict.evidence) == ("inconclusive", True, kept)


def test_evidence_is_plain_json() -> None:
    """The state goes into the status as JSON: plain floats, no numpy types."""
    import json

    verdicts = evaluate(4.0, 0.0, looks=3, seed=5)
    json.dumps(verdicts[-1].wire())
    evidence = verdicts[-1].evidence
    assert evidence is not None
    assert all(type(x) is float for x in evidence.current["errors"].worse)


def observation(at: datetime, canary: Counts, stable: Counts) -> Observation:
    return Observation(at=at, canary=VersionCounts(step=canary), stable=VersionCounts(step=stable))


@pytest.mark.parametrize(
    ("range_s", "scrape_s", "bound"),
    [
        (10, 15, 1.0),  # under one scrape interval: Prometheus has at most one sample
        (30, 15, 2.0),  # two samples 15 s apart stretched over 30 s
        (45, 15, 1.5),
        (300, 15, 300 / 285),
        (30, 0, 1.0),  # no interval configured: trust the counts
    ],
)
def test_extrapolation_bound(range_s: float, scrape_s: float, bound: float) -> None:
    """The most increase() can inflate a count: the range over the fewest samples' span."""
    assert extrapolation_bound(range_s, scrape_s) == pytest.approx(bound)


def doubled(c: Counts) -> Counts:
    return Counts(c.requests * 2, c.errors * 2, tuple((le, x * 2) for le, x in c.buckets))


def test_inflated_counts_are_deflated_before_they_count() -> None:
    """Counts doubled by extrapolation 30 s into a step weigh what the real ones would."""
    rng = np.random.default_rng(11)
    canary, stable = counts(300, 6, 0.0, rng), counts(3000, 15, 0.0, rng)
    at = T0 + timedelta(seconds=30)
    inflated = [
        judged(
            observation(at, c, s), Analysis(), STAGE, None, step_started_at=T0, scrape_interval_s=15
        )
        for c, s in ((canary, stable), (doubled(canary), doubled(stable)))
    ]
    exact = judged(
        observation(at, canary, stable),
        Analysis(),
        STAGE,
        None,
        step_started_at=T0,
        scrape_interval_s=0,
    )
    e_plain, e_doubled, e_exact = (
        max(v.evidence.current["errors"].worse) for v in (*inflated, exact) if v.evidence
    )
    assert e_doubled == pytest.approx(e_exact, rel=1e-3)
    assert e_plain < e_exact


def test_a_common_mode_incident_is_not_blamed_on_the_canary() -> None:
    """Both versions at 6% errors (SLO 1%): no rollback, the comparison with stable decides
    and the reason names the incident; the same canary beside a healthy stable fails."""
    rng = np.random.default_rng(12)
    at = T0 + timedelta(minutes=5)
    canary, stable = counts(3000, 180, 0.0, rng), counts(30000, 1800, 0.0, rng)
    held = judged(observation(at, canary, stable), Analysis(), STAGE, None, step_started_at=T0)
    assert held.outcome != "fail"
    assert "common-mode" in held.reason
    healthy_stable = counts(30000, 150, 0.0, rng)
    alone = judged(
        observation(at, canary, healthy_stable), Analysis(), STAGE, None, step_started_at=T0
    )
    assert alone.outcome == "fail"


def test_evidence_carries_across_steps() -> None:
    """A step's evidence is folded into the run's when the next step starts, so the step
    before 100% starts with what the earlier steps proved."""
    rng = np.random.default_rng(13)
    late = T0 + timedelta(minutes=10)
    first = judged(
        observation(late, counts(20000, 100, 0.0, rng), counts(60000, 300, 0.0, rng)),
        Analysis(),
        STAGE,
        None,
        step_started_at=T0,
    )
    assert first.outcome == "pass"
    next_step = late + timedelta(seconds=1)
    gate = Step(Analysis(), GATE, next_step, first.evidence, 15.0, gate=True)
    few = observation(
        next_step + timedelta(seconds=20), counts(150, 0, 0.0, rng), counts(150, 1, 0.0, rng)
    )
    second = sequential_judge(few, gate)
    assert second.evidence is not None
    assert first.evidence is not None
    assert second.evidence.done["errors"] == first.evidence.current["errors"]
    assert second.outcome == "pass"
    alone = sequential_judge(few, Step(Analysis(), GATE, next_step, None, 15.0, gate=True))
    assert alone.outcome == "inconclusive"


def test_at_full_weight_an_slo_breach_is_held_not_blamed() -> None:
    """At 100% no stable traffic is left to compare: an SLO breach may be an incident, so it
    is held (onInconclusive decides), where at 25% with a healthy stable it fails."""
    rng = np.random.default_rng(14)
    at = T0 + timedelta(minutes=5)
    full = Stage(kind="weight", weight=100, duration="1m", min_requests=100)
    held = judged(
        observation(at, counts(30000, 1800, 0.0, rng), Counts()),
        Analysis(),
        full,
        None,
        step_started_at=T0,
    )
    assert held.outcome == "inconclusive"
    assert "no stable traffic" in held.reason


def test_evidence_from_an_older_judge_is_dropped_not_misread() -> None:
    """A status written by the first sequential judge (other keys) does not leak through:
    the status still reads, with that evidence started afresh."""
    old = {"errors": {"worse": [9.0] * 16, "fine": [0.0] * 16}, "seen": {}, "boundMs": 250.0}
    status = parse_status({"phase": "Progressing", "evidence": old})
    assert status.evidence is None
    rng = np.random.default_rng(15)
    verdict = judged(
        observation(
            T0 + timedelta(minutes=1), counts(300, 1, 0.0, rng), counts(3000, 15, 0.0, rng)
        ),
        Analysis(),
        STAGE,
        status.evidence,
        step_started_at=T0,
    )
    assert verdict.evidence is not None
    assert verdict.evidence.done == {}


def gate_verdict(
    error_ratio: float, minutes: int, seed: int, evidence: Evidence | None = None
) -> Verdict:
    """One look at the step before 100%, ``minutes`` into it, at 50% of 100 rps."""
    rng = np.random.default_rng(seed)
    n = m = 50 * 60 * minutes
    canary = counts(n, rng.binomial(n, 0.005 * error_ratio), 0.0, rng)
    stable = counts(m, rng.binomial(m, 0.005), 0.0, rng)
    at = T0 + timedelta(minutes=minutes)
    return sequential_judge(
        observation(at, canary, stable), Step(Analysis(), GATE, T0, evidence, 15.0, gate=True)
    )


@pytest.mark.parametrize(
    ("error_ratio", "gate", "minutes", "passes"),
    [
        (1.0, False, 3, (50, 50)),  # an early step: no sign of a regression is enough
        (1.0, True, 3, (10, 40)),  # the gate, from nothing: evidence takes its time
        (1.0, True, 8, (44, 50)),  # ... and nearly always comes
        (2.0, False, 3, (0, 10)),  # twice the errors: the brake or the test holds most
        (2.0, True, 8, (0, 0)),  # at the must-catch bound: never proven fine for 100%
    ],
)
def test_only_the_step_before_100_needs_proof(
    error_ratio: float, gate: bool, minutes: int, passes: tuple[int, int]
) -> None:
    """Early steps pass on "no sign of a regression"; the step whose pass sends the canary
    to 100% needs evidence against ``mustCatch`` (2x stable's errors by default). 50
    worlds, one look each, ``minutes`` into a step at 50% of 100 rps."""
    passed = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        n = m = 50 * 60 * minutes
        canary = counts(n, rng.binomial(n, 0.005 * error_ratio), 0.0, rng)
        stable = counts(m, rng.binomial(m, 0.005), 0.0, rng)
        observed = observation(T0 + timedelta(minutes=minutes), canary, stable)
        verdict = sequential_judge(observed, Step(Analysis(), GATE, T0, None, 15.0, gate=gate))
        passed += verdict.outcome == "pass"
    assert passes[0] <= passed <= passes[1]


def test_the_estimate_says_how_long_the_gate_needs() -> None:
    """A healthy canary at the gate a minute in: an estimate in seconds, shorter than an
    hour; rows say what was measured beside stable and how far the evidence has come."""
    verdict = gate_verdict(1.0, minutes=1, seed=21)
    if verdict.outcome == "inconclusive":
        assert verdict.decision_in_s is not None
        assert 0 < verdict.decision_in_s < 3600
    else:
        assert verdict.decision_in_s == 0.0
    errors = verdict.metrics[0]
    assert errors.name == "5xx ratio"
    assert errors.stable is not None
    assert errors.promotion is not None
    assert 0 < errors.promotion <= 1
    assert errors.describe().startswith("5xx ratio ")
    assert "vs stable" in errors.describe()


def test_no_traffic_no_estimate() -> None:
    """Nothing served in the step: no evidence building either way, so no estimate."""
    verdict = sequential_judge(
        observation(T0 + timedelta(minutes=1), Counts(), Counts()),
        Step(Analysis(), GATE, T0, None, 15.0, gate=True),
    )
    assert verdict.outcome == "inconclusive"
    assert verdict.decision_in_s is None


def test_a_finished_steps_common_mode_breach_does_not_hold_the_100_stage() -> None:
    """An incident that broke the SLO on both versions during the 50% step is not held
    against the canary at 100%: that step's SLO evidence is left out of the run's."""
    rng = np.random.default_rng(22)
    incident = judged(
        observation(
            T0 + timedelta(minutes=5), counts(15000, 900, 0.0, rng), counts(15000, 900, 0.0, rng)
        ),
        Analysis(),
        GATE,
        None,
        step_started_at=T0,
    )
    assert incident.outcome != "fail"
    full = Stage(kind="weight", weight=100, duration="1m", min_requests=100)
    later = T0 + timedelta(minutes=6)
    verdict = judged(
        observation(later + timedelta(minutes=2), counts(12000, 24, 0.0, rng), Counts()),
        Analysis(),
        full,
        incident.evidence,
        step_started_at=later,
    )
    assert "no stable traffic" not in verdict.reason
    assert verdict.outcome == "pass"
