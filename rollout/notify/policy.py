"""The platform team's word on notifications: which Slack channels and which Secret
keys each namespace's Rollouts may use. Pure.

The policy comes from the chart's value ``notifications.policy`` (the controller's
``ROLLOUT_NOTIFICATIONS_POLICY``, JSON): a map from a namespace, or ``*`` for every
namespace not listed, to its rules. A listed namespace's rules replace the
wildcard's; a namespace with neither may use nothing. In every entry
``{namespace}`` stands for the rollout's namespace and ``*`` allows anything.
A key is ``KEY`` (of any Secret the controller may read: the chart grants only
``slack.secretName``) or ``SECRET/KEY``.

The default, when nothing is set, lets a namespace use the key named after it
(``{namespace}``) for Slack incoming webhooks and generic webhooks, and no bot
channel: a team's own webhook URL, stored by the platform team under the
team's namespace, works with no policy written; posting as the organisation's
bot needs the platform team to name the channels.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.alias_generators import to_camel

from rollout.model import Notifications, SecretKeyRef

WILDCARD = "*"
WHERE = "chart value notifications.policy"


class NamespaceRules(BaseModel):
    """What one namespace's Rollouts may use."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    slack_channels: list[str] = Field(
        default_factory=list, description="Channels a Slack bot may post in (#name or id)."
    )
    slack_keys: list[str] = Field(
        default_factory=list,
        description="Secret keys spec.notifications.slack may read (bot token or webhook URL).",
    )
    webhook_keys: list[str] = Field(
        default_factory=list, description="Secret keys spec.notifications.webhook may read."
    )


class NotificationPolicy(RootModel[dict[str, NamespaceRules]]):
    """Namespace (or ``*``) → rules."""

    root: dict[str, NamespaceRules]

    def rules(self, namespace: str) -> NamespaceRules:
        return self.root.get(namespace) or self.root.get(WILDCARD) or NamespaceRules()


DEFAULT_POLICY = NotificationPolicy(
    {WILDCARD: NamespaceRules(slack_keys=["{namespace}"], webhook_keys=["{namespace}"])}
)


class PolicyRefusal(Exception):
    """The policy does not allow what a Rollout asks for; the text names the field."""


def _channel(text: str) -> str:
    return text.strip().lstrip("#").lower()


def _allows_channel(entries: list[str], channel: str, namespace: str) -> bool:
    wanted = _channel(channel)
    for entry in entries:
        allowed = entry.replace("{namespace}", namespace)
        if allowed == WILDCARD or _channel(allowed) == wanted:
            return True
    return False


def _allows_key(entries: list[str], ref: SecretKeyRef, namespace: str) -> bool:
    for entry in entries:
        allowed = entry.replace("{namespace}", namespace)
        if allowed == WILDCARD:
            return True
        secret, _, key = allowed.rpartition("/")
        if key == ref.key and secret in ("", ref.name):
            return True
    return False


def _refuse(field: str, what: str, namespace: str) -> PolicyRefusal:
    return PolicyRefusal(f"{field} {what} is not allowed for namespace {namespace} ({WHERE})")


def check(policy: NotificationPolicy, namespace: str, notifications: Notifications) -> None:
    """Raise :class:`PolicyRefusal` for the first channel or key the namespace may not use."""
    rules = policy.rules(namespace)
    slack = notifications.slack
    if slack is not None:
        if not _allows_key(rules.slack_keys, slack.secret_ref, namespace):
            ref = slack.secret_ref
            raise _refuse("spec.notifications.slack.secretRef", f"{ref.name}/{ref.key}", namespace)
        if slack.mode == "bot" and not _allows_channel(
            rules.slack_channels, slack.channel or "", namespace
        ):
            raise _refuse("spec.notifications.slack.channel", slack.channel or "", namespace)
    webhook = notifications.webhook
    if webhook is not None and not _allows_key(rules.webhook_keys, webhook.secret_ref, namespace):
        ref = webhook.secret_ref
        raise _refuse("spec.notifications.webhook.secretRef", f"{ref.name}/{ref.key}", namespace)
