"""From a Rollout's ``spec.notifications`` to the channels that carry its events.

Tokens and webhook URLs come from a Secret in the controller's own namespace
(``secretRef``), read through the :class:`Secrets` port (the Kubernetes adapter's
``KubeSecrets``, which caches them briefly); they
live only inside the channel objects and are never logged or written back.
Before any Secret is read, the platform team's policy (``rollout.notify.policy``)
must allow the rollout's namespace the channel and keys it names. A value that is
not what its use needs (not UTF-8, a token where a URL belongs) is refused with a
message naming the Secret and key, never the value.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from rollout.model import Notifications, SecretKeyRef
from rollout.notify.channels import (
    Channel,
    DeliveryError,
    JsonWebhook,
    Refused,
    SlackBot,
    SlackWebhook,
)
from rollout.notify.picture import MetricSeries
from rollout.notify.policy import DEFAULT_POLICY, NotificationPolicy, PolicyRefusal, check

_URL = re.compile(r"^https?://[!-~]+$")  # printable ASCII, no spaces
_TOKEN = re.compile(r"^[!-~]+$")


class Secrets(Protocol):
    """The port notifications read Secrets through (``rollout.kube.secrets.KubeSecrets``).

    ``get`` returns one key's value; it raises a ``LookupError`` whose text names the
    Secret and key (never the value) when it cannot.
    """

    def get(self, ref: SecretKeyRef) -> str: ...


def _read(secrets: Secrets, ref: SecretKeyRef) -> str:
    try:
        return secrets.get(ref)
    except LookupError as error:  # ours: its text names the Secret and key only
        raise DeliveryError(str(error)) from None
    except Exception as error:  # noqa: BLE001 anything else: its type only, never its text
        raise DeliveryError(f"{_where(ref)}: {type(error).__name__}") from None


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
        secrets: Secrets,
        slack_base_url: str = "https://slack.com/api/",
        policy: NotificationPolicy = DEFAULT_POLICY,
        series: MetricSeries | None = None,
        interactive: bool = False,
    ) -> None:
        self.secrets, self.slack_base_url, self.policy = secrets, slack_base_url, policy
        self.series = series  # the metrics of a release's picture (Prometheus, from the wiring)
        self.interactive = interactive  # buttons on the thread heads (slack.interactive)
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
            secret = _read(self.secrets, slack.secret_ref)
            if slack.mode == "bot":
                secret = _token(secret, slack.secret_ref)
                channel = slack.channel or ""
                bot = self._bots.get((secret, channel))
                if bot is None:
                    bot = self._bots[(secret, channel)] = SlackBot(
                        secret,
                        channel,
                        self.slack_base_url,
                        series=self.series,
                        interactive=self.interactive,
                    )
                channels.append(bot)
            else:
                field = "spec.notifications.slack.mode webhook"
                channels.append(SlackWebhook(_url(secret, slack.secret_ref, field)))
        webhook = notifications.webhook
        if webhook is not None:
            url = _url(_read(self.secrets, webhook.secret_ref), webhook.secret_ref, "a webhook")
            channels.append(JsonWebhook(url, series=self.series))
        return channels
