"""The noise floor under latency comparisons (``analysis.latencyFloorMs``), both judges.

A fast service (P99 of a few ms, Istio's 5 or 10 ms bucket) whose canary is a few ms
slower, e.g. from CPU contention on a loaded node, was rolled back by the sequential
judge ("requests slower than 10 ms 3.59% vs stable 0%") although its SLO was 500 ms.
Latencies are log-normal, binned into Istio's default buckets, at 100 req/s with the
canary at 25% (50% at the gate), one look every 15 s as the controller does.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from rollout.analysis.observations import Counts, Observation, VersionCounts
from rollout.analysis.sequential import sequential_judge
from rollout.analysis.threshold import judge as threshold_judge
from rollout.analysis.verdicts import Step
from rollout.model import Analysis, Evidence, Stage, Verdict
from tests.unit.test_sequential import add

T0 = datetime(2026, 11, 26, tzinfo=UTC)
ISTIO = (0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, math.inf)
EARLY = Stage(kind="weight", weight=25, duration="1m", min_requests=100)
GATE = Stage(kind="weight", weight=50, duration="1m", min_requests=100)
LOOKS = 40  # ten minutes
SEEDS = range(3)

Latency = tuple[float, float]
"""A log-normal latency: (median ms, sigma of its logarithm)."""


def p99(latency: Latency) -> float:
    """The true P99 of a log-normal latency, in ms."""
    median, sigma = latency
    return median * math.exp(2.3263 * sigma)


def shares(latency: Latency) -> list[float]:
    """The share of requests in each of Istio's buckets (not cumulative), +Inf last."""
    median, sigma = latency
    cdf = [
        1.0 if le == math.inf else 0.5 * (1 + math.erf(math.log(le / median) / (sigma * 2**0.5)))
        for le in ISTIO
    ]
    return [cdf[0], *(b - a for a, b in itertools.pairwise(cdf))]


def requests(n: int, latency: Latency, rng: np.random.Generator | None = None) -> Counts:
    """``n`` requests, no 5xx, cumulative buckets: drawn with ``rng``, else exact shares."""
    per = rng.multinomial(n, shares(latency)) if rng else np.array(shares(latency)) * n
    cumulative = np.cumsum(per)
    return Counts(
        requests=float(n),
        buckets=tuple((le, float(c)) for le, c in zip(ISTIO, cumulative, strict=True)),
    )


def run(
    stable: Latency,
    canary: Latency,
    seed: int,
    analysis: Analysis,
    gate: bool = True,
    evidence: Evidence | None = None,
) -> list[Verdict]:
    """A step judged every 15 s for ten minutes, or until the first fail."""
    stage = GATE if gate else EARLY
    rng = np.random.default_rng(seed)
    c_total = s_total = Counts()
    verdicts = []
    for look in range(1, LOOKS + 1):
        n = int(rng.poisson(100 * stage.weight / 100 * 15))
        m = int(rng.poisson(100 * (100 - stage.weight) / 100 * 15))
        c_total = add(c_total, requests(n, canary, rng))
        s_total = add(s_total, requests(m, stable, rng))
        observed = Observation(
            at=T0 + timedelta(seconds=15 * look),
            canary=VersionCounts(step=c_total),
            stable=VersionCounts(step=s_total),
        )
        verdict = sequential_judge(observed, Step(analysis, stage, T0, evidence, 15.0, gate=gate))
        evidence = verdict.evidence
        verdicts.append(verdict)
        if verdict.outcome == "fail":
            break
    return verdicts


FAST = (3.0, 0.2)  # stable: P99 4.8 ms (Istio's 5 ms bucket)
JITTERY = (3.0, 0.25)  # stable: P99 5.4 ms (the 10 ms bucket), the lab's case

SEQUENTIAL: list[Any] = [
    # (stable, canary, analysis overrides, rolled back, the fail's row)
    pytest.param(FAST, (6.0, 0.2), {}, False, None, id="3ms-slower"),
    pytest.param(JITTERY, (8.0, 0.4), {}, False, None, id="5ms-slower-and-jittery"),
    # 0.5% of the canary's requests above 25 ms, none of stable's: its P99 (22 ms) is
    # still under the floor, so still noise.
    pytest.param(JITTERY, (7.0, 0.5), {}, False, None, id="p99-just-under-the-floor"),
    pytest.param(
        FAST, (6.0, 0.2), {"latencyFloorMs": 0}, True, "slower than 5 ms", id="no-floor-as-before"
    ),
    pytest.param(
        JITTERY,
        (8.0, 0.4),
        {"latencyFloorMs": 10},
        True,
        "slower than 10 ms",
        id="a-lower-floor-sees-more",
    ),
    pytest.param(JITTERY, (12.0, 0.5), {}, True, "slower than 25 ms", id="p99-38ms-above-floor"),
    pytest.param(FAST, (30.0, 0.3), {}, True, "slower than 25 ms", id="ten-times-slower"),
    # A service far above the floor is judged as before: slow is above stable's P99 bucket.
    pytest.param((50.0, 0.6), (75.0, 0.6), {}, True, "slower than 250 ms", id="slow-service"),
]


