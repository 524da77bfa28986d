"""The header stage: testers who send a chosen header reach the canary; users do not.

It comes before any weighted step when ``spec.strategy.headerRoute`` is set.
Its weight is 0 (no user traffic) and it is judged like any step on the
testers' requests, with its own, smaller request minimum.
"""

from __future__ import annotations

from rollout.model import RolloutSpec, Stage


class HeaderStage:
    """Zero or one stage: present only when the spec configures a header route.

    >>> from rollout.model import parse_spec
    >>> spec = parse_spec({"service": "s", "stableSubset": "v1", "canarySubset": "v2",
    ...                    "strategy": {"headerRoute": {"header": "x-team", "value": "qa"}}})
    >>> stage, = HeaderStage().stages(spec)
    >>> (stage.kind, stage.weight, stage.header, stage.value, stage.min_requests)
    ('header', 0, 'x-team', 'qa', 10)
    """

    def stages(self, spec: RolloutSpec) -> list[Stage]:
        route = spec.strategy.header_route
        if route is None:
            return []
        return [
            Stage(
                kind="header",
                weight=0,
                duration=route.duration or spec.strategy.step_duration,
                min_requests=route.min_requests,
                header=route.header,
                value=route.value,
            )
        ]
