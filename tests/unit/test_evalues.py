"""The sequential tests: valid at every look (A/A rarely rejects), quick on real effects."""

from __future__ import annotations

import numpy as np
import pytest

from rollout.analysis.evalues import GRID, e_value, rate_log_lr, ratio_log_lr

ALPHA = 0.01


def run_ratio(
    theta: float,
    rng: np.random.Generator,
    looks: int = 60,
    base: float = 0.005,
    canary_share: float = 0.25,
    rps_interval: float = 1500,
    must_catch: float = 1.2,
) -> tuple[int | None, bool]:
    """Feed ``looks`` intervals; the look at which 'worse' rejected (or None), and whether
    'fine' ever did."""
    worse, better = np.zeros(GRID), np.zeros(GRID)
    fine = False
    for look in range(looks):
        n = rng.poisson(rps_interval * canary_share)
        m = rng.poisson(rps_interval * (1 - canary_share))
        c = rng.binomial(n, min(1.0, base * theta))
        s = rng.binomial(m, base)
        w, f = ratio_log_lr(1.2, must_catch, c, n, s, m)
        worse, better = worse + w, better + f
        if e_value(worse) >= 1 / ALPHA:
            return look, fine
        fine = fine or e_value(better) >= 1 / ALPHA
    return None, fine


def test_a_healthy_canary_is_rarely_rejected_however_often_we_look() -> None:
    """A/A over 400 runs of 60 looks each: false rejections stay under alpha (with margin)."""
    rng = np.random.default_rng(7)
    rejected = sum(run_ratio(1.0, rng)[0] is not None for _ in range(400))
    assert rejected / 400 <= 2 * ALPHA


def test_four_times_the_errors_is_rejected_within_a_few_looks() -> None:
    """4 times stable's 5xx rate at 25% of 100 rps: caught in every run, quickly."""
    rng = np.random.default_rng(8)
    looks = [run_ratio(4.0, rng)[0] for _ in range(50)]
    assert all(look is not None for look in looks)
    assert float(np.median([look for look in looks if look is not None])) <= 10


def test_a_healthy_canary_earns_positive_evidence() -> None:
    """With enough traffic, a canary like stable shows it is not 20% worse."""
    rng = np.random.default_rng(9)
    fine = [run_ratio(1.0, rng, looks=200, rps_interval=6000)[1] for _ in range(20)]
    assert sum(fine) >= 18


@pytest.mark.parametrize(("rate", "rejects"), [(0.001, False), (0.05, True)])
def test_rate_against_the_slo(rate: float, rejects: bool) -> None:
    """One-sample: 5% errors against a 1% SLO is rejected; 0.1% earns positive evidence."""
    rng = np.random.default_rng(10)
    worse, better = np.zeros(GRID), np.zeros(GRID)
    for _ in range(30):
        n = 200
        w, f = rate_log_lr(0.01, 0.01, rng.binomial(n, rate), n)
        worse, better = worse + w, better + f
    assert (e_value(worse) >= 1 / ALPHA) is rejects
    assert (e_value(better) >= 1 / ALPHA) is not rejects


def test_no_events_teach_nothing() -> None:
    """Intervals without a single error leave the ratio test where it was."""
    worse, fine = ratio_log_lr(1.2, 2.0, 0, 500, 0, 1500)
    assert (e_value(worse), e_value(fine)) == (1.0, 1.0)


def test_a_canary_at_the_must_catch_bound_rarely_earns_positive_evidence() -> None:
    """Twice stable's errors, tested against "fine below 2x": positive evidence (which is
    what lets a canary reach 100%) comes in at most alpha of the runs, at every look."""
    rng = np.random.default_rng(11)
    fine = [run_ratio(2.0, rng, looks=120, must_catch=2.0)[1] for _ in range(300)]
    assert sum(fine) / 300 <= 2 * ALPHA


def test_positive_evidence_against_a_larger_bound_comes_sooner() -> None:
    """A healthy canary proves "not 2x worse" far sooner than "not 20% worse"."""

    def first_fine(bound: float) -> int:
        worse, better = np.zeros(GRID), np.zeros(GRID)
        rng = np.random.default_rng(12)
        for look in range(2000):
            n, m = rng.poisson(375), rng.poisson(1125)
            w, f = ratio_log_lr(1.2, bound, rng.binomial(n, 0.005), n, rng.binomial(m, 0.005), m)
            worse, better = worse + w, better + f
            if e_value(better) >= 1 / ALPHA:
                return look
        return 2000

    assert first_fine(2.0) * 4 <= first_fine(1.2)
