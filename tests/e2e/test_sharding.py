"""Three controller processes sharing twelve rollouts on shard Leases (issue #16): every
rollout written by exactly one replica at any moment, and a killed replica's rollouts
resumed by the others within the lease duration, no step skipped or repeated."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.scale.world import World
from meshlab.kubeapi.faults import WRITE_VERBS as WRITES
from meshlab.kubeapi.faults import AuditEntry
from meshlab.kubeapi.store import ApiError
from tests.conftest import need_prometheus

N, SHARDS, LEASE_S = 12, 6, 4.0
ARGS = (
    "--shards",
    str(SHARDS),
    "--lease-duration",
    str(LEASE_S),
    "--renew-deadline",
    "3",
    "--retry-period",
    "1",
)


def holders(world: World) -> dict[int, str]:
    """Who holds each shard Lease now, as the emulator has it."""
    assert world.api is not None
    out = {}
    for i in range(SHARDS):
        name = f"meshrollout-controller-shard-{i}"
        try:
            lease = world.api.get("coordination.k8s.io", "v1", "leases", "scale-0", name)
        except ApiError:  # not created yet
            continue
        holder = (lease.get("spec") or {}).get("holderIdentity")
        if holder:
            out[i] = holder
    return out


def wait(what: str, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.5)


def rollout_writes(world: World) -> dict[str, list[AuditEntry]]:
    """Every accepted write of a rollout's status, VirtualService or DestinationRule (the
    benchmark names all three after the service), per rollout, in order."""
    out: dict[str, list[AuditEntry]] = defaultdict(list)
    for e in world.audit():
        kind = e.resource.split(".")[0]
        writes = kind in ("rollouts", "virtualservices", "destinationrules") and e.verb in WRITES
        if writes and e.code < 300:
            out[f"{e.namespace}/{e.name}"].append(e)
    return out


def test_three_replicas_share_the_rollouts_and_survive_a_kill(tmp_path: Path) -> None:
    """Each replica holds two of six shards before the rollouts start; one is SIGKILLed
    mid-rollout; every rollout still goes 5 → 50 → 100 once each, and the writers of
    each rollout change at most once: from the killed replica to a survivor, within the
    lease duration (and a retry period) of the kill."""
    need_prometheus()
    world = World(
        N,
        tmp_path,
        replicas=3,
        controller_args=ARGS,
        scrape_s=1,
        strategy={"steps": [5, 50, 100], "stepDuration": "8s"},
        # What is tested is who writes, not how a step is judged: the threshold judge passes
        # the exporter's steady, error-free series at once, where the default judge would
        # gather evidence for minutes at its 5 canary requests a second.
        analysis={"interval": "2s", "minRequests": 10, "judge": "threshold"},
    ).up()
    try:
        wait(
            "two shards each",
            lambda: (
                sorted(list(holders(world).values()).count(f"scale-bench-{r}") for r in range(3))
                == [2, 2, 2]
            ),
            60,
        )
        world.start_rollouts()
        wait(
            "every rollout at 5%",
            lambda: all(s.get("canaryWeight") == 5 for s in world.statuses()),
            60,
        )
        time.sleep(4)
        victim = "scale-bench-1"
        world.processes["controller-1"].kill()
        killed_at = time.time()

        def taken_over() -> bool:
            now = holders(world)
            return len(now) == SHARDS and victim not in now.values()

        wait("the victim's shards taken over", taken_over, 60)
        takeover = time.time() - killed_at
        wait(
            "every rollout succeeded",
            lambda: all(s.get("phase") == "Succeeded" for s in world.statuses()),
            180,
        )
        writes = rollout_writes(world)
        statuses = world.statuses()
    finally:
        world.down()
    moved = 0
    for key, entries in writes.items():
        writers = [e.user for e in entries]
        changes = [(a, b) for a, b in itertools.pairwise(writers) if a != b]
        assert len(changes) <= 1, (key, writers)  # never two writers taking turns
        if changes:
            (before, after), first = changes[0], writers.index(changes[0][1])
            assert before == victim, (key, writers)
            assert after != victim, (key, writers)
            resumed = entries[first].at - killed_at
            # The takeover, then the rollout's next evaluation (2 s) and a tick.
            assert 0 < resumed <= takeover + 2 + 1 + 2, (key, resumed)
            moved += 1
        if victim in writers:
            assert max(e.at for e in entries if e.user == victim) <= killed_at
    assert moved > 0  # the victim held rollouts that were not finished
    # Its last renewal was seen at most a retry period before the kill; the survivors take
    # its shards one lease duration after that, at their next round.
    assert takeover <= LEASE_S + 2 * 1 + 0.5, takeover
    for status in statuses:
        decisions = [(h["decision"], h.get("stepIndex")) for h in status["history"]]
        promoted = [step for decision, step in decisions if decision == "promoted"]
        assert promoted == [1, 2], decisions  # 5 → 50 → 100, each step once, in order
        assert [d for d, _ in decisions].count("succeeded") == 1, decisions
