"""The ``spec`` of a ``Rollout`` (meshrollout.dev/v1alpha1): what a person asks for.

Every default here is the documented default of the product (README, "The Rollout
resource"); the CRD schema in the chart is generated from these classes (``rollout.crd``).
Read by the engine, the strategies, the CLI (which writes it) and the controller.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rollout.analysis.queries import template_problem
from rollout.model.base import (
    CHANNEL_PATTERN,
    COMMAND_ID_PATTERN,
    HEADER_NAME_PATTERN,
    LINE_PATTERN,
    LINK_PATTERN,
    METRIC_PATTERN,
    SECRET_KEY_PATTERN,
    TEXT_PATTERN,
    Bound,
    CamelModel,
    Count,
    DnsLabel,
    DnsSubdomain,
    Duration,
    Host,
    IntervalDuration,
    ShortDuration,
    WindowDuration,
    field_error,
    parse_duration,
    shorten,
)
from rollout.model.traffic import HttpRouteTarget, one_way

DEFAULT_STEPS = (5, 25, 50, 100)
MAX_ROUTES = 32
MAX_VIRTUAL_SERVICES = 16
MAX_CUSTOM_CHECKS = 10
MAX_QUERY_LENGTH = 2048
MAX_LINKS = 10
MAX_INCONCLUSIVE = 1000
MAX_P99_MS = 3_600_000.0
DEFAULT_LATENCY_FLOOR_MS = 25.0
"""One of Istio's bucket bounds (so no rounding up to the next, 50 ms), 5% of the default
P99 SLO (500 ms), well under what a user notices, and several times what CPU contention
on a loaded node adds to a service that answers in a few milliseconds."""

Line = Annotated[str, Field(min_length=1, max_length=253, pattern=LINE_PATTERN)]
"""A non-empty line of printable text of at most 253 characters (a route name)."""


class HeaderRoute(CamelModel):
    """Before any weighted step, send requests carrying ``header: value`` to the canary.

    It lets internal testers reach the canary while users see none of it.
    """

    header: Annotated[str, Field(min_length=1, max_length=256, pattern=HEADER_NAME_PATTERN)] = (
        "x-canary"
    )
    value: Annotated[str, Field(min_length=1, max_length=256, pattern=LINE_PATTERN)] = "true"
    duration: Duration | None = Field(
        default=None,
        description="Minimum time of the header stage (at most 24h); the step duration if unset.",
    )
    min_requests: Count = Field(
        default=10, description="Canary requests needed to leave the header stage (at most 1e9)."
    )


class Strategy(CamelModel):
    """How traffic moves: the weighted steps and the minimum time at each."""

    steps: list[Annotated[int, Field(json_schema_extra={"minimum": 1, "maximum": 100})]] = Field(
        default_factory=lambda: list(DEFAULT_STEPS),
        max_length=100,
        description="Canary weights in percent, strictly increasing, ending at 100.",
    )
    step_duration: Duration = Field(
        default="1m", description="Minimum time at each step (at most 24h)."
    )
    header_route: HeaderRoute | None = None

    @field_validator("steps")
    @classmethod
    def _steps_increase_to_100(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step, and the last must be 100")
        for i, weight in enumerate(steps):
            if not 1 <= weight <= 100:
                raise field_error(f"[{i}]", f"{weight} is not a weight; each is 1..100")
            if i and weight <= steps[i - 1]:
                raise field_error(
                    f"[{i}]", f"{weight} follows {steps[i - 1]}; weights must strictly increase"
                )
        if steps[-1] != 100:
            last = len(steps) - 1
            raise field_error(f"[{last}]", f"the last step is {steps[-1]}; it must be 100")
        return steps


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


class OutlierDetection(CamelModel):
    """Istio's outlier detection for a subset (``trafficPolicy.outlierDetection``)."""

    consecutive_5xx_errors: Annotated[int, Field(ge=0, le=4_294_967_295)] = Field(
        default=1, alias="consecutive5xxErrors"
    )
    interval: ShortDuration = Field(default="1s", description="1ms..1h.")
    base_ejection_time: Duration = Field(default="5m", description="1ms..24h.")
    max_ejection_percent: Annotated[int, Field(ge=0, le=100)] = 50
    min_health_percent: Annotated[int, Field(ge=0, le=100)] | None = None

    @field_validator("interval", "base_ejection_time")
    @classmethod
    def _at_least_a_millisecond(cls, text: str) -> str:
        # Istio rejects durations under 1ms for these two fields.
        if parse_duration(text).total_seconds() < 0.001:
            raise ValueError(f"{text!r} is below Istio's minimum of 1ms")
        return text


