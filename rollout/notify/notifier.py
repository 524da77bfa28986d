"""Deliver notifications without ever holding up a rollout.

The reconciler hands over each pending effect and moves on. A bounded queue per
rollout keeps each release's messages in order; one worker thread sends them,
retrying a failing channel with growing delays (Slack's own Retry-After is
honoured inside ``slack_sdk``), while other rollouts' messages go on. An effect
stays in the Rollout's outbox until every channel took it, so a restart
re-sends what was not delivered; ids already delivered (or, for a Slack thread,
already replied after a restart) are not sent again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from rollout.model import PendingEffect
from rollout.notify.channels import Channel, DeliveryError
from rollout.notify.messages import release_of

log = structlog.get_logger("meshrollout.notify")
Key = tuple[str, str]
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class _Item:
    rollout: dict[str, Any]
    effect: PendingEffect
    attempt: int = 0
    done_channels: set[str] = field(default_factory=set)


def _run_of(effect_id: str) -> str:
    return effect_id.split(".", 1)[0]  # ids are "r<run>.<n>.<event>"


class QueueNotifier:
    """The controller's notifier: per-rollout ordered queues, one delivery thread."""

    def __init__(
        self,
        channels_for: Callable[[dict[str, Any]], list[Channel]],
        on_delivered: Callable[[Key], None] = lambda key: None,
        on_error: Callable[[str], None] = lambda channel: None,
        capacity: int = 1000,
        delays: tuple[float, ...] = RETRY_DELAYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels_for, self.on_delivered, self.on_error = channels_for, on_delivered, on_error
        self.capacity, self.delays, self.clock = capacity, delays, clock
        self._lock = threading.Condition()
        self._queues: dict[Key, deque[_Item]] = {}
        self._ready_at: dict[Key, float] = {}
        self._queued: set[str] = set()
        self._done: set[str] = set()
        self._threads: dict[tuple[str, str], str] = {}  # (uid, run) → Slack thread ts
        self._logged: set[tuple[Key, str]] = set()
        self.stopping = threading.Event()
        self._worker: threading.Thread | None = None

    # -- the port -------------------------------------------------------------------
    def notify(self, rollout: dict[str, Any], effect: PendingEffect) -> bool:
        """True once delivered everywhere; otherwise queue it (at most once) and say False."""
        meta = rollout["metadata"]
        key: Key = (meta["namespace"], meta["name"])
        thread = (rollout.get("status") or {}).get("slackThreadTs")
        with self._lock:
            if effect.id in self._done:
                return True
            run = (meta.get("uid", ""), _run_of(effect.id))
            if thread and run not in self._threads:
                self._threads[run] = thread  # a restarted controller keeps the thread
            if effect.id in self._queued or self._size() >= self.capacity:
                return False
            self._queues.setdefault(key, deque()).append(_Item(rollout, effect))
            self._queued.add(effect.id)
            self._lock.notify()
        return False

    def thread(self, rollout: dict[str, Any]) -> str | None:
        """The Slack thread of the rollout's current run, once one exists."""
        meta, status = rollout["metadata"], rollout.get("status") or {}
        with self._lock:
            return self._threads.get((meta.get("uid", ""), f"r{status.get('run', 0)}"))

    # -- delivery ---------------------------------------------------------------------
    def _size(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def start(self) -> QueueNotifier:
        self._worker = threading.Thread(target=self.run, name="notify", daemon=True)
        self._worker.start()
        return self

    def alive(self) -> bool:
        """The delivery thread runs (or was asked to stop)."""
        return self.stopping.is_set() or (self._worker is not None and self._worker.is_alive())

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=15)

    def _next(self) -> tuple[Key, _Item] | None:
        with self._lock:
            now = self.clock()
            for key, queue in self._queues.items():
                if queue and self._ready_at.get(key, 0.0) <= now:
                    return key, queue[0]
            waits = [t - now for k, t in self._ready_at.items() if self._queues.get(k)]
            self._lock.wait(timeout=min([0.5, *waits]) if waits else 0.5)
            return None

    def run(self) -> None:
        while not self.stopping.is_set():
            picked = self._next()
            if picked is not None:
                self.deliver(*picked)

    def deliver(self, key: Key, item: _Item) -> None:
        """Send the head of one rollout's queue to every channel not yet done."""
        release = release_of(item.rollout)
        run = (item.rollout["metadata"].get("uid", ""), _run_of(item.effect.id))
        try:
            channels = self.channels_for(item.rollout)
        except DeliveryError as error:
            self._failed(key, item, "config", str(error))
            return
        for channel in channels:
            if channel.name in item.done_channels:
                continue
            try:
                with self._lock:
                    thread = self._threads.get(run)
                thread = channel.send(release, item.effect, thread)
            except DeliveryError as error:
                self._failed(key, item, channel.name, str(error))
                return
            item.done_channels.add(channel.name)
            if thread is not None:
                with self._lock:
                    self._threads[run] = thread
        with self._lock:
            self._queues[key].popleft()
            self._queued.discard(item.effect.id)
            self._done.add(item.effect.id)
            self._ready_at.pop(key, None)
        self.on_delivered(key)

    def _failed(self, key: Key, item: _Item, channel: str, reason: str) -> None:
        self.on_error(channel)
        if (key, channel) not in self._logged:  # once per rollout and channel, not per retry
            self._logged.add((key, channel))
            log.warning(
                "notification delayed", rollout=f"{key[0]}/{key[1]}", channel=channel, reason=reason
            )
        delay = self.delays[min(item.attempt, len(self.delays) - 1)]
        item.attempt += 1
        with self._lock:
            self._ready_at[key] = self.clock() + delay
