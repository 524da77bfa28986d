"""Deliver notifications without ever holding up a rollout.

The reconciler hands over each pending effect and moves on. A bounded queue per
rollout keeps each release's messages in order; one worker thread sends them,
retrying a failing channel with growing delays (Slack's own Retry-After is
honoured inside ``slack_sdk``), while other rollouts' messages go on. An effect
stays in the Rollout's outbox until every channel took it, so a restart
re-sends what was not delivered; effects already delivered (or, for a Slack
thread, already replied after a restart) are not sent again.

Delivery is keyed by :class:`~rollout.model.EffectId`: the rollout's namespace,
name and uid joined with the effect's run, decision and event, so two rollouts
living the same story never stand in for each other; a Slack thread belongs to
one run of one rollout (``EffectId.release``).

The delivery thread is supervised: any exception from building channels or
from a channel is caught, counted (``on_error``) and logged by its type only
(an exception's text may carry a token); the loop itself survives anything, and
:meth:`QueueNotifier.alive` tells ``/healthz`` whether it still runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from rollout.model import EffectId, PendingEffect
from rollout.notify.channels import Channel, DeliveryError, Refused
from rollout.notify.messages import release_of

log = structlog.get_logger("meshrollout.notify")
Key = tuple[str, str]
Release = tuple[str, str, str, int]  # EffectId.release: namespace, name, uid, run
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class _Item:
    rollout: dict[str, Any]
    effect: PendingEffect
    id: EffectId
    attempt: int = 0
    done_channels: set[str] = field(default_factory=set)


def _identity(rollout: dict[str, Any]) -> tuple[str, str, str]:
    meta = rollout["metadata"]
    return str(meta["namespace"]), str(meta["name"]), str(meta.get("uid", ""))


def _reason(error: Exception) -> str:
    """What a log line may say about an error: ours in full, anyone else's by type only."""
    if isinstance(error, DeliveryError):
        return str(error)
    return f"{type(error).__name__} (its text withheld: it may hold a secret)"


