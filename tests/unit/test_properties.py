"""Property tests: random plans, verdicts, commands and pauses against the rules a
rollout follows (ARCHITECTURE.md).

Each example drives the engine through a random story and applies its mesh
actions to a real-shaped VirtualService and DestinationRule after every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.engine import Observed, decide, desired_mesh
from rollout.mesh import Target, apply_actions, in_sync, set_weights
from rollout.model import MetricVerdict, RolloutSpec, RolloutStatus, Verdict, parse_spec
from tests.unit.istio import HOST, Doc, dest, destination_rule, healthz, primary, virtual_service

T0 = datetime(2026, 11, 25, tzinfo=UTC)


@st.composite
def step_plans(draw: st.DrawFn) -> list[int]:
    """A strictly increasing list of weights ending at 100."""
    inner = draw(st.sets(st.integers(1, 99), max_size=6))
    return [*sorted(inner), 100]


@dataclass(frozen=True)
class Move:
    """One thing that happens between two calls of the engine."""

    kind: str
    seconds: int = 0
    outcome: str = "pass"
    requests: int = 0
    command: str = ""


moves = st.one_of(
    st.builds(
        Move,
        kind=st.just("verdict"),
        seconds=st.integers(1, 90),
        outcome=st.sampled_from(["pass", "pass", "pass", "inconclusive", "fail"]),
        requests=st.sampled_from([0, 50, 100, 1000]),
    ),
    st.builds(Move, kind=st.just("tick"), seconds=st.integers(0, 90)),
    st.builds(Move, kind=st.sampled_from(["pause", "unpause", "unready", "ready"])),
    st.builds(
        Move,
        kind=st.just("command"),
        command=st.sampled_from(["promote", "promoteFull", "abort", "resume", "restart"]),
    ),
)


def make_spec(
    steps: list[int], header: bool, rollback: bool, paused: bool, cmd: Any
) -> RolloutSpec:
    data: dict[str, Any] = {
        "service": HOST,
        "stableSubset": "v1",
        "canarySubset": "v2",
        "routes": ["primary"],
        "paused": paused,
        "strategy": {"steps": steps, "stepDuration": "1m"},
        "analysis": {"maxInconclusive": 2},
        "onRegression": {"rollback": rollback},
    }
    if header:
        data["strategy"]["headerRoute"] = {"minRequests": 0}
    if cmd is not None:
        data["command"] = cmd
    return parse_spec(data)


def pair_weights(vs: Doc) -> tuple[int, int, int]:
    """(stable, canary, total) weights of the managed route."""
    route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")["route"]
    by_subset = {e["destination"]["subset"]: e.get("weight", 100) for e in route}
    return by_subset.get("v1", 0), by_subset.get("v2", 0), sum(by_subset.values())


@settings(max_examples=250, deadline=None)
@given(
    steps=step_plans(),
    header=st.booleans(),
    rollback=st.booleans(),
    third=st.booleans(),
    story=st.lists(moves, min_size=1, max_size=40),
)
def test_rules_hold_through_any_story(
    steps: list[int], header: bool, rollback: bool, third: bool, story: list[Move]
) -> None:
    """Weights sum to 100, the canary never exceeds its step, no step is skipped or
    repeated, decisions are idempotent, and a rollback ends with 100% stable."""
    route = [dest("v1", 80), dest("v3", 20)] if third else [dest("v1")]
    vs = virtual_service(healthz(), primary(*route))
    dr = destination_rule("v1", "v2", "v3")
    pool = 80 if third else 100
    target = Target(HOST, "v1", "v2", namespace="shop", routes=("primary",))
    status, now = RolloutStatus(), T0
    paused, ready, cmd, counter = False, True, None, 0
    visited: dict[int, list[int]] = {}
    for move in story:
        verdict = None
        now += timedelta(seconds=move.seconds)
        if move.kind == "verdict":
            verdict = Verdict(
                outcome=move.outcome,
                at=now,
                canary_requests=move.requests,
                metrics=[MetricVerdict(name="error-rate", value=0.0, outcome="pass")],
            )
        paused = {"pause": True, "unpause": False}.get(move.kind, paused)
        ready = {"unready": False, "ready": True}.get(move.kind, ready)
        if move.kind == "command":
            counter += 1
            cmd = {"name": move.command, "id": f"c{counter}"}
        spec = make_spec(steps, header, rollback, paused, cmd)
        before = status
        synced = in_sync(vs, dr, target, desired_mesh(spec, status))
        decision = decide(
            spec, status, now, Observed(verdict=verdict, canary_ready=ready, mesh_in_sync=synced)
        )
        status = decision.status
        clock_started = status.step_started_at not in (None, before.step_started_at)
        if clock_started and status.phase in ("Progressing", "Paused"):
            # A step's clock starts only once the mesh (as read) carries its weight.
            assert synced
            assert pair_weights(vs)[1] == (pool * status.canary_weight + 50) // 100

        # Idempotent: the same inputs again change nothing and say nothing.
        synced = in_sync(vs, dr, target, desired_mesh(spec, status))
        again = decide(
            spec, status, now, Observed(verdict=verdict, canary_ready=ready, mesh_in_sync=synced)
        )
        assert again.status == status
        assert again.effects == []

        result = apply_actions(vs, dr, target, decision.mesh)
        twice = apply_actions(
            result.virtual_service, result.destination_rule, target, decision.mesh
        )
        assert (twice.virtual_service, twice.destination_rule) == (
            result.virtual_service,
            result.destination_rule,
        )
        vs, dr = result.virtual_service, result.destination_rule

        stable_w, canary_w, total = pair_weights(vs)
        assert total == 100
        assert vs["spec"]["http"][0] == healthz(), "other routes are never touched"
        stage = status.stage
        if stage is not None and status.phase in ("Progressing", "Paused"):
            assert status.canary_weight <= stage.weight
            assert canary_w == (pool * status.canary_weight + 50) // 100
        if status.phase == "RolledBack" and status.step_index is not None:
            assert (stable_w, canary_w) == (pool, 0)
        if status.phase == "Succeeded":
            assert (stable_w, canary_w) == (0, pool)

        if status.step_index is not None and status.phase != "Pending":
            seen = visited.setdefault(status.run, [])
            if not seen or seen[-1] != status.step_index:
                seen.append(status.step_index)
        if (
            before.run == status.run
            and before.step_index is not None
            and status.step_index is not None
        ):
            jump = status.step_index - before.step_index
            finished_early = (
                status.phase == "Succeeded" and status.step_index == len(status.plan) - 1
            )
            assert jump in (0, 1) or finished_early, "a step was skipped or went back"
    for run, seen in visited.items():
        expected = list(range(len(seen)))
        # promoteFull may jump straight to the last step; otherwise steps go one by one.
        assert seen == expected or seen[:-1] == expected[:-1], f"run {run}: {seen}"


@settings(max_examples=300, deadline=None)
@given(
    others=st.lists(st.integers(0, 30), max_size=2),
    stable_share=st.integers(0, 100),
    weight=st.integers(0, 100),
    drop=st.booleans(),
)
def test_set_weights_keeps_100_and_others(
    others: list[int], stable_share: int, weight: int, drop: bool
) -> None:
    """Any valid route: the result sums to 100, other destinations keep their weights,
    and applying the same weight twice equals applying it once."""
    pool = 100 - sum(others)
    if pool < 0:
        return
    canary_now = pool - pool * stable_share // 100
    entries = [dest("v1", pool - canary_now), dest("v2", canary_now)]
    entries += [dest(f"x{i}", w, host="other") for i, w in enumerate(others)]
    vs = virtual_service(primary(*entries))
    target = Target(HOST, "v1", "v2", routes=("primary",))
    once = set_weights(vs, target, weight, drop)
    assert set_weights(once, target, weight, drop) == once
    route = once["spec"]["http"][0]["route"]
    assert sum(e["weight"] for e in route) == 100
    assert [e["weight"] for e in route if e["destination"]["host"] == "other"] == others