@pytest.mark.parametrize(("stable", "canary", "overrides", "rolled_back", "row"), SEQUENTIAL)
def test_the_sequential_judge_ignores_latency_differences_under_the_floor(
    stable: Latency,
    canary: Latency,
    overrides: dict[str, Any],
    rolled_back: bool,
    row: str | None,
) -> None:
    """A canary a few ms slower than a fast stable is not rolled back and, at the step
    before 100%, is promoted (without the floor it was rolled back at the first look); one
    whose P99 rises well above the floor still is, within two minutes, naming the bound."""
    analysis = Analysis.model_validate(overrides)
    for seed in SEEDS:
        verdicts = run(stable, canary, seed, analysis)
        outcomes = [v.outcome for v in verdicts]
        if rolled_back:
            assert outcomes[-1] == "fail", (seed, verdicts[-1].reason)
            assert len(verdicts) <= 8, (seed, len(verdicts))
            assert row is not None
            assert f"requests {row}" in verdicts[-1].reason
        else:
            assert "fail" not in outcomes, (seed, verdicts[-1].reason)
            assert outcomes[-1] == "pass", (seed, verdicts[-1].reason)


def test_an_early_step_is_not_held_by_noise_under_the_floor() -> None:
    """Before the gate, a step passes unless the comparison leans towards a regression: a
    canary 5 ms slower than a fast stable passes its first look past the minimum."""
    for seed in SEEDS:
        verdicts = run(JITTERY, (8.0, 0.4), seed, Analysis(), gate=False)
        assert verdicts[0].outcome == "pass", verdicts[0].reason


def test_a_run_in_flight_gets_the_floor_and_keeps_its_bound() -> None:
    """A status written before the floor existed holds stable's 10 ms P99 bucket: from the
    next look the comparison is above 25 ms (the row says so), the stored bound stays
    stable's P99 bucket (what an older controller reads back), and without the floor the
    same run is rolled back. The row's limit is 1%: the canary's P99 above the floor."""
    before = Evidence(step="", bound_ms=10.0)
    verdicts = run(JITTERY, (8.0, 0.4), 0, Analysis(), evidence=before)
    assert "fail" not in [v.outcome for v in verdicts]
    last = verdicts[-1]
    assert last.evidence is not None
    assert last.evidence.bound_ms == 10.0
    row = last.metrics[1]
    assert row.name == "requests slower than 25 ms"
    assert row.threshold == 0.01  # stable has none above it: worse needs the canary's P99
    without = run(JITTERY, (8.0, 0.4), 0, Analysis(latency_floor_ms=0), evidence=before)
    assert without[-1].outcome == "fail"
    assert "requests slower than 10 ms" in without[-1].reason


def test_the_floor_is_capped_at_the_slo() -> None:
    """A latency the SLO calls a breach is never noise: with ``maxP99Ms: 10`` the default
    floor (25 ms) counts as 10 ms, and a canary at a P99 of 20 ms is rolled back."""
    analysis = Analysis(max_p99_ms=10.0)
    assert analysis.noise_floor_ms == 10.0
    verdicts = run(JITTERY, (8.0, 0.4), 0, analysis)
    assert verdicts[-1].outcome == "fail"
    assert "requests slower than 10 ms" in verdicts[-1].reason


AT = T0 + timedelta(minutes=5)
THRESHOLD: list[Any] = [
    # (stable, canary, analysis overrides, failing metrics)
    pytest.param(FAST, (6.0, 0.2), {}, [], id="3ms-slower"),
    pytest.param(JITTERY, (8.0, 0.4), {}, [], id="p99-20ms-under-the-floor"),
    # Without the floor: 3 ms is within the old 5 ms slack, a P99 of 20 ms is not.
    pytest.param(FAST, (6.0, 0.2), {"latencyFloorMs": 0}, [], id="no-floor-3ms"),
    pytest.param(
        JITTERY, (8.0, 0.4), {"latencyFloorMs": 0}, ["p99-vs-stable"], id="no-floor-p99-20ms"
    ),
    pytest.param(JITTERY, (12.0, 0.5), {}, ["p99-vs-stable"], id="p99-38ms-above-floor"),
    # Far above the floor, as before: stable's P99 x 1.2 + 5 ms, or its bucket.
    pytest.param((50.0, 0.6), (75.0, 0.6), {}, ["p99-vs-stable"], id="slow-service"),
    pytest.param((50.0, 0.6), (52.0, 0.6), {}, [], id="slow-service-healthy"),
]


@pytest.mark.parametrize(("stable", "canary", "overrides", "failing"), THRESHOLD)
def test_the_threshold_judge_uses_the_same_floor(
    stable: Latency, canary: Latency, overrides: dict[str, Any], failing: list[str]
) -> None:
    """The threshold judge's ``p99-vs-stable``: a canary P99 at or under the floor's bucket
    is never worse than stable's; above it the check is what it was (tolerance plus 5 ms,
    or stable's bucket)."""
    analysis = Analysis.model_validate({"judge": "threshold", **overrides})
    observed = Observation(
        at=AT,
        canary=VersionCounts(step=requests(7500, canary)),
        stable=VersionCounts(step=requests(22500, stable)),
    )
    verdict = threshold_judge(observed, analysis, EARLY)
    assert [m.name for m in verdict.failing()] == failing, verdict.reason
    assert verdict.outcome == ("fail" if failing else "pass")


def test_the_scenarios_are_what_their_names_say() -> None:
    """The latencies above: the fast stables' P99s in the 5 and 10 ms buckets, the healthy
    canaries' P99s under the floor, the regressions' well above it."""
    assert p99(FAST) < 5 < p99(JITTERY) < 10
    assert all(p99(c) < 25 for c in ((6.0, 0.2), (8.0, 0.4), (7.0, 0.5)))
    assert all(p99(c) > 35 for c in ((12.0, 0.5), (30.0, 0.3)))
    assert 0.004 < sum(shares((7.0, 0.5))[5:]) < 0.01  # 0.5% above 25 ms
