"""Weighted canary steps, and helpers that write common step plans.

Called by :func:`strategies.plan` (the steps of a spec). ``linear()`` and
``exponential()`` write a list for ``spec.strategy.steps`` (from Python or a
template; the CLI takes the list itself, ``--steps 5,25,50,100``).
"""

from __future__ import annotations

from rollout.model import RolloutSpec, Stage


class WeightedSteps:
    """One stage per weight in ``spec.strategy.steps``.

    >>> from rollout.model import parse_spec
    >>> spec = parse_spec({"service": "s", "stableSubset": "v1", "canarySubset": "v2"})
    >>> [s.weight for s in WeightedSteps().stages(spec)]
    [5, 25, 50, 100]
    """

    def stages(self, spec: RolloutSpec) -> list[Stage]:
        strategy = spec.strategy
        return [
            Stage(
                kind="weight",
                weight=weight,
                duration=strategy.step_duration,
                min_requests=spec.analysis.min_requests,
            )
            for weight in strategy.steps
        ]


def linear(step: int) -> list[int]:
    """Equal steps of ``step`` percent up to 100 (a short last step if it does not divide).

    >>> linear(25)
    [25, 50, 75, 100]
    >>> linear(30)
    [30, 60, 90, 100]
    """
    if not 1 <= step <= 100:
        raise ValueError(f"a linear step is 1..100 percent, not {step}")
    weights = list(range(step, 100, step))
    return [*weights, 100]


def exponential(start: int, factor: float = 2.0) -> list[int]:
    """Start at ``start`` percent and multiply by ``factor`` until 100.

    >>> exponential(5)
    [5, 10, 20, 40, 80, 100]
    >>> exponential(1, 10)
    [1, 10, 100]
    """
    if not 1 <= start <= 100:
        raise ValueError(f"an exponential plan starts at 1..100 percent, not {start}")
    if factor <= 1:
        raise ValueError(f"an exponential plan needs a factor above 1, not {factor}")
    weights = [start]
    while weights[-1] < 100:
        # The max() keeps small starts with small factors strictly increasing.
        weights.append(min(100, max(weights[-1] + 1, round(weights[-1] * factor))))
    return weights
