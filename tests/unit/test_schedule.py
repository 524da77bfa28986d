"""The evaluation schedule: a batch that is going anyway takes the nearly due along, so
rollouts of one interval settle into one Prometheus batch per interval."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from rollout.controller.schedule import Schedule

T0 = datetime(2026, 11, 25, tzinfo=UTC)
A, B, C = ("shop", "a"), ("shop", "b"), ("shop", "c")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_due_and_nearly_due() -> None:
    """Due: at or past its time, or never scheduled; nearly due: within half its interval."""
    s = Schedule()
    s.next_at(A, at(0))
    s.next_at(B, at(7))
    s.next_at(C, at(9))
    assert s.due([A, B, C, ("shop", "new")], at(0)) == [A, ("shop", "new")]
    intervals = {A: 15.0, B: 15.0, C: 15.0}
    assert s.nearly_due(intervals, at(0)) == [B]  # 7 s ≤ 7.5 s; 9 s is too early


def test_a_rollout_held_after_a_failure_is_never_taken_early() -> None:
    """A backoff stands: the held rollout waits for its own time."""
    s = Schedule()
    s.hold(A, at(5))
    assert s.nearly_due({A: 15.0}, at(0)) == []
    assert s.due([A], at(5)) == [A]
    s.next_at(A, at(20))  # evaluated again: no longer held
    assert s.nearly_due({A: 15.0}, at(14)) == [A]


def test_rollouts_that_started_apart_settle_into_one_batch_per_interval() -> None:
    """Ten rollouts whose steps began over 6 s: after the first batches, one batch per
    15 s interval, and nobody is evaluated more often than every half interval."""
    s = Schedule()
    keys = [("shop", f"r{i}") for i in range(10)]
    last: dict[tuple[str, str], float] = {}
    for i, key in enumerate(keys):
        s.next_at(key, at(15 + 0.6 * i))
    batches: list[float] = []
    for tick in range(0, 120):  # a 1 s tick for two minutes
        now = at(tick)
        due = s.due(keys, now)
        if not due:
            continue
        taken = due + s.nearly_due(dict.fromkeys(keys, 15.0), now)
        batches.append(tick)
        for key in taken:
            assert tick - last.get(key, -100) >= 7.5
            last[key] = tick
            s.next_at(key, at(tick + 15))
    assert batches[:2] == [15, 30]
    assert all(b - a == 15 for a, b in itertools.pairwise(batches))


def test_on_the_grid_rollouts_started_minutes_apart_cost_one_batch_per_interval() -> None:
    """A hundred rollouts whose steps began over four minutes (a slow start): each first
    evaluation at least one interval into its step and at most a third of one more (the
    finer grid), at most three batches per 15 s while steps begin; then all are due
    together, one batch per 15 s, each evaluated every 15 s."""
    s = Schedule()
    keys = [("shop", f"r{i}") for i in range(100)]
    started = {key: 2.4 * i for i, key in enumerate(keys)}
    for key in keys:
        s.first_at(key, at(started[key] + 15), 15)
    evaluated: dict[tuple[str, str], list[int]] = {key: [] for key in keys}
    batches: list[int] = []
    for tick in range(0, 600):
        now = at(tick)
        due = s.due(keys, now)
        if not due:
            continue
        batches.append(tick)
        for key in due:
            evaluated[key].append(tick)
            s.next_at(key, at(tick + 15), 15, nearest=True)
    assert all(b - a >= 5 for a, b in itertools.pairwise(batches))
    settled = [b for b in batches if b > max(started.values()) + 40]
    assert all(b - a == 15 for a, b in itertools.pairwise(settled))
    for key, ticks in evaluated.items():
        assert 15 <= ticks[0] - started[key] <= 20
        assert 10 <= ticks[1] - ticks[0] <= 20  # onto the interval's grid
        assert all(b - a == 15 for a, b in itertools.pairwise(ticks[1:]))
