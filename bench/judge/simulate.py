"""One rollout per judge through one world, and what it cost.

The loop is the same for every judge: from t = 0 the canary takes the first
step's weight; at each of the judge's looks it may advance a step, roll back
or finish; the weights it sets change the traffic it sees next. A run ends at
a rollback, at full promotion of a healthy canary, or at the horizon. A bad
canary that was promoted keeps serving at 100% until the horizon, so a judge
that misses a regression pays for every request it let through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bench.judge.ours import ours, threshold
from bench.judge.rivals import STEPS, Flagger, Kayenta, Move, NaiveZ, WaldOracle
from bench.judge.scenarios import Scenario
from bench.judge.traffic import Path, World

JUDGES = ("ours", "threshold", "flagger", "flagger_thr1", "kayenta", "naive_z", "wald_oracle")
HORIZON_S = 3600


class Judge(Protocol):
    """What every judge in the benchmark offers: a look at the traffic so far."""

    name: str
    every_s: int

    def look(self, t: int, path: Path) -> Move | None: ...


def make(name: str, scenario: Scenario, overrides: dict[str, Any] | None = None) -> Judge:
    """A fresh judge for one run; ``overrides`` go into ours' ``spec.analysis``."""
    if name == "ours":
        return ours(scenario, overrides)
    if name == "threshold":
        return threshold(scenario)
    if name == "flagger":
        return Flagger(scenario)
    if name == "flagger_thr1":
        return Flagger(scenario, threshold=1)
    if name == "kayenta":
        return Kayenta(scenario)
    if name == "naive_z":
        return NaiveZ(scenario)
    if name == "wald_oracle":
        return WaldOracle(scenario)
    raise ValueError(f"unknown judge {name!r}; known: {', '.join(JUDGES)}")


@dataclass(frozen=True)
class Outcome:
    """One judge's rollout in one run."""

    rolled_back_at: int | None
    succeeded_at: int | None
    promoted_while_bad: bool  # advanced past a step while the regression was active
    excess_failed: float  # canary 5xx minus those expected at stable's rate


def run(judge: Judge, world: World) -> Outcome:
    scenario = world.scenario
    path = Path(world, STEPS[0])
    step, t = 0, 0
    rolled_back = succeeded = None
    promoted_while_bad = False
    while t + judge.every_s <= world.horizon:
        t += judge.every_s
        move = judge.look(t, path)
        if move is None:
            continue
        if move == "rollback":
            rolled_back = t
            break
        if t >= scenario.onset_s:
            promoted_while_bad = True
        if move == "succeed":
            succeeded = t
            if step < len(STEPS) - 1:
                path.set_weight(t, 100)
            break
        step += 1
        path.set_weight(t, STEPS[step])
    end = rolled_back if rolled_back is not None else world.horizon
    if not scenario.bad and succeeded is not None:
        end = succeeded
    served = path.served("canary", end)
    return Outcome(
        rolled_back_at=rolled_back,
        succeeded_at=succeeded,
        promoted_while_bad=promoted_while_bad and scenario.bad,
        excess_failed=float(served[1] - served[0] * scenario.base_error),
    )


def run_many(
    scenario: Scenario,
    seeds: list[int],
    judges: tuple[str, ...] = JUDGES,
    overrides: dict[str, Any] | None = None,
) -> dict[str, list[Outcome]]:
    """Every judge through the same worlds, one per seed."""
    out: dict[str, list[Outcome]] = {name: [] for name in judges}
    for seed in seeds:
        world = World(scenario, seed, HORIZON_S)
        for name in judges:
            out[name].append(run(make(name, scenario, overrides), world))
    return out