class QueueNotifier:
    """The controller's notifier: per-rollout ordered queues, one delivery thread."""

    def __init__(
        self,
        channels_for: Callable[[dict[str, Any]], list[Channel]],
        on_delivered: Callable[[Key], None] = lambda _key: None,
        on_error: Callable[[str], None] = lambda _channel: None,
        capacity: int = 1000,
        per_rollout: int = 100,
        delays: tuple[float, ...] = RETRY_DELAYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels_for, self.on_delivered, self.on_error = channels_for, on_delivered, on_error
        self.capacity, self.per_rollout = capacity, per_rollout
        self.delays, self.clock = delays, clock
        self._lock = threading.Condition()
        self._queues: dict[Key, deque[_Item]] = {}
        self._ready_at: dict[Key, float] = {}
        self._queued: set[EffectId] = set()
        self._done: set[EffectId] = set()
        self._threads: dict[Release, str] = {}  # one run of one rollout → Slack thread ts
        self._logged: set[tuple[Key, str]] = set()
        self.stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._problems: dict[Key, str] = {}  # the last refusal or delivery error, per rollout
        self.last_error: str | None = None  # the loop's own last failure

    # -- the port -------------------------------------------------------------------
    def notify(self, rollout: dict[str, Any], effect: PendingEffect) -> bool:
        """True once delivered everywhere; otherwise queue it (at most once) and say False."""
        namespace, name, uid = _identity(rollout)
        key: Key = (namespace, name)
        ident = effect.key(namespace, name, uid)
        thread = (rollout.get("status") or {}).get("slackThreadTs")
        with self._lock:
            if ident in self._done:
                return True
            if thread and ident.release not in self._threads:
                self._threads[ident.release] = thread  # a restarted controller keeps the thread
            if ident in self._queued or self._size() >= self.capacity:
                return False
            if len(self._queues.get(key) or ()) >= self.per_rollout:
                return False  # one rollout cannot fill everyone's queue
            self._queues.setdefault(key, deque()).append(_Item(rollout, effect, ident))
            self._queued.add(ident)
            self._lock.notify()
        return False

    def thread(self, rollout: dict[str, Any]) -> str | None:
        """The Slack thread of the rollout's current run, once one exists."""
        run = int((rollout.get("status") or {}).get("run", 0) or 0)
        with self._lock:
            return self._threads.get((*_identity(rollout), run))

    def problem(self, rollout: dict[str, Any]) -> str | None:
        """Why the rollout's notifications are refused or failing now (no secret in it)."""
        namespace, name, _ = _identity(rollout)
        with self._lock:
            return self._problems.get((namespace, name))

    def alive(self) -> bool:
        """The delivery thread runs (True before :meth:`start` and after :meth:`stop`)."""
        if self._worker is None or self.stopping.is_set():
            return True
        return self._worker.is_alive()

    # -- delivery ---------------------------------------------------------------------
    def _size(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def start(self) -> QueueNotifier:
        self._worker = threading.Thread(target=self.run, name="notify", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=15)

    def _next(self, wait: bool = True) -> tuple[Key, _Item] | None:
        with self._lock:
            now = self.clock()
            for key, queue in self._queues.items():
                if queue and self._ready_at.get(key, 0.0) <= now:
                    return key, queue[0]
            waits = [t - now for k, t in self._ready_at.items() if self._queues.get(k)]
            if wait:
                self._lock.wait(timeout=min([0.5, *waits]) if waits else 0.5)
            return None

    def run(self) -> None:
        """The delivery loop: nothing one delivery does can end it, only :meth:`stop`."""
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception as error:  # noqa: BLE001 a bug of ours: count it, say its type, carry on
                self.last_error = type(error).__name__
                self._count("notifier")
                log.error("notify loop error", error=type(error).__name__)
                self.stopping.wait(0.5)

    def step(self, wait: bool = True) -> bool:
        """Deliver the next ready message, if any (waiting briefly when none is ready)."""
        picked = self._next(wait)
        if picked is not None:
            self.deliver(*picked)
        return picked is not None

    def deliver(self, key: Key, item: _Item) -> None:
        """Send the head of one rollout's queue to every channel not yet done."""
        release = item.id.release
        try:
            message = release_of(item.rollout)
            channels = self.channels_for(item.rollout)
        except Refused as refusal:
            self._refused(key, item, str(refusal))
            return
        except Exception as error:  # noqa: BLE001 the per-rollout boundary: it is counted and said
            self._failed(key, item, "config", _reason(error))
            return
        for channel in channels:
            name = str(getattr(channel, "name", "channel"))
            if name in item.done_channels:
                continue
            try:
                with self._lock:
                    thread = self._threads.get(release)
                thread = channel.send(message, item.effect, thread)
            except Exception as error:  # noqa: BLE001 the per-rollout boundary: it is counted and said
                self._failed(key, item, name, _reason(error))
                return
            item.done_channels.add(name)
            if thread is not None:
                with self._lock:
                    self._threads[release] = thread
        with self._lock:
            self._problems.pop(key, None)
        self._finish(key, item)

    def _finish(self, key: Key, item: _Item) -> None:
        with self._lock:
            self._queues[key].popleft()
            self._queued.discard(item.id)
            self._done.add(item.id)
            self._ready_at.pop(key, None)
        self.on_delivered(key)

    def _count(self, channel: str) -> None:
        try:
            self.on_error(channel)
        except Exception as error:  # noqa: BLE001 a metric must not stop delivery
            log.error("notify error counter failed", error=type(error).__name__)

    def _refused(self, key: Key, item: _Item, reason: str) -> None:
        """Not allowed by the policy: counted, logged once, kept for the status, never sent."""
        self._count("policy")
        with self._lock:
            self._problems[key] = reason
        if (key, "policy") not in self._logged:
            self._logged.add((key, "policy"))
            log.warning("notification refused", rollout=f"{key[0]}/{key[1]}", reason=reason)
        self._finish(key, item)

    def _failed(self, key: Key, item: _Item, channel: str, reason: str) -> None:
        self._count(channel)
        with self._lock:
            self._problems[key] = reason
        if (key, channel) not in self._logged:  # once per rollout and channel, not per retry
            self._logged.add((key, channel))
            log.warning(
                "notification delayed", rollout=f"{key[0]}/{key[1]}", channel=channel, reason=reason
            )
        delay = self.delays[min(item.attempt, len(self.delays) - 1)]
        item.attempt += 1
        with self._lock:
            self._ready_at[key] = self.clock() + delay
