"""The ``spec`` of a ``Rollout`` (meshrollout.dev/v1alpha1): what a person asks for.

Every default here is the documented default of the product (DESIGN.md §3); the
CRD schema in the chart is generated from these classes (``rollout.crd``).
Read by the engine, the strategies, the CLI (which writes it) and the controller.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rollout.model.base import (
    CamelModel,
    DnsLabel,
    Duration,
    Host,
    field_error,
    parse_duration,
)

DEFAULT_STEPS = (5, 25, 50, 100)
HEADER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$"
METRIC_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


class HeaderRoute(CamelModel):
    """Before any weighted step, send requests carrying ``header: value`` to the canary.

    It lets internal testers reach the canary while users see none of it.
    """

    header: Annotated[str, Field(max_length=256, pattern=HEADER_NAME_PATTERN)] = "x-canary"
    value: Annotated[str, Field(min_length=1, max_length=256)] = "true"
    duration: Duration | None = Field(
        default=None, description="Minimum time of the header stage; the step duration if unset."
    )
    min_requests: Annotated[int, Field(ge=0)] = Field(
        default=10, description="Canary requests needed to leave the header stage."
    )


class Strategy(CamelModel):
    """How traffic moves: the weighted steps and the minimum time at each."""

    steps: list[int] = Field(
        default_factory=lambda: list(DEFAULT_STEPS),
        description="Canary weights in percent, strictly increasing, ending at 100.",
    )
    step_duration: Duration = Field(default="1m", description="Minimum time at each step.")
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
    query: Annotated[str, Field(min_length=1)]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> CustomCheck:
        if self.min is None and self.max is None:
            raise field_error("max", "a custom check needs min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise field_error("max", f"{self.max} is below min {self.min}")
        return self


class Analysis(CamelModel):
    """How each step is judged on Prometheus data."""

    interval: Duration = Field(default="15s", description="Time between evaluations.")
    min_requests: Annotated[int, Field(ge=0)] = Field(
        default=100, description="Canary requests needed in a step before it can pass."
    )
    max_error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.01, description="SLO: highest acceptable 5xx ratio of the canary (0..1)."
    )
    max_p99_ms: Annotated[float, Field(gt=0.0)] = Field(
        default=500.0, alias="maxP99Ms", description="SLO: highest acceptable canary P99 (ms)."
    )
    compare_with_stable: bool = Field(
        default=True, description="Also fail a canary clearly worse than stable beside it."
    )
    judge: Literal["threshold", "sequential"] = Field(
        default="threshold",
        description="threshold: SLOs and vs stable on the step so far (v1); sequential: "
        "e-processes valid at every look.",
    )
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = Field(
        default=0.01, description="Sequential judge: chance of rolling back a healthy canary."
    )
    tolerance: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=0.2, description="How much worse than stable the canary may be (0.2 = 20%)."
    )
    requests_metric: Annotated[str, Field(pattern=METRIC_PATTERN)] = Field(
        default="istio_requests_total", description="Counter of requests by response_code."
    )
    latency_metric: Annotated[str, Field(pattern=METRIC_PATTERN)] = Field(
        default="istio_request_duration_milliseconds_bucket",
        description="Histogram buckets of request duration in milliseconds.",
    )
    max_inconclusive: Annotated[int, Field(ge=0)] = Field(
        default=5, description="Evaluations without enough data tolerated in a row."
    )
    on_inconclusive: Literal["pause", "rollback"] = Field(
        default="pause", description="What to do once maxInconclusive is exceeded."
    )
    custom_checks: list[CustomCheck] = Field(default_factory=list)


class OutlierDetection(CamelModel):
    """Istio's outlier detection for a subset (``trafficPolicy.outlierDetection``)."""

    consecutive_5xx_errors: Annotated[int, Field(ge=0, le=4_294_967_295)] = Field(
        default=1, alias="consecutive5xxErrors"
    )
    interval: Duration = "1s"
    base_ejection_time: Duration = "5m"
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
        description="The canary autoscales, so ejecting more than half its pods is safe.",
    )
    outlier_detection: OutlierDetection = Field(default_factory=OutlierDetection)

    @field_validator("outlier_detection")
    @classmethod
    def _eject_half_unless_autoscaled(
        cls, value: OutlierDetection, info: ValidationInfo
    ) -> OutlierDetection:
        if value.max_ejection_percent > 50 and not info.data.get("target_autoscales"):
            raise field_error(
                "maxEjectionPercent",
                f"{value.max_ejection_percent} could eject every canary pod; above 50 "
                "only with onRegression.targetAutoscales: true",
            )
        return value


class SecretKeyRef(CamelModel):
    """A key of a Secret in the controller's namespace (not the rollout's); the value
    never leaves the adapter. Which keys a namespace may use is the platform team's
    policy (the chart's value notifications.policy)."""

    name: DnsLabel
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class SlackNotifications(CamelModel):
    """Slack: a bot token (one thread per release) or an incoming webhook URL, read from
    a Secret in the controller's namespace. The channel and the Secret key must be
    allowed for the rollout's namespace by the platform team's policy (the chart's
    value notifications.policy); otherwise nothing is sent and the status says why."""

    mode: Literal["bot", "webhook"] = "bot"
    channel: Annotated[str, Field(min_length=1, max_length=80)] | None = None
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
    links: dict[str, Annotated[str, Field(pattern=r"^https?://")]] = Field(
        default_factory=dict, description="Named links shown in messages (Grafana, Kiali)."
    )


class Preflight(CamelModel):
    """Checks before the first weight change."""

    mtls: Literal["warn", "block", "off"] = Field(
        default="warn",
        description="The namespace's PeerAuthentication should be STRICT: warn, block or skip.",
    )


CommandName = Literal["promote", "promoteFull", "abort", "resume", "restart"]


class Command(CamelModel):
    """A one-shot request from the CLI, carried out once per ``id``.

    ``promote`` skips the rest of the current step, ``promoteFull`` goes to 100%,
    ``abort`` rolls back now, ``resume`` leaves any pause, ``restart`` runs a
    finished rollout again for the same versions.
    """

    name: CommandName
    id: Annotated[str, Field(min_length=1, max_length=64)]


class RolloutSpec(CamelModel):
    """What a person asks for: move ``service`` from ``stableSubset`` to ``canarySubset``."""

    service: Host
    virtual_service: DnsLabel | None = None
    destination_rule: DnsLabel | None = None
    routes: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        description="HTTP routes to manage; unset means the one unmatched route to stable.",
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

    @field_validator("routes")
    @classmethod
    def _routes_unique(cls, routes: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, name in enumerate(routes):
            if name in seen:
                raise field_error(f"[{i}]", f"route {name!r} is listed twice")
            seen.add(name)
        return routes