class OnRegression(CamelModel):
    """What happens when the canary is judged worse."""

    rollback: bool = Field(default=True, description="Route 100% back to stable at once.")
    target_autoscales: bool = Field(
        default=False,
        description="The canary autoscales by other means than a HorizontalPodAutoscaler, so "
        "ejecting more than half its pods is safe; without it the preflight allows "
        "maxEjectionPercent above 50 only when an HPA targets every canary Deployment.",
    )
    outlier_detection: OutlierDetection = Field(default_factory=OutlierDetection)


class SecretKeyRef(CamelModel):
    """A key of a Secret in the controller's namespace (not the rollout's); the value
    never leaves the adapter. Which keys a namespace may use is the platform team's
    policy (the chart's value notifications.policy)."""

    name: DnsSubdomain
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]


class SlackNotifications(CamelModel):
    """Slack: a bot token (one thread per release) or an incoming webhook URL, read from
    a Secret in the controller's namespace. The channel and the Secret key must be
    allowed for the rollout's namespace by the platform team's policy (the chart's
    value notifications.policy); otherwise nothing is sent and the status says why."""

    mode: Literal["bot", "webhook"] = "bot"
    channel: Annotated[str, Field(min_length=1, max_length=81, pattern=CHANNEL_PATTERN)] | None = (
        None
    )
    secret_ref: SecretKeyRef

    @model_validator(mode="after")
    def _bot_needs_channel(self) -> SlackNotifications:
        if self.mode == "bot" and not self.channel:
            raise field_error("channel", "mode bot needs a channel to post in (e.g. #releases)")
        return self


class WebhookNotifications(CamelModel):
    """A generic JSON webhook; its URL is read from a Secret in the controller's
    namespace, with a key the platform team's policy allows the rollout's namespace."""

    secret_ref: SecretKeyRef


class Notifications(CamelModel):
    """Where to tell people. Secrets are read from the controller's own namespace, never
    the rollout's; which Slack channels and Secret keys each namespace may use is decided
    by the platform team (the chart's value notifications.policy)."""

    slack: SlackNotifications | None = None
    webhook: WebhookNotifications | None = None
    links: dict[
        Annotated[str, Field(min_length=1, max_length=63)],
        Annotated[str, Field(max_length=2048, pattern=LINK_PATTERN)],
    ] = Field(
        default_factory=dict,
        max_length=MAX_LINKS,
        description="Named links shown in messages (Grafana, Kiali).",
    )

    @field_validator("links")
    @classmethod
    def _link_names_are_one_line(cls, links: dict[str, str]) -> dict[str, str]:
        for name in links:
            if not re.fullmatch(LINE_PATTERN, name):
                raise field_error(shorten(name), "a link's name is one line of printable text")
        return links


class Preflight(CamelModel):
    """Checks before the first weight change."""

    mtls: Literal["warn", "block", "off"] = Field(
        default="warn",
        description="The namespace's PeerAuthentication should be STRICT: warn, block or skip.",
    )


class ScaleDown(CamelModel):
    """When the version a successful release replaced is scaled to zero."""

    after: WindowDuration = Field(
        default="10m",
        description="How long after success the previous version's Deployments keep their "
        "pods (the rollback window, at most 744h), or never: keep them.",
    )


