"""The controller's work queue: which rollouts to reconcile next, and with which evaluation.

Filled by the watches, the evaluation ticks and retries in
``rollout.controller.loop``; drained by its one worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rollout.analysis.judges import Evaluation

Key = tuple[str, str]


class WorkQueue:
    """Keys to reconcile, each at most once in the queue; an evaluation is never dropped.

    A key may be put back with a delay (a retry with backoff); it is handed out
    once the delay is over, or at once if something new (a watch event, an
    evaluation) puts it again. Of two evaluations for one key the newer one is kept, so
    a retry never replays an old evaluation over a fresh one. Several workers may take
    keys, never the same key at once: a key handed out is not handed out again until
    :meth:`done` (put meanwhile, it waits its turn).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._ready_at: dict[Key, float] = {}  # insertion order is queue order
        self._evaluations: dict[Key, Evaluation | None] = {}
        self._holds: dict[Key, tuple[float, object]] = {}  # failing: until when, generation
        self._processing: set[Key] = set()  # handed out, not done yet

    def put(
        self,
        key: Key,
        evaluation: Evaluation | None = None,
        after_s: float = 0.0,
        generation: object = None,
    ) -> None:
        """Queue ``key``; a held key waits out its hold, unless ``generation`` is a new one
        (a changed spec is worth trying at once)."""
        with self._cond:
            now = self._clock()
            held = self._holds.get(key)
            if held is not None and generation is not None and generation != held[1]:
                del self._holds[key]
            elif held is not None:
                after_s = max(after_s, held[0] - now)
            ready_at = now + after_s
            if key not in self._ready_at:
                self._ready_at[key] = ready_at
                self._evaluations[key] = evaluation
            else:
                self._ready_at[key] = min(self._ready_at[key], ready_at)
                self._evaluations[key] = _newer(self._evaluations[key], evaluation)
            self._cond.notify()

    def hold(self, key: Key, delay_s: float, generation: object = None) -> None:
        """Keep ``key`` back for ``delay_s`` (a failing rollout's backoff), whoever puts it."""
        with self._cond:
            self._holds[key] = (self._clock() + delay_s, generation)

    def release(self, key: Key) -> None:
        """End ``key``'s hold (it succeeded, or it is gone)."""
        with self._cond:
            self._holds.pop(key, None)

    def get(self, timeout: float) -> tuple[Key, Evaluation | None] | None:
        """The next ready key that no worker holds (and its evaluation); the caller calls
        :meth:`done` with it afterwards."""
        with self._cond:
            key = self._first_ready()
            if key is None:
                waits = [
                    t - self._clock()
                    for k, t in self._ready_at.items()
                    if k not in self._processing
                ]
                self._cond.wait(min([timeout, *waits]) if waits else timeout)
                key = self._first_ready()
            if key is None:
                return None
            del self._ready_at[key]
            self._processing.add(key)
            return key, self._evaluations.pop(key)

    def done(self, key: Key) -> None:
        """The worker that took ``key`` is finished with it."""
        with self._cond:
            self._processing.discard(key)
            self._cond.notify()

    def _first_ready(self) -> Key | None:
        now = self._clock()
        return next(
            (k for k, t in self._ready_at.items() if t <= now and k not in self._processing),
            None,
        )

    def __len__(self) -> int:
        with self._cond:
            return len(self._ready_at)


def _newer(old: Evaluation | None, new: Evaluation | None) -> Evaluation | None:
    if old is None or new is None:
        return old or new
    return new if new.at >= old.at else old


__all__ = ["WorkQueue"]
