"""Telling people: Slack (a bot's thread per release, or an incoming webhook) and a
generic JSON webhook, fed by the engine's notify effects through a delivery queue
that never holds up a rollout. Kubernetes Events come from the same effects
(``rollout.kube.events``). Which channels and Secret keys a namespace may use is
the platform team's policy (``rollout.notify.policy``).
"""

from rollout.notify.channels import DeliveryError, JsonWebhook, Refused, SlackBot, SlackWebhook
from rollout.notify.factory import ChannelFactory, Secrets
from rollout.notify.messages import WEBHOOK_VERSION, release_of, webhook_payload
from rollout.notify.notifier import QueueNotifier
from rollout.notify.policy import DEFAULT_POLICY, NamespaceRules, NotificationPolicy

__all__ = [
    "DEFAULT_POLICY",
    "WEBHOOK_VERSION",
    "ChannelFactory",
    "DeliveryError",
    "JsonWebhook",
    "NamespaceRules",
    "NotificationPolicy",
    "QueueNotifier",
    "Refused",
    "Secrets",
    "SlackBot",
    "SlackWebhook",
    "release_of",
    "webhook_payload",
]
