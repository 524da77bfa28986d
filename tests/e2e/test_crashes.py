"""Crashes: SIGKILL the controller at random moments, and two replicas with one leader.

The invariants are checked from the emulator's audit log of every write:
the canary weight written to the VirtualService never exceeds the weight of
the step the status recorded before it; within a run the steps go 0, 1, 2, ...
with none skipped or repeated; each decision makes exactly one Event.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from meshlab.kubeapi import AuditEntry
from tests.e2e.harness import Stack

FAST = ("--step-duration", "2s", "--interval", "1s", "--min-requests", "10")
TERMINAL = ("Succeeded", "RolledBack")
DECISION_EVENTS = {
    "promoted": "StepPromoted",
    "started": "Started",
    "succeeded": "Succeeded",
    "rolled back": "RolledBack",
}


def canary_weight_written(entry: AuditEntry, canary: str) -> int | None:
    """The canary's weight on the managed route in a VirtualService patch, if it set one."""
    http = ((entry.body or {}).get("spec") or {}).get("http")
    if not http:
        return None
    route = next(r for r in http if r.get("name") == "primary")["route"]
    weights = {e["destination"]["subset"]: e.get("weight", 100) for e in route}
    return int(weights.get(canary, 0))


def check_invariants(stack: Stack) -> dict[int, list[int]]:
    """Walk the audit log in order; return each run's sequence of step indices."""
    status: dict[str, Any] | None = None
    steps: dict[int, list[int]] = {}
    events: Counter[str] = Counter()
    weights_checked = 0
    for entry in stack.api.audit.entries():
        if entry.code not in (200, 201):
            continue
        if entry.resource == "rollouts.meshrollout.dev" and entry.subresource == "status":
            status = entry.body["status"]
            run, index = status.get("run", 0), status.get("stepIndex")
            if index is not None and status.get("plan"):
                seen = steps.setdefault(run, [])
                if not seen or seen[-1] != index:
                    seen.append(index)
        elif entry.resource == "virtualservices.networking.istio.io" and status is not None:
            weight = canary_weight_written(entry, status["canarySubset"])
            if weight is not None and status.get("plan") and status.get("stepIndex") is not None:
                cap = status["plan"][status["stepIndex"]]["weight"]
                assert weight <= cap, f"canary at {weight}% while the status says step {cap}%"
                weights_checked += 1
        elif entry.resource == "events.events.k8s.io" and entry.verb == "create":
            events[entry.body["reason"]] += 1
    assert weights_checked >= len(steps), "the audit log showed no weight changes to check"
    for run, seen in steps.items():
        assert seen == list(range(len(seen))), f"run {run} went through steps {seen}"
    history = stack.status()["history"]
    expected = Counter(
        DECISION_EVENTS[h["decision"]] for h in history if h["decision"] in DECISION_EVENTS
    )
    assert expected["Started"] >= 1
    for reason, count in expected.items():
        assert events[reason] == count, f"{events[reason]} {reason} Events for {count} decisions"
    return steps


def test_sigkill_at_25_random_moments(stack: Stack) -> None:
    """Killed 25 times across several rollouts, the controller never skips, repeats or
    overshoots a step, never sends an Event twice, and every rollout ends."""
    rng = random.Random(20261125)
    plan = [("v2", True), ("v3", False), ("v3", True), ("v2", True), ("v3", True), ("v2", True)]
    kills, outcomes = 0, []
    stack.traffic.set_health("v2")
    stack.traffic.set_health("v3")
    proc = stack.start_controller(identity="ctl-a")
    for version, healthy in plan:
        stack.traffic.set_health(version, error_rate=0.005 if healthy else 0.3)
        started = stack.cli("start", "inventory", version, *FAST)
        assert started.returncode == 0, started.stderr
        generation = stack.rollout()["metadata"]["generation"]

        def finished(gen: int = generation) -> bool:
            status = stack.status()
            return status.get("observedGeneration", 0) >= gen and status.get("phase") in TERMINAL

        deadline = time.monotonic() + 120
        while not finished():
            assert time.monotonic() < deadline, f"{version} never finished: {stack.status()}"
            time.sleep(rng.uniform(0.2, 2.0))
            if kills < 25 and not finished():
                stack.kill(proc)
                kills += 1
                proc = stack.start_controller(identity="ctl-a")
        stack.wait_for(lambda: not stack.status().get("outbox"), timeout=20, what="delivery")
        outcomes.append(stack.phase())
        if kills >= 25 and len(outcomes) >= 3:
            break
    assert kills == 25
    assert outcomes[:2] == ["Succeeded", "RolledBack"]
    steps = check_invariants(stack)
    assert len(steps) == len(outcomes)
    final = stack.status()
    stable = final["canarySubset"] if final["phase"] == "Succeeded" else final["stableSubset"]
    assert stack.traffic.current_weights() == {stable: 100}


def test_two_replicas_one_writer_and_takeover(stack: Stack) -> None:
    """Two controllers: only the leader writes; kill it, the other finishes the rollout."""
    stack.traffic.set_health("v2")
    a = stack.start_controller(identity="ctl-a")
    b = stack.start_controller(identity="ctl-b")
    started = stack.cli(
        "start",
        "inventory",
        "v2",
        "--step-duration",
        "4s",
        "--interval",
        "1s",
        "--min-requests",
        "10",
    )
    assert started.returncode == 0
    stack.wait_for(
        lambda: int(stack.traffic.current_weights().get("v2", 0)) >= 25, timeout=60, what="25%"
    )
    leases = stack.api.registry.find("coordination.k8s.io", "v1", "leases")
    assert leases is not None
    lease = stack.api.store.get(leases, "shop", "meshrollout-controller")
    leader = lease["spec"]["holderIdentity"]
    follower = "ctl-b" if leader == "ctl-a" else "ctl-a"

    def writers() -> list[str]:
        return [
            e.user
            for e in stack.api.audit.entries()
            if e.code in (200, 201)
            and e.resource != "leases.coordination.k8s.io"
            and e.user.startswith("ctl-")
        ]

    assert set(writers()) == {leader}
    stack.kill(a if leader == "ctl-a" else b)
    cut = len(writers())
    stack.wait_for(lambda: stack.phase() == "Succeeded", timeout=90, what="takeover and success")
    stack.wait_for(lambda: not stack.status().get("outbox"), timeout=10, what="delivery")
    after = writers()[cut:]
    assert after
    assert set(after) == {follower}
    check_invariants(stack)
