"""From a Rollout's ``spec.notifications`` to the channels that carry its events.

Tokens and webhook URLs come from a Secret in the controller's own namespace
(``secretRef``), read through the Kubernetes adapter and cached briefly; they
live only inside the channel objects and are never logged or written back.
Before any Secret is read, the platform team's policy (``rollout.notify.policy``)
must allow the rollout's namespace the channel and keys it names. A value that is
not what its use needs (not UTF-8, a token where a URL belongs) is refused with a
message naming the Secret and key, never the value.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from typing import Any

from rollout.kube import Forbidden, KubeClient, NotFound
from rollout.kube.resources import SECRETS
from rollout.model import Notifications, SecretKeyRef
from rollout.notify.channels import (
    Channel,
    DeliveryError,
    JsonWebhook,
    Refused,
    SlackBot,
    SlackWebhook,
)
from rollout.notify.policy import DEFAULT_POLICY, NotificationPolicy, PolicyRefusal, check

_URL = re.compile(r"^https?://[!-~]+$")  # printable ASCII, no spaces
_TOKEN = re.compile(r"^[!-~]+$")


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
        except Exception as error:  # any other failure: its type only, never its text
            raise DeliveryError(f"{where}: {type(error).__name__}") from None
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise DeliveryError(f"{where}: no such key")
        try:
            value = base64.b64decode(str(raw), validate=True).decode("utf-8").strip()
        except ValueError:  # not base64, or not UTF-8: say so, never show the bytes
            raise DeliveryError(f"{where}: the value is not UTF-8 text") from None
        self._cache[(ref.name, ref.key)] = (self.clock(), value)
        return value


def _where(ref: SecretKeyRef) -> str:
    return f"secret {ref.name} key {ref.key}"


def _url(value: str, ref: SecretKeyRef, field: str) -> str:
    if not _URL.match(value):
        raise DeliveryError(f"{_where(ref)} does not hold an http(s) URL, as {field} needs")
    return value


def _token(value: str, ref: SecretKeyRef) -> str:
    if not _TOKEN.match(value) or _URL.match(value):
        raise DeliveryError(
            f"{_where(ref)} does not hold a bot token, as spec.notifications.slack.mode bot needs"
        )
    return value


class ChannelFactory:
    """Builds (and keeps, so a Slack thread cache survives) each rollout's channels."""

    def __init__(
        self,
        secrets: Any,
        slack_base_url: str = "https://slack.com/api/",
        policy: NotificationPolicy = DEFAULT_POLICY,
    ) -> None:
        self.secrets, self.slack_base_url, self.policy = secrets, slack_base_url, policy
        self._bots: dict[tuple[str, str], SlackBot] = {}

    def __call__(self, rollout: dict[str, Any]) -> list[Channel]:
        raw = (rollout.get("spec") or {}).get("notifications") or {}
        try:
            notifications = Notifications.model_validate(raw)
        except ValueError:
            raise DeliveryError("spec.notifications is invalid") from None
        try:
            check(self.policy, str(rollout["metadata"]["namespace"]), notifications)
        except PolicyRefusal as refusal:
            raise Refused(str(refusal)) from None
        channels: list[Channel] = []
        slack = notifications.slack
        if slack is not None:
            secret = self.secrets.get(slack.secret_ref)
            if slack.mode == "bot":
                secret = _token(secret, slack.secret_ref)
                channel = slack.channel or ""
                bot = self._bots.get((secret, channel))
                if bot is None:
                    bot = self._bots[(secret, channel)] = SlackBot(
                        secret, channel, self.slack_base_url
                    )
                channels.append(bot)
            else:
                field = "spec.notifications.slack.mode webhook"
                channels.append(SlackWebhook(_url(secret, slack.secret_ref, field)))
        webhook = notifications.webhook
        if webhook is not None:
            url = _url(self.secrets.get(webhook.secret_ref), webhook.secret_ref, "a webhook")
            channels.append(JsonWebhook(url))
        return channels