class AfterSuccess(CamelModel):
    """What happens to the previous version once the canary is the new stable."""

    scale_down: ScaleDown = Field(default_factory=ScaleDown)


CommandName = Literal["promote", "promoteFull", "abort", "resume", "restart", "undo"]


class Command(CamelModel):
    """A one-shot request from the CLI, carried out once per ``id``.

    ``promote`` skips the rest of the current step, ``promoteFull`` goes to 100%,
    ``abort`` rolls back now, ``resume`` leaves any pause, ``restart`` runs a
    finished rollout again for the same versions, ``undo`` sends a succeeded
    release's traffic back to the version it replaced (or to ``to``).
    """

    name: CommandName
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=COMMAND_ID_PATTERN)]
    to: DnsLabel | None = Field(
        default=None, description="undo: the subset to go back to (default: the previous)."
    )
    by: Annotated[str, Field(min_length=1, max_length=128, pattern=LINE_PATTERN)] | None = Field(
        default=None, description="Who asked, and how (said in the release's thread)."
    )


class RolloutSpec(CamelModel):
    """What a person asks for: move ``service`` from ``stableSubset`` to ``canarySubset``."""

    service: Host
    virtual_service: DnsSubdomain | None = None
    virtual_services: list[DnsSubdomain] = Field(
        default_factory=list,
        max_length=MAX_VIRTUAL_SERVICES,
        description="VirtualServices moved together (mesh, ingress; at most 16); unset: "
        "virtualService, else every one whose routes send traffic to the service.",
    )
    destination_rule: DnsSubdomain | None = None
    http_route: HttpRouteTarget | None = Field(
        default=None,
        description="An HTTPRoute's backend Services instead of VirtualServices (the "
        "subsets then name the versions).",
    )
    routes: list[Line] = Field(
        default_factory=list,
        max_length=MAX_ROUTES,
        description="HTTP routes to manage (at most 32); unset means the one unmatched route "
        "to stable.",
    )
    stable_subset: DnsLabel
    canary_subset: DnsLabel
    strategy: Strategy = Field(default_factory=Strategy)
    analysis: Analysis = Field(default_factory=Analysis)
    on_regression: OnRegression = Field(default_factory=OnRegression)
    paused: bool = False
    command: Command | None = None
    preflight: Preflight = Field(default_factory=lambda: Preflight())
    on_drift: Literal["revert", "pause"] = Field(
        default="revert",
        description="Weights edited by hand mid-rollout: put them back, or pause and leave them.",
    )
    after_success: AfterSuccess = Field(
        default_factory=AfterSuccess,
        description="The previous version after a successful release: scaled to zero after "
        "a delay (the window in which rollout undo needs no scale-up).",
    )
    notifications: Notifications = Field(
        default_factory=Notifications,
        description="Slack and webhook. Secrets are read from the controller's namespace; "
        "the platform team's policy (chart value notifications.policy) decides which "
        "channels and Secret keys this namespace may use.",
    )

    @field_validator("canary_subset")
    @classmethod
    def _two_subsets(cls, canary: str, info: ValidationInfo) -> str:
        if canary == info.data.get("stable_subset"):
            raise ValueError(f"is {canary!r}, the same as stableSubset; a canary needs its own")
        return canary

    @field_validator("virtual_services", "http_route")
    @classmethod
    def _one_way_to_name_the_traffic(cls, value: Any, info: ValidationInfo) -> Any:
        return one_way(value, info.field_name, info.data)

    @property
    def virtual_service_names(self) -> list[str]:
        """The VirtualServices named, in either field (empty: found by host)."""
        single = [self.virtual_service] if self.virtual_service else []
        return list(self.virtual_services) or single

    @field_validator("routes")
    @classmethod
    def _routes_unique(cls, routes: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, name in enumerate(routes):
            if name in seen:
                raise field_error(f"[{i}]", f"route {name!r} is listed twice")
            seen.add(name)
        return routes
