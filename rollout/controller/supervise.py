"""Keeping one rollout's failure with that rollout, and the controller's threads alive.

Called by ``rollout.controller.loop``: every reconcile and every evaluation
of one rollout runs inside a per-rollout boundary that turns any exception into
a :class:`Crash` description (what and where, never the exception's text, which
may carry a secret or a tenant's input), and a :class:`Backoff` that says when
to try that rollout again. Long-lived loops run under :func:`supervised`, which
restarts a loop that raised and counts it, so a bug never silently ends a thread.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[str, str]


@dataclass(frozen=True)
class Crash:
    """An unexpected exception, reduced to what is safe to show anyone: its type and place."""

    kind: str
    where: str

    @classmethod
    def of(cls, error: BaseException) -> Crash:
        frames = traceback.extract_tb(error.__traceback__)
        if not frames:
            return cls(type(error).__name__, "unknown place")
        last = frames[-1]
        return cls(
            type(error).__name__, f"{last.name} ({os.path.basename(last.filename)}:{last.lineno})"
        )

    def __str__(self) -> str:
        # The exception's own text is left out on purpose: it can hold a token,
        # a URL with credentials, or another tenant's input.
        return f"{self.kind} in {self.where}"


@dataclass
class Backoff:
    """Per-rollout retry delays that double on each failure, reset on success."""

    first_s: float = 0.5
    limit_s: float = 300.0
    _failures: dict[Key, int] = field(default_factory=dict)

    def failed(self, key: Key) -> float:
        """Record one more failure of ``key``; the delay before its next try."""
        count = self._failures.get(key, 0)
        self._failures[key] = count + 1
        return float(min(self.limit_s, self.first_s * 2 ** min(count, 30)))

    def succeeded(self, key: Key) -> None:
        self._failures.pop(key, None)

    def failures(self, key: Key) -> int:
        return self._failures.get(key, 0)


class Supervised:
    """A daemon thread running ``loop`` until ``stopping``; a loop that raises is restarted.

    ``on_crash`` hears about each crash (to count and log it). ``alive()`` is
    what ``/healthz`` asks: False once the thread is gone while it should run.
    """

    def __init__(
        self,
        name: str,
        loop: Callable[[], None],
        stopping: threading.Event,
        on_crash: Callable[[str, Crash], None],
        restart_delay_s: float = 1.0,
    ) -> None:
        self.name, self.loop, self.stopping = name, loop, stopping
        self.on_crash, self.restart_delay_s = on_crash, restart_delay_s
        self.crashes = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Supervised:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.loop()
            except Exception as error:  # noqa: BLE001 the loop's own bug: count it, start it again
                self.crashes += 1
                self.on_crash(self.name, Crash.of(error))
                self.stopping.wait(self.restart_delay_s)
            else:
                return  # the loop ended by itself (it saw ``stopping``)

    def alive(self) -> bool:
        return self.thread.is_alive() or self.stopping.is_set()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)


__all__ = ["Backoff", "Crash", "Supervised"]
