"""Telling people: Slack (a bot's thread per release, or an incoming webhook) and a
generic JSON webhook, fed by the engine's notify effects through a delivery queue
that never holds up a rollout. Kubernetes Events come from the same effects
(``rollout.kube.events``).
"""

from rollout.notify.channels import DeliveryError, JsonWebhook, SlackBot, SlackWebhook
from rollout.notify.config import ChannelFactory, KubeSecrets
from rollout.notify.messages import WEBHOOK_VERSION, release_of, webhook_payload
from rollout.notify.notifier import QueueNotifier

__all__ = [
    "WEBHOOK_VERSION",
    "ChannelFactory",
    "DeliveryError",
    "JsonWebhook",
    "KubeSecrets",
    "QueueNotifier",
    "SlackBot",
    "SlackWebhook",
    "release_of",
    "webhook_payload",
]
