"""How each step is judged (``spec.analysis``): the SLOs, the comparison with stable, the
sequential judge's bounds, and custom PromQL checks.

Part of the Rollout's spec (``rollout.model.spec``, whose ``RolloutSpec.analysis`` this
is); read by the judges (``rollout.analysis``), the engine and the CLI. Every default is
the documented default of the product; the CRD schema is generated from these classes.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rollout.analysis.queries import template_problem
from rollout.model.base import (
    METRIC_PATTERN,
    TEXT_PATTERN,
    Bound,
    CamelModel,
    Count,
    DnsLabel,
    IntervalDuration,
    field_error,
    parse_duration,
)

MAX_CUSTOM_CHECKS = 10
MAX_QUERY_LENGTH = 2048
MAX_INCONCLUSIVE = 1000
MAX_P99_MS = 3_600_000.0
DEFAULT_LATENCY_FLOOR_MS = 25.0
"""One of Istio's bucket bounds (so no rounding up to the next, 50 ms), 5% of the default
P99 SLO (500 ms), well under what a user notices, and several times what CPU contention
on a loaded node adds to a service that answers in a few milliseconds."""


class CustomCheck(CamelModel):
    """A PromQL check of the canary with a range it must stay within.

    ``query`` is a template: ``{namespace}``, ``{service}``, ``{stable}``,
    ``{canary}`` and ``{window}`` are filled in at each evaluation.
    """

    name: DnsLabel
    query: Annotated[
        str, Field(min_length=1, max_length=MAX_QUERY_LENGTH, pattern=TEXT_PATTERN)
    ] = Field(description="PromQL template, at most 2048 characters.")
    min: Bound | None = None
    max: Bound | None = None
    namespace_label: Literal["namespace", "destination_service_namespace"] = Field(
        default="namespace",
        description="The label every selector of the query is confined by to the rollout's "
        "namespace (namespace: set by Prometheus's Kubernetes discovery, which a workload "
        "cannot forge; destination_service_namespace: Istio's, reported by the proxies).",
    )

    @field_validator("query")
    @classmethod
    def _is_promql(cls, query: str) -> str:
        # The grammar is checked here, so a bad check is refused when the spec is read
        # (the CLI, the controller) rather than found at the first evaluation.
        problem = template_problem(query)
        if problem is not None:
            raise ValueError(problem)
        return query

    @model_validator(mode="after")
    def _has_a_bound(self) -> CustomCheck:
        if self.min is None and self.max is None:
            raise field_error("max", "a custom check needs min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise field_error("max", f"{self.max} is below min {self.min}")
        return self


class MustCatch(CamelModel):
    """How much worse than stable a canary may never be at 100% (the sequential judge).

    A regression below ``analysis.tolerance`` is accepted; one at least this large
    must not reach 100%: before the last step sends all traffic to the canary, the
    judge needs evidence that the canary is better than these bounds. The larger
    they are, the sooner a healthy canary is promoted (see the README's table).
    """

    errors: Annotated[float, Field(gt=1.0, le=100.0, allow_inf_nan=False)] = Field(
        default=2.0,
        description="Canary 5xx ratio this many times stable's (and above a quarter of "
        "maxErrorRate) never reaches 100% (1..100).",
    )
    slow_requests: Annotated[float, Field(gt=1.0, le=100.0, allow_inf_nan=False)] = Field(
        default=3.0,
        description="Canary share of requests slower than stable's P99 bucket (or "
        "latencyFloorMs's, if higher) this many times stable's (and at least 1%) never "
        "reaches 100% (1..100).",
    )


class Analysis(CamelModel):
    """How each step is judged on Prometheus data."""

    interval: IntervalDuration = Field(
        default="15s", description="Time between evaluations (1s..1h)."
    )
    min_requests: Count = Field(
        default=100, description="Canary requests needed in a step before it can pass (<= 1e9)."
    )
    max_error_rate: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = Field(
        default=0.01, description="SLO: highest acceptable 5xx ratio of the canary (0..1)."
    )
    max_p99_ms: Annotated[float, Field(gt=0.0, le=MAX_P99_MS, allow_inf_nan=False)] = Field(
        default=500.0,
        alias="maxP99Ms",
        description="SLO: highest acceptable canary P99 (ms, at most one hour).",
    )
    latency_floor_ms: Annotated[float, Field(ge=0.0, le=MAX_P99_MS, allow_inf_nan=False)] = Field(
        default=DEFAULT_LATENCY_FLOOR_MS,
        description="Latency differences with stable below this are noise (ms, 0..one hour, "
        "capped at maxP99Ms; 0: no floor): only requests slower than it count as slow "
        "against stable, and a canary whose P99 stays under it is never slower.",
    )
    compare_with_stable: bool = Field(
        default=True, description="Also fail a canary clearly worse than stable beside it."
    )
    judge: Literal["threshold", "sequential"] = Field(
        default="sequential",
        description="sequential (the default): evidence that stays valid at every look, "
        "carried across steps; threshold: SLOs and vs stable on the step so far.",
    )
    alpha: Annotated[float, Field(gt=0.0, lt=0.5, allow_inf_nan=False)] = Field(
        default=0.01, description="Sequential judge: chance of rolling back a healthy canary."
    )
    tolerance: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = Field(
        default=0.2,
        description="How much worse than stable the canary may be and still pass (0.2 = 20%): "
        "beyond it, evidence of the regression rolls back.",
    )
    must_catch: MustCatch = Field(
        default_factory=MustCatch,
        description="Sequential judge: regressions that must never reach 100%.",
    )
    requests_metric: Annotated[str, Field(max_length=200, pattern=METRIC_PATTERN)] = Field(
        default="istio_requests_total", description="Counter of requests by response_code."
    )
    latency_metric: Annotated[str, Field(max_length=200, pattern=METRIC_PATTERN)] = Field(
        default="istio_request_duration_milliseconds_bucket",
        description="Histogram buckets of request duration in milliseconds.",
    )
    max_inconclusive: Annotated[int, Field(ge=0, le=MAX_INCONCLUSIVE)] | None = Field(
        default=None,
        description="Evaluations past a step's time without a verdict tolerated in a row "
        "(<= 1000); unset: the judge's own (threshold: 5; sequential: an hour of evaluations).",
    )
    on_inconclusive: Literal["pause", "rollback"] = Field(
        default="pause", description="What to do once maxInconclusive is exceeded."
    )
    custom_checks: list[CustomCheck] = Field(
        default_factory=list, max_length=MAX_CUSTOM_CHECKS, description="At most 10 checks."
    )

    @property
    def noise_floor_ms(self) -> float:
        """``latencyFloorMs``, never above the SLO: a latency ``maxP99Ms`` calls a breach
        is never noise."""
        return min(self.latency_floor_ms, self.max_p99_ms)

    @property
    def inconclusive_limit(self) -> int:
        """``maxInconclusive``, or the judge's default: the sequential judge keeps
        gathering evidence for up to an hour past a step's time before giving up."""
        if self.max_inconclusive is not None:
            return self.max_inconclusive
        if self.judge == "threshold":
            return 5
        interval = parse_duration(self.interval).total_seconds()
        return min(MAX_INCONCLUSIVE, max(5, math.ceil(3600 / interval)))

    @model_validator(mode="after")
    def _must_catch_above_tolerance(self) -> Analysis:
        for name, bound in (
            ("errors", self.must_catch.errors),
            ("slowRequests", self.must_catch.slow_requests),
        ):
            if bound <= 1 + self.tolerance:
                raise field_error(
                    f"mustCatch.{name}",
                    f"{bound:g} is within the tolerance ({1 + self.tolerance:g} x stable): "
                    "what must be caught has to be worse than what is accepted",
                )
        return self

    @field_validator("custom_checks")
    @classmethod
    def _check_names_unique(cls, checks: list[CustomCheck]) -> list[CustomCheck]:
        seen: set[str] = set()
        for i, check in enumerate(checks):
            if check.name in seen:
                raise field_error(f"[{i}].name", f"check {check.name!r} is listed twice")
            seen.add(check.name)
        return checks


__all__ = ["Analysis", "CustomCheck", "MustCatch"]
