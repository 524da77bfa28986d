"""Shard Leases over real HTTP: replicas share K shards, a lost replica's shards are
taken over after the lease duration, and the fence follows each rollout's shard."""

from __future__ import annotations

import time

import pytest

from rollout.kube import LeaseTiming, NotLeader
from rollout.kube.shards import ShardLeases, shard_of
from tests.integration.conftest import Cluster

FAST = LeaseTiming(lease_duration=3.0, renew_deadline=2.0, retry_period=0.5)


def replicas(cluster: Cluster, *names: str, shards: int = 6) -> list[ShardLeases]:
    return [ShardLeases(cluster.kube(n), cluster.namespace, "ctl", n, shards, FAST) for n in names]


def settle(group: list[ShardLeases], seconds: float) -> None:
    """Rounds of every replica, as their threads would run them, for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for replica in group:
            replica.round()
        time.sleep(FAST.retry_period)


def test_three_replicas_share_the_shards_without_overlap(cluster: Cluster) -> None:
    """Six shards, three replicas: two each, disjoint, all held."""
    group = replicas(cluster, "a", "b", "c")
    settle(group, 4)
    held = [set(r.held()) for r in group]
    assert [len(h) for h in held] == [2, 2, 2], held
    assert set().union(*held) == set(range(6))


def test_a_stopped_replica_s_shards_are_taken_over_after_the_lease(cluster: Cluster) -> None:
    """c stops renewing: within the lease duration (and a few rounds) a and b hold all six,
    and c itself stopped counting as their holder before they could take them."""
    a, b, c = replicas(cluster, "a", "b", "c")
    settle([a, b, c], 4)
    lost = set(c.held())
    stopped = time.monotonic()
    settle([a, b], FAST.renew_deadline + 0.2)
    assert c.held() == []  # its fence closed on its own, before anyone else may take over
    assert not (set(a.held()) | set(b.held())) & lost
    while set(a.held()) | set(b.held()) != set(range(6)):
        assert time.monotonic() - stopped < FAST.lease_duration + 3, (a.held(), b.held())
        settle([a, b], FAST.retry_period)
    settle([a, b], 2)
    assert len(a.held()) == len(b.held()) == 3


def test_the_fence_follows_the_rollout_s_shard(cluster: Cluster) -> None:
    """A write about a rollout of a shard this replica holds passes; another shard's, or a
    write naming no rollout, is refused."""
    a, b = replicas(cluster, "a", "b", shards=4)
    settle([a, b], 3)
    keys = [(cluster.namespace, f"r{i}") for i in range(40)]
    mine = next(k for k in keys if shard_of(k, 4) in a.held())
    theirs = next(k for k in keys if shard_of(k, 4) in b.held())
    assert a.owns(mine)
    assert not a.owns(theirs)
    with a.acting_on(mine):
        a.fence()
    with a.acting_on(theirs), pytest.raises(NotLeader):
        a.fence()
    with pytest.raises(NotLeader):
        a.fence()


def test_a_lapsed_shard_is_gained_again_even_when_the_next_round_renews_it(
    cluster: Cluster,
) -> None:
    """A round that comes late (a starved process) finds its shards' fences lapsed; the
    work they refused meanwhile was dropped, so renewing them counts as gaining them: the
    controller is told to queue everything again."""
    clock = [100.0]
    replica = ShardLeases(
        cluster.kube("a"), cluster.namespace, "ctl", "a", 3, FAST, monotonic=lambda: clock[0]
    )
    calls: list[str] = []

    def started() -> None:
        calls.append("started")

    def stopped() -> None:
        calls.append("stopped")

    held = replica.step(set(), started, stopped)
    assert held == {0, 1, 2}
    assert calls == ["started"]
    clock[0] += FAST.retry_period  # on time: renewed, nothing to say
    held = replica.step(held, started, stopped)
    assert calls == ["started"]
    clock[0] += FAST.renew_deadline + 0.5  # late: the fence refused writes in between
    with pytest.raises(NotLeader), replica.acting_on(("team", "inventory")):
        replica.fence()
    held = replica.step(held, started, stopped)
    assert held == {0, 1, 2}
    assert calls == ["started", "started"]
