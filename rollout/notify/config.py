"""From a Rollout's ``spec.notifications`` to the channels that carry its events.

Tokens and webhook URLs come from a Secret in the controller's own namespace
(``secretRef``), read through the Kubernetes adapter and cached briefly; they
live only inside the channel objects and are never logged or written back.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from rollout.kube import Forbidden, KubeClient, KubeError, NotFound
from rollout.kube.resources import SECRETS
from rollout.model import Notifications, SecretKeyRef
from rollout.notify.channels import Channel, DeliveryError, JsonWebhook, SlackBot, SlackWebhook


class KubeSecrets:
    """Reads one key of a Secret in one namespace, caching it for ``ttl_s``."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.namespace, self.ttl_s, self.clock = kube, namespace, ttl_s, clock
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def get(self, ref: SecretKeyRef) -> str:
        cached = self._cache.get((ref.name, ref.key))
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        where = f"secret {self.namespace}/{ref.name} key {ref.key}"
        try:
            secret = self.kube.get(SECRETS, self.namespace, ref.name)
        except NotFound:
            raise DeliveryError(f"{where}: not found") from None
        except Forbidden:
            raise DeliveryError(f"{where}: not allowed (the chart grants one Secret)") from None
        except KubeError as error:
            raise DeliveryError(f"{where}: {type(error).__name__}") from None
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise DeliveryError(f"{where}: no such key")
        value = base64.b64decode(raw).decode().strip()
        self._cache[(ref.name, ref.key)] = (self.clock(), value)
        return value


class ChannelFactory:
    """Builds (and keeps, so a Slack thread cache survives) each rollout's channels."""

    def __init__(self, secrets: Any, slack_base_url: str = "https://slack.com/api/") -> None:
        self.secrets, self.slack_base_url = secrets, slack_base_url
        self._bots: dict[tuple[str, str], SlackBot] = {}

    def __call__(self, rollout: dict[str, Any]) -> list[Channel]:
        raw = (rollout.get("spec") or {}).get("notifications") or {}
        try:
            notifications = Notifications.model_validate(raw)
        except ValueError:
            raise DeliveryError("spec.notifications is invalid") from None
        channels: list[Channel] = []
        slack = notifications.slack
        if slack is not None:
            secret = self.secrets.get(slack.secret_ref)
            if slack.mode == "bot":
                channel = slack.channel or ""
                bot = self._bots.get((secret, channel))
                if bot is None:
                    bot = self._bots[(secret, channel)] = SlackBot(
                        secret, channel, self.slack_base_url
                    )
                channels.append(bot)
            else:
                channels.append(SlackWebhook(secret))
        if notifications.webhook is not None:
            channels.append(JsonWebhook(self.secrets.get(notifications.webhook.secret_ref)))
        return channels
