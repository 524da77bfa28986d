"""Leader election on a ``coordination.k8s.io/v1`` Lease, with a fence for writers.

Why not ``kubernetes.leaderelection``: it runs the leader's work in a thread it
never stops, measures time with the wall clock, binds to the process-wide
default client, and offers no way for a writer to ask "am I still safely the
leader?" just before a write. A replica that cannot renew would go on writing
after another had taken over (the two-writers bug Argo Rollouts had in #2117).

Here a replica counts itself leader only until ``renew_deadline`` after the
*start* of its last successful renewal (monotonic clock). Others may take the
lease only ``lease_duration`` after they *saw* that renewal, which is later; so
a replica that cannot renew stops acting ``lease_duration - renew_deadline``
before anyone else can start. Writers call :meth:`LeaderElector.fence` first.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Conflict, KubeError, NotFound
from rollout.kube.resources import LEASES


class NotLeader(Exception):
    """This replica is not (or no longer safely) the leader: it must not write."""


@dataclass(frozen=True)
class LeaseTiming:
    """Seconds. ``renew_deadline`` < ``lease_duration``; the difference is the safety margin."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for one Lease."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timing = timing or LeaseTiming()
        self._monotonic, self._wall = monotonic, wall
        self._valid_until = float("-inf")
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = float("-inf")
        self.stopping = threading.Event()
        # How often is_leader() said no, and the count at the last round's look: a
        # refusal while leading means a lapse (a renewal came late) dropped some work.
        self._refusals = self._refusals_seen = 0

    # -- the fence -------------------------------------------------------------
    def is_leader(self) -> bool:
        leads = self._monotonic() < self._valid_until
        if not leads:
            self._refusals += 1  # not atomic, but any lost increment still shows a change
        return leads

    def refused_since_last_look(self) -> bool:
        """Whether :meth:`is_leader` said no since this was last asked (the elector's
        thread asks it once a round)."""
        count = self._refusals
        refused, self._refusals_seen = count != self._refusals_seen, count
        return refused

    def owns(self, key: tuple[str, str]) -> bool:
        """One lease for everything: the leader owns every rollout."""
        del key
        return self.is_leader()

    def acting_on(self, key: tuple[str, str]) -> contextlib.AbstractContextManager[None]:
        del key  # one lease: the fence is the same for every rollout
        return contextlib.nullcontext()

    def fence(self) -> None:
        """Raise :class:`NotLeader` unless this replica may write right now."""
        if not self.is_leader():
            raise NotLeader(f"{self.identity} does not hold lease {self.namespace}/{self.name}")

    # -- one round ---------------------------------------------------------------
    def observe(self) -> None:
        """Read the lease and note when its holder's renewals stop, without taking it: a
        replica that may later take it over (a shard) needs its clock running already."""
        with contextlib.suppress(KeyError, KubeError):
            self._look(self.kube.get(LEASES, self.namespace, self.name), self._monotonic())

    def _look(self, lease: dict[str, Any], started: float) -> tuple[str, bool]:
        """The holder, and whether someone else holds it unexpired as seen from here."""
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, started
        duration = float(spec.get("leaseDurationSeconds") or self.timing.lease_duration)
        held = bool(holder) and started < self._observed_at + duration
        return holder, held

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        started = self._monotonic()
        try:
            lease = self.kube.get(LEASES, self.namespace, self.name)
        except NotFound:
            return self._write(None, started, transitions=0)
        except KubeError:
            return self.is_leader()
        holder, held = self._look(lease, started)
        transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0)
        if holder == self.identity:
            return self._write(lease, started, transitions)
        if held:
            return False  # someone else holds it and we have not seen it expire
        return self._write(lease, started, transitions + 1)

    def _write(self, lease: dict[str, Any] | None, started: float, transitions: int) -> bool:
        now = _micro_time(self._wall())
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timing.lease_duration),
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        old_spec = (lease or {}).get("spec") or {}
        keep_acquired = old_spec.get("holderIdentity") == self.identity
        spec["acquireTime"] = old_spec.get("acquireTime") if keep_acquired else now
        try:
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name},
                    "spec": spec,
                }
                self.kube.create(LEASES, self.namespace, body)
            else:
                self.kube.replace(LEASES, self.namespace, self.name, {**lease, "spec": spec})
        except Conflict:
            return False  # somebody else wrote first
        except KubeError:
            return self.is_leader()
        self._valid_until = started + self.timing.renew_deadline
        return True

    def release(self) -> None:
        """Give the lease up at once (graceful shutdown), so another replica need not wait."""
        if not self.is_leader():
            return
        self._valid_until = float("-inf")
        try:
            lease = self.kube.get(LEASES, self.namespace, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
                self.kube.replace(LEASES, self.namespace, self.name, {**lease, "spec": spec})
        except KubeError:
            pass  # it will expire on its own

    # -- the loop ----------------------------------------------------------------
    def run(
        self,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
    ) -> None:
        """Acquire, renew every ``retry_period``, call back on gaining and losing; until stopped."""
        leading = False
        while not self.stopping.is_set():
            leading = self.round(leading, on_started, on_stopped)
            self.stopping.wait(self.timing.retry_period)
        if leading:
            self.release()
            on_stopped()

    def round(
        self, leading: bool, on_started: Callable[[], None], on_stopped: Callable[[], None]
    ) -> bool:
        """One attempt to acquire or renew, and the callbacks it calls for; whether this
        replica leads afterwards.

        A lapse counts as a loss even when this round renews: a renewal that came late
        (a starved process, a slow API) let the fence refuse writes, and the controller
        dropped that work. ``on_stopped`` then ``on_started`` has it queue everything
        again (the level-triggered answer), instead of waiting for the next resync.
        """
        self.try_acquire_or_renew()
        refused = self.refused_since_last_look()
        if leading and (refused or not self.is_leader()):
            leading = False
            on_stopped()
        if self.is_leader() and not leading:
            leading = True
            on_started()
        return leading

    def start(self, **callbacks: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=self.run, kwargs=callbacks, name="leader", daemon=True)
        thread.start()
        return thread

    def begin(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """The controller's Leader port: campaign on a thread of its own."""
        self.start(on_started=on_started, on_stopped=on_stopped)

    def end(self) -> None:
        """The controller's Leader port: stop campaigning, give the lease back."""
        self.stopping.set()
        self.release()
