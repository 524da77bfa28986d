"""Judge v1: every metric against its threshold, from observations built by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from rollout.analysis.observations import (
    Counts,
    Observation,
    Unavailable,
    VersionCounts,
    histogram_quantile,
)
from rollout.analysis.threshold import judge
from rollout.model import Analysis, CustomCheck, Stage

AT = datetime(2026, 1, 1, tzinfo=UTC)
STAGE = Stage(kind="weight", weight=25, duration="1m", min_requests=100)
ANALYSIS = Analysis()


def counts(requests: float, errors: float = 0.0, p99_ms: float = 100.0) -> Counts:
    """Counts whose buckets put 99% of requests at or below ``p99_ms`` exactly."""
    fast = requests * 0.99
    return Counts(
        requests=requests,
        errors=errors,
        buckets=((p99_ms, fast), (p99_ms * 10, requests), (math.inf, requests)),
    )


def observe(
    canary: Counts, stable: Counts | None = None, checks: dict[str, float | None] | None = None
) -> Observation:
    return Observation(
        at=AT,
        canary=VersionCounts(step=canary),
        stable=VersionCounts(step=stable or counts(9000, 45)),
        checks=checks or {},
    )


@pytest.mark.parametrize(
    ("observed", "outcome", "failing"),
    [
        pytest.param(observe(counts(1000, 5)), "pass", [], id="healthy"),
        pytest.param(
            observe(counts(1000, 50)),
            "fail",
            ["error-rate", "error-rate-vs-stable"],
            id="5xx-over-slo",
        ),
        pytest.param(
            observe(counts(1000, 8)),
            "fail",
            ["error-rate-vs-stable"],
            id="within-slo-but-worse-than-stable",
        ),
        pytest.param(
            observe(counts(1000, 5, p99_ms=800)),
            "fail",
            ["p99-latency", "p99-vs-stable"],
            id="p99-over-slo",
        ),
        pytest.param(
            observe(counts(1000, 5, p99_ms=300)), "fail", ["p99-vs-stable"], id="slower-than-stable"
        ),
        pytest.param(observe(counts(50, 25)), "inconclusive", [], id="too-few-requests"),
        pytest.param(observe(Counts()), "inconclusive", [], id="no-canary-traffic"),
        pytest.param(observe(counts(1000, 5), Counts()), "inconclusive", [], id="no-stable-data"),
        pytest.param(
            observe(counts(1000, 50), counts(9000, 450)),
            "inconclusive",
            [],
            id="common-mode-incident",
        ),
        pytest.param(
            observe(counts(1000, 100), counts(9000, 450)),
            "fail",
            ["error-rate", "error-rate-vs-stable"],
            id="worse-even-during-an-incident",
        ),
    ],
)
def test_verdicts(observed: Observation, outcome: str, failing: list[str]) -> None:
    """Fail on any failing metric, pass only when all pass, otherwise inconclusive."""
    verdict = judge(observed, ANALYSIS, STAGE)
    assert verdict.outcome == outcome
    assert [m.name for m in verdict.failing()] == failing


def test_metric_values_and_thresholds_are_reported() -> None:
    """Each metric carries its value, threshold and sample size for the status and Slack."""
    verdict = judge(observe(counts(1000, 50)), ANALYSIS, STAGE)
    by_name = {m.name: m for m in verdict.metrics}
    assert (by_name["error-rate"].value, by_name["error-rate"].threshold) == (0.05, 0.01)
    assert by_name["error-rate"].samples == 1000
    assert by_name["requests"].op == ">="
    assert verdict.canary_requests == 1000
    assert "error-rate 0.05 above 0.01" in verdict.reason


def test_common_mode_says_so() -> None:
    """A shared incident is named, not blamed on the canary."""
    verdict = judge(observe(counts(1000, 50), counts(9000, 450)), ANALYSIS, STAGE)
    assert verdict.reason == "common-mode incident: stable breaks error-rate too"


def test_without_stable_comparison_only_slos_count() -> None:
    """compareWithStable off: a canary within its SLOs passes even if worse than stable."""
    analysis = Analysis(compare_with_stable=False)
    assert judge(observe(counts(1000, 8)), analysis, STAGE).outcome == "pass"


def test_at_100_percent_stable_silence_is_fine() -> None:
    """At the last step stable serves nothing: the comparison is skipped, not missing."""
    last = Stage(kind="weight", weight=100, duration="1m", min_requests=100)
    assert judge(observe(counts(1000, 5), Counts()), ANALYSIS, last).outcome == "pass"


def test_unavailable_prometheus_is_never_a_pass() -> None:
    """No answer from Prometheus: inconclusive, with the reason."""
    verdict = judge(Unavailable(at=AT, reason="connection refused"), ANALYSIS, STAGE)
    assert verdict.outcome == "inconclusive"
    assert "connection refused" in verdict.reason


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        pytest.param(3.0, "pass", id="within"),
        pytest.param(7.0, "fail", id="above-max"),
        pytest.param(0.5, "fail", id="below-min"),
        pytest.param(None, "inconclusive", id="no-data"),
    ],
)
def test_custom_checks(value: float | None, outcome: str) -> None:
    """A custom check passes within [min, max], fails outside, holds without data."""
    analysis = Analysis(custom_checks=[CustomCheck(name="queue", query="q", min=1, max=5)])
    verdict = judge(observe(counts(1000, 5), checks={"queue": value}), analysis, STAGE)
    assert verdict.outcome == outcome


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        pytest.param(0.5, ((10.0, 50.0), (20.0, 100.0), (math.inf, 100.0)), 10.0, id="edge"),
        pytest.param(0.75, ((10.0, 50.0), (20.0, 100.0), (math.inf, 100.0)), 15.0, id="middle"),
        pytest.param(0.99, ((10.0, 10.0), (math.inf, 100.0)), 10.0, id="in-inf-bucket"),
        pytest.param(0.5, ((10.0, 0.0), (math.inf, 0.0)), None, id="empty"),
        pytest.param(
            0.5,
            ((10.0, 60.0), (20.0, 50.0), (math.inf, 100.0)),
            8.333333333333334,
            id="non-monotonic-fixed",
        ),
        pytest.param(0.5, ((10.0, 50.0),), None, id="no-inf-bucket"),
    ],
)
def test_histogram_quantile(
    q: float, buckets: tuple[tuple[float, float], ...], expected: float | None
) -> None:
    """Interpolation as Prometheus's histogram_quantile does it."""
    assert histogram_quantile(q, buckets) == expected
