"""The controller's configuration: flags and ``ROLLOUT_*`` environment variables.

Read once at start by ``rollout controller``; nothing else reads the environment.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rollout.notify.policy import DEFAULT_POLICY, NotificationPolicy


def _identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Everything the service needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", extra="forbid")

    prometheus_url: str = "http://prometheus.istio-system:9090"
    prometheus_timeout_s: float = 5.0
    namespaces: list[str] = Field(default_factory=list, description="Empty: all namespaces.")
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    identity: str = Field(default_factory=_identity)
    leader_election: bool = True
    lease_name: str = "meshrollout-controller"
    lease_namespace: str = Field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"))
    shards: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="0: one replica acts at a time (leader election on lease_name). K > 0: "
        "rollouts are hashed to K shard Leases (<lease_name>-shard-<i>) that the replicas "
        "share out, so every replica works (rollout.kube.shards).",
    )
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    tick_s: float = Field(default=1.0, gt=0, description="How often due evaluations are run.")
    workers: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Reconciles at once (never two of one rollout): a reconcile mostly waits "
        "on the API server, so a few workers keep a thousand rollouts' writes flowing.",
    )
    scrape_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="Prometheus's (largest) scrape interval of the mesh metrics: the "
        "sequential judge discounts what increase() extrapolates over it.",
    )
    watch_timeout_s: int = 30
    resync_s: float = Field(default=30.0, gt=0, description="Reconcile everything this often.")
    istio_version: str | None = None
    secrets_namespace: str = Field(
        default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"),
        description="Where notification Secrets are read (the controller's namespace).",
    )
    mtls_preflight: Literal["off", "warn", "block"] = Field(
        default="off",
        description="The platform's minimum for every Rollout's spec.preflight.mtls: "
        "with block, no rollout starts in a namespace that accepts plain text.",
    )
    notifications_policy: NotificationPolicy = Field(
        default=DEFAULT_POLICY,
        description="Which Slack channels and Secret keys each namespace may use (JSON: "
        "namespace or '*' → slackChannels, slackKeys, webhookKeys); the chart's "
        "notifications.policy. Default: the key named after the namespace, no bot channel.",
    )
    slack_base_url: str = "https://slack.com/api/"
    slack_interactive: bool = Field(
        default=False,
        description="Pause/Promote/Abort buttons on Slack thread heads, and their endpoint.",
    )
    slack_interactive_port: int = 8081
    slack_signing_secret: str = Field(
        default="slack-signing/secret",
        pattern=r"^[a-z0-9.-]+/[-._a-zA-Z0-9]+$",
        description="NAME/KEY of the Secret (controller's namespace) with the app's signing "
        "secret.",
    )
    slack_allowed_users: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON: namespace (or '*') → Slack user IDs allowed to press the buttons.",
    )
    slack_groups_token: str = Field(
        default="",
        pattern=r"^([a-z0-9.-]+/[-._a-zA-Z0-9]+)?$",
        description="NAME/KEY of a Secret with a bot token (usergroups:read) to read the "
        "members of user groups named in slack_allowed_users; empty: groups match nobody.",
    )
    slack_response_prefix: str = Field(
        default="https://hooks.slack.com/",
        description="Where a click's response_url may point (answers go nowhere else).",
    )
    metrics_port: int = 8080
    metrics_host: str = "0.0.0.0"
    log_level: str = "info"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    @field_validator("slack_allowed_users", mode="before")
    @classmethod
    def _users_json(cls, value: Any) -> Any:
        """A flag or variable gives the map as JSON text."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("slack_allowed_users is not JSON") from None
        return value

    @field_validator("notifications_policy", mode="before")
    @classmethod
    def _policy_json(cls, value: Any) -> Any:
        """A flag gives the policy as JSON text, as the environment variable does."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("notifications_policy is not JSON") from None
        return value
