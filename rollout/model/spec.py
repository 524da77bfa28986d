"""The ``spec`` of a ``Rollout`` (meshrollout.dev/v1alpha1): what a person asks for.

Every default here is the documented default of the product (README, "The Rollout
resource"); the CRD schema in the chart is generated from these classes (``rollout.crd``).
Read by the engine, the strategies, the CLI (which writes it) and the controller.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rollout.model.analysis import Analysis
from rollout.model.base import (
    CHANNEL_PATTERN,
    COMMAND_ID_PATTERN,
    HEADER_NAME_PATTERN,
    LINE_PATTERN,
    LINK_PATTERN,
    SECRET_KEY_PATTERN,
    CamelModel,
    Count,
    DnsLabel,
    DnsSubdomain,
    Duration,
    Host,
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
MAX_LINKS = 10

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
