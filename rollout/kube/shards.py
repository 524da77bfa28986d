"""Sharding across replicas on Kubernetes Leases: K shard Leases, each rollout hashed to one.

Beyond one replica's capacity, ``--shards K`` turns leader election into K
elections: shard Lease ``<lease>-shard-<i>`` is held by at most one replica, with
the same fence as the single leader (:class:`rollout.kube.leader.LeaderElector`:
a replica stops writing ``lease_duration - renew_deadline`` before anyone else
may take a shard over), and a rollout belongs to shard
``sha256(namespace/name) mod K``. So Kubernetes' own Leases decide who may write
what, as in the kubernetes-controller-sharding design (shard leases, assignment by
hash), and a lost replica's shards are taken over within the lease duration.

Each replica says it is alive in the annotations of one more Lease,
``<lease>-members`` (heartbeats older than the lease duration are dropped), and
holds about its share, ``ceil(K / live replicas)``: it takes free or expired
shards up to its share and gives back one above it per round, so shards spread
as replicas come and go. Writers name the rollout they act on (:meth:`acting_on`)
and call :meth:`fence` before each write.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Conflict, KubeError, NotFound
from rollout.kube.leader import LeaderElector, LeaseTiming, NotLeader
from rollout.kube.resources import LEASES

Key = tuple[str, str]
MEMBER = "meshrollout.dev/member."


def shard_of(key: Key, shards: int) -> int:
    """The shard a rollout belongs to (stable across replicas and restarts)."""
    digest = hashlib.sha256(f"{key[0]}/{key[1]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


class ShardLeases:
    """This replica's share of K shard Leases: the controller's Leader port, per key."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        shards: int,
        timing: LeaseTiming | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timing = timing or LeaseTiming()
        self._wall = wall
        self.electors = [
            LeaderElector(kube, namespace, f"{name}-shard-{i}", identity, self.timing, monotonic)
            for i in range(shards)
        ]
        self.members = 1
        self.stopping = threading.Event()
        self._acting = threading.local()

    # -- the Leader port ---------------------------------------------------------
    def held(self) -> list[int]:
        return [i for i, e in enumerate(self.electors) if e.is_leader()]

    def is_leader(self) -> bool:
        """Holds at least one shard (the controller's loops run)."""
        return any(e.is_leader() for e in self.electors)

    def owns(self, key: Key) -> bool:
        return self.electors[shard_of(key, len(self.electors))].is_leader()

    @contextlib.contextmanager
    def acting_on(self, key: Key) -> Iterator[None]:
        """Writes in this block are about ``key``: the fence checks its shard."""
        self._acting.key = key
        try:
            yield
        finally:
            self._acting.key = None

    def fence(self) -> None:
        key: Key | None = getattr(self._acting, "key", None)
        if key is None:
            raise NotLeader(f"{self.identity}: a write outside any rollout's shard")
        if not self.owns(key):
            shard = shard_of(key, len(self.electors))
            raise NotLeader(f"{self.identity} does not hold shard {shard} of {key[0]}/{key[1]}")

    def begin(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        thread = threading.Thread(
            target=self.run, args=(on_started, on_stopped), name="shards", daemon=True
        )
        thread.start()

    def end(self) -> None:
        self.stopping.set()
        for elector in self.electors:
            elector.release()

    # -- one round -----------------------------------------------------------------
    def heartbeat(self) -> int:
        """Say this replica is alive; the number of live replicas (at least 1)."""
        now = self._wall()
        try:
            lease: dict[str, Any]
            try:
                lease = self.kube.get(LEASES, self.namespace, f"{self.name}-members")
            except NotFound:
                lease = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": f"{self.name}-members"},
                    "spec": {},
                }
                lease = self.kube.create(LEASES, self.namespace, lease)
            meta = lease["metadata"]
            notes = dict(meta.get("annotations") or {})
            horizon = now.timestamp() - self.timing.lease_duration
            live = {k: v for k, v in notes.items() if not k.startswith(MEMBER) or _at(v) > horizon}
            live[MEMBER + self.identity] = f"{now.timestamp():.3f}"
            body = {**lease, "metadata": {**meta, "annotations": live}}
            self.kube.replace(LEASES, self.namespace, f"{self.name}-members", body)
            self.members = max(1, sum(k.startswith(MEMBER) for k in live))
        except (Conflict, KubeError):
            pass  # another replica wrote first, or the API is away: keep the last count
        return self.members

    def round(self) -> None:
        """Renew what is held, give back one shard above this replica's share, take free
        ones up to it."""
        share = math.ceil(len(self.electors) / self.heartbeat())
        for elector in self.electors:
            if elector.is_leader():
                elector.try_acquire_or_renew()
        held = self.held()
        if len(held) > share:
            self.electors[held[-1]].release()
            return
        # Start looking at a place of our own, so replicas do not all race for shard 0.
        offset = shard_of((self.identity, ""), len(self.electors))
        for step in range(len(self.electors)):
            elector = self.electors[(offset + step) % len(self.electors)]
            if elector.is_leader():
                continue
            if len(self.held()) < share:
                elector.try_acquire_or_renew()
            else:
                # Watch the others' shards too, so that when a replica dies its shards
                # can be taken one lease duration after its last renewal, not two.
                elector.observe()

    def run(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Rounds every retry period, with their callbacks (:meth:`step`); until stopped."""
        held: set[int] = set()
        while not self.stopping.is_set():
            started = time.monotonic()
            held = self.step(held, on_started, on_stopped)
            self.stopping.wait(max(0.0, self.timing.retry_period - (time.monotonic() - started)))

    def step(
        self, before: set[int], on_started: Callable[[], None], on_stopped: Callable[[], None]
    ) -> set[int]:
        """One round; ``on_started`` when a shard is gained (the controller queues
        everything; it acts only on what it owns), ``on_stopped`` when none is held any
        more. The shards held afterwards.

        A shard whose fence refused work since the last round (a renewal came late) is
        gained again even when this round renews it: that work was dropped, and
        ``on_started`` queues it again."""
        self.round()
        now = set(self.held())
        refused = {i for i, e in enumerate(self.electors) if e.refused_since_last_look()}
        if (now - before) or (now & before & refused):
            on_started()
        elif before and not now:
            on_stopped()
        return now


def _at(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


__all__ = ["ShardLeases", "shard_of"]
