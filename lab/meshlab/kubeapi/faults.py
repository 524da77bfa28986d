"""Fault injection and the audit log of the Kubernetes API emulator.

Tests set faults in process (``api.faults.set(...)``) or over HTTP
(``POST /_lab/faults``), and read every write the emulator accepted or refused
from the audit log (``api.audit.entries()`` or ``GET /_lab/audit``).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


@dataclass(frozen=True)
class Faults:
    """What to do to requests, other than discovery and the lab's own endpoints.

    ``error_rate`` of requests (writes only when ``writes_only``) get one of
    ``error_codes``; ``conflict_rate`` of writes get a 409 without being applied;
    ``lost_response_rate`` of writes are applied and then answered 500 (the
    answer lost on the way back); ``latency_ms`` delays every request; watches
    are cut after ``drop_watches_after_s``. With ``users`` set, only requests
    from those identities (any part of the User-Agent) are affected; with
    ``resources`` set, only requests to those resource types (any part of the
    type's key, e.g. ``virtualservices``).
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500, 503, 429)
    writes_only: bool = False
    conflict_rate: float = 0.0
    drop_watches_after_s: float | None = None
    lost_response_rate: float = 0.0
    users: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    seed: int | None = None


class FaultInjector:
    """Decides, request by request, whether to delay, fail or cut it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._random = random.Random()

    @property
    def current(self) -> Faults:
        return self._faults

    def set(self, **changes: Any) -> Faults:
        """Replace some settings (``set()`` with no argument keeps the rest as they are)."""
        for key in ("error_codes", "users", "resources"):
            if key in changes:
                changes[key] = tuple(changes[key])
        with self._lock:
            self._faults = replace(self._faults, **changes)
            if self._faults.seed is not None:
                self._random.seed(self._faults.seed)
            return self._faults

    def clear(self) -> None:
        with self._lock:
            self._faults = Faults()

    def _applies(self, user: str, resource: str = "") -> bool:
        users, resources = self._faults.users, self._faults.resources
        if resources and not any(r in resource for r in resources):
            return False
        return not users or any(u in user for u in users)

    def before(self, verb: str, user: str = "", resource: str = "") -> int | None:
        """Sleep the configured latency; return an error code to answer with, or None."""
        faults = self._faults
        if not self._applies(user, resource):
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        with self._lock:
            roll = self._random.random()
            if verb in WRITE_VERBS and roll < faults.conflict_rate:
                return 409
            applies = verb in WRITE_VERBS or not faults.writes_only
            if applies and self._random.random() < faults.error_rate:
                return self._random.choice(faults.error_codes)
        return None

    def lose_response(self, verb: str, user: str = "") -> bool:
        """After a write was applied: whether to answer 500 anyway."""
        if verb not in WRITE_VERBS or not self._applies(user):
            return False
        with self._lock:
            return self._random.random() < self._faults.lost_response_rate

    def drop_watches_after(self, user: str = "") -> float | None:
        return self._faults.drop_watches_after_s if self._applies(user) else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self._faults)


@dataclass(frozen=True)
class AuditEntry:
    """One request that reached the emulator's resource handlers."""

    seq: int
    verb: str
    resource: str
    namespace: str
    name: str
    subresource: str
    user: str
    code: int
    resource_version: str = ""
    patch_type: str = ""
    body: Any = None
    at: float = 0.0  # wall-clock seconds when answered (benchmarks time evaluations by it)


@dataclass
class AuditLog:
    """Every write (and, when ``reads`` is on, every read), in the order answered."""

    reads: bool = False
    _entries: list[AuditEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, **fields: Any) -> None:
        if fields["verb"] not in WRITE_VERBS and not self.reads:
            return
        with self._lock:
            self._entries.append(AuditEntry(seq=len(self._entries) + 1, at=time.time(), **fields))

    def entries(self) -> list[AuditEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
