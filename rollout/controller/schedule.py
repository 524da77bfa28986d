"""When each rollout's next evaluation is due, and which ones a tick gathers into one batch.

A rollout is due one analysis interval after its step began or after its last
evaluation. Each tick that finds rollouts due sends one batch of queries to
Prometheus, so rollouts due at different seconds cost a batch each: a thousand
rollouts whose steps began over a few minutes would cost a batch at almost every tick.
So due times are put on a grid of the interval (multiples of it since the epoch):
after an evaluation, the grid point nearest one interval on (the tick runs just after
a grid point). At a new step the first evaluation needs one interval of the step's own
data, so it comes at the first point at least one interval on of a grid three times
finer (:data:`FIRST_GRID`): a first evaluation is at most a third of an interval late,
not a whole one, and step starts add at most two batches per interval; the nearest
rounding then brings the rollout onto the interval's grid. Rollouts of one interval
are due together and cost one batch per interval in steady state, where each is on
time. A tick that has a rollout due also takes those due within
half their interval (a rollout off the grid after a failure's backoff never is: its
backoff stands). The clock is the caller's; this module keeps only times, and says
what to ask Prometheus for a rollout (``ask_for``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from rollout.analysis.queries import Ask, Check
from rollout.controller.reconcile import Result
from rollout.mesh import service_name
from rollout.model import parse_duration

Key = tuple[str, str]
EVALUATED = ("Progressing", "Paused")
EARLY_SHARE = 0.5
"""How early, as a share of its interval, a rollout may join a batch that is going anyway."""
FIRST_GRID = 3
"""A step's first evaluation is on the grid of the interval divided by this."""


class Schedule:
    """Due times per rollout (written by the worker and the tick: single dict operations)."""

    def __init__(self, early_share: float = EARLY_SHARE) -> None:
        self.early_share = early_share
        self._due: dict[Key, datetime] = {}
        self._held: set[Key] = set()

    def next_at(self, key: Key, at: datetime, interval_s: float = 0, nearest: bool = False) -> None:
        """The rollout's next evaluation is due at ``at``, put on the grid of ``interval_s``:
        the first grid point from ``at`` on, or with ``nearest`` the nearest one."""
        if interval_s > 0:
            at = on_grid(at, interval_s, nearest)
        self._due[key] = at
        self._held.discard(key)

    def first_at(self, key: Key, at: datetime, interval_s: float) -> None:
        """A new step: its first evaluation is due at ``at`` (one interval into the step),
        put on the finer grid of ``interval_s / FIRST_GRID``."""
        self.next_at(key, at, interval_s / FIRST_GRID)

    def hold(self, key: Key, until: datetime) -> None:
        """After a failure: not before ``until``, not even early."""
        self._due[key] = until
        self._held.add(key)

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)
        self._held.discard(key)

    def due_at(self, key: Key) -> datetime | None:
        return self._due.get(key)

    def due(self, keys: Iterable[Key], now: datetime) -> list[Key]:
        """The rollouts due now (never scheduled counts as due)."""
        out = []
        for key in keys:
            at = self._due.get(key)
            if at is None or at <= now:
                out.append(key)
        return out

    def nearly_due(self, intervals: Mapping[Key, float], now: datetime) -> list[Key]:
        """The rollouts not due yet but due within ``early_share`` of their interval
        (``intervals``: seconds per rollout), to join a batch that is going anyway."""
        out = []
        for key, interval_s in intervals.items():
            at = self._due.get(key)
            if at is None or at <= now or key in self._held:
                continue
            if at - now <= timedelta(seconds=interval_s * self.early_share):
                out.append(key)
        return out


def on_grid(at: datetime, interval_s: float, nearest: bool = False) -> datetime:
    """The grid point of ``interval_s`` at or after ``at`` (or the nearest one).

    >>> from datetime import UTC
    >>> on_grid(datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC), 15).second
    15
    >>> on_grid(datetime(2026, 1, 1, 0, 0, 16, tzinfo=UTC), 15, nearest=True).second
    15
    """
    steps = at.timestamp() / interval_s
    point = round(steps) if nearest else math.ceil(steps - 1e-6)
    return datetime.fromtimestamp(point * interval_s, tz=at.tzinfo)


def ask_for(key: Key, result: Result, now: datetime) -> Ask | None:
    """What to ask Prometheus for this rollout now; None when it is not evaluated now."""
    spec, status, located = result.spec, result.status, result.located
    if spec is None or located is None or status.phase not in EVALUATED:
        return None
    if status.pause_reason in ("drift", "regression") or status.step_started_at is None:
        return None
    interval = max(1, round(parse_duration(spec.analysis.interval).total_seconds()))
    if now - status.step_started_at < timedelta(seconds=interval):
        return None  # the window must lie inside the step: only data from its weight
    service = service_name(spec.service)
    checks = tuple(Check(c.name, c.query, c.namespace_label) for c in spec.analysis.custom_checks)
    return Ask(
        key=f"{key[0]}/{key[1]}",
        namespace=key[0],
        service=service,
        stable_version=located.stable_version,
        canary_version=located.canary_version,
        step_started_at=status.step_started_at,
        window_s=interval,
        requests_metric=spec.analysis.requests_metric,
        latency_metric=spec.analysis.latency_metric,
        checks=checks,
        reporter=spec.http_route.reporter if spec.http_route else "destination",
        split_by="service" if located.gateway is not None else "version",
    )


__all__ = ["EARLY_SHARE", "EVALUATED", "FIRST_GRID", "Schedule", "ask_for", "on_grid"]
