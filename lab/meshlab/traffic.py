"""A steady stream of requests through the lab's Envoy, and a record of what clients saw.

Worker threads keep HTTP/1.1 connections open and pace themselves to the target
rate; each answer is counted by the version that served it (the body says) and
its status code, with its latency, so the demo and the reaction benchmark can say
how many users a bad canary hurt.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


class TrafficGenerator:
    """``rps`` requests per second to ``url`` until stopped."""

    def __init__(self, url: str, rps: float = 100.0, workers: int = 8) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = (
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            parts.path or "/",
        )
        self.rps, self.workers = rps, workers
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()
        self._log: list[tuple[float, str, int]] = []  # (time, version, status)
        self._threads: list[threading.Thread] = []

    def start(self) -> TrafficGenerator:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self, index: int) -> None:
        interval = self.workers / self.rps
        next_at = time.monotonic() + interval * index / self.workers
        conn: http.client.HTTPConnection | None = None
        while not self.stopping.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            next_at += interval
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", self.path)
                answer = conn.getresponse()
                body = answer.read().decode(errors="replace").strip()
                version = body if body in ("v1", "v2", "v3") else "-"
                status = answer.status
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                version, status = "-", 0
            with self._lock:
                self._counts[(version, status)] += 1
                self._log.append((time.monotonic(), version, status))

    def counts(self) -> Counter[tuple[str, int]]:
        with self._lock:
            return Counter(self._counts)

    def failures_since(self, since: float) -> int:
        """Requests answered with a 5xx (or not at all) after ``since`` (monotonic)."""
        with self._lock:
            return sum(
                1 for t, _, status in self._log if t >= since and (status >= 500 or status == 0)
            )
