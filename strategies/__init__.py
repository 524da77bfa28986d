"""How a rollout moves traffic: a spec becomes a plan of stages.

A *stage kind* is anything with ``stages(spec) -> list[Stage]``; a plan is the
concatenation of the kinds a spec asks for, in order. Today there are two:
the optional header stage (testers only, weight 0) and the weighted canary
steps. The engine freezes the plan into the status at start, so a spec edit
mid-rollout never moves the canary's weight under its feet.

>>> from rollout.model import parse_spec
>>> spec = parse_spec({"service": "inventory-service", "stableSubset": "v1",
...                    "canarySubset": "v2",
...                    "strategy": {"headerRoute": {}, "steps": [10, 100]}})
>>> [(s.kind, s.weight) for s in plan(spec)]
[('header', 0), ('weight', 10), ('weight', 100)]
"""

from __future__ import annotations

from typing import Protocol

from rollout.model import RolloutSpec, Stage
from strategies.canary import WeightedSteps, exponential, linear
from strategies.header import HeaderStage


class StageKind(Protocol):
    """One kind of stage: turns a spec into the stages of that kind (maybe none)."""

    def stages(self, spec: RolloutSpec) -> list[Stage]: ...


KINDS: tuple[StageKind, ...] = (HeaderStage(), WeightedSteps())


def plan(spec: RolloutSpec) -> list[Stage]:
    """The stages a rollout of ``spec`` goes through, in order; the last is at 100%."""
    return [stage for kind in KINDS for stage in kind.stages(spec)]


__all__ = ["KINDS", "HeaderStage", "StageKind", "WeightedSteps", "exponential", "linear", "plan"]
