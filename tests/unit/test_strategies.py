"""Step plans: the stage kinds, their order, and the plan helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strategies
from rollout.model import parse_spec
from strategies import exponential, linear


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(
            {}, [("weight", 5), ("weight", 25), ("weight", 50), ("weight", 100)], id="default"
        ),
        pytest.param({"steps": [100]}, [("weight", 100)], id="straight-to-100"),
        pytest.param(
            {"steps": [10, 100], "headerRoute": {}},
            [("header", 0), ("weight", 10), ("weight", 100)],
            id="header-first",
        ),
    ],
)
def test_plan(strategy: dict[str, object], expected: list[tuple[str, int]]) -> None:
    """The header stage, when asked for, comes before every weighted step."""
    spec = parse_spec(
        {"service": "s", "stableSubset": "v1", "canarySubset": "v2", "strategy": strategy}
    )
    assert [(s.kind, s.weight) for s in strategies.plan(spec)] == expected


def test_stage_durations_and_minimums_come_from_the_spec() -> None:
    """Weighted steps use the step duration and analysis minimum; the header stage its own."""
    spec = parse_spec(
        {
            "service": "s",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": {
                "stepDuration": "2m",
                "headerRoute": {"duration": "30s", "minRequests": 3},
            },
            "analysis": {"minRequests": 400},
        }
    )
    header, *weighted = strategies.plan(spec)
    assert (header.duration, header.min_requests) == ("30s", 3)
    assert {(s.duration, s.min_requests) for s in weighted} == {("2m", 400)}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: linear(0), "1..100", id="linear-zero"),
        pytest.param(lambda: exponential(0), "1..100", id="exponential-zero"),
        pytest.param(lambda: exponential(5, 1.0), "above 1", id="exponential-flat"),
    ],
)
def test_helpers_refuse_nonsense(call: object, message: str) -> None:
    """Helpers refuse plans that could never reach 100."""
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@given(step=st.integers(1, 100))
def test_linear_plans_are_valid_specs(step: int) -> None:
    """Whatever the step, a linear plan is a valid spec.strategy.steps."""
    spec = parse_spec(
        {
            "service": "s",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": {"steps": linear(step)},
        }
    )
    assert spec.strategy.steps[-1] == 100


@given(start=st.integers(1, 100), factor=st.floats(1.01, 20))
def test_exponential_plans_are_valid_specs(start: int, factor: float) -> None:
    """Whatever the start and factor, an exponential plan is a valid spec.strategy.steps."""
    steps = exponential(start, factor)
    spec = parse_spec(
        {"service": "s", "stableSubset": "v1", "canarySubset": "v2", "strategy": {"steps": steps}}
    )
    assert spec.strategy.steps == steps
