"""Where notifications go: a Slack bot (one thread per release), a Slack incoming
webhook, a generic JSON webhook. Each channel sends one event or raises
:class:`DeliveryError`; retries across failures are the queue's (``notifier``).

``slack_sdk`` does the talking, with its retry handlers for rate limits
(Retry-After honoured), server errors and broken connections. Errors are
reduced to their kind and status before they leave this module, so a token or
a webhook URL can never reach a log line, an Event or the status: *every*
exception a send raises becomes a :class:`DeliveryError` naming only its type
(``ValueError("unknown url type: 'xoxb-…'")`` carried the token in its text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from rollout.model import TERMINAL_PHASES, PendingEffect
from rollout.notify.interactive import buttons
from rollout.notify.messages import (
    Release,
    event_blocks,
    event_text,
    headline,
    parent_blocks,
    webhook_payload,
)
from rollout.notify.picture import (
    PICTURE_EVENTS,
    MetricSeries,
    picture_name,
    release_series,
    render_png,
)

EVENT_TYPE = "meshrollout_event"


class DeliveryError(Exception):
    """A channel could not take a message now. The text never holds a secret."""


class Refused(DeliveryError):
    """The platform team's policy does not allow it: never sent, not retried."""


def _handlers() -> list[Any]:
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(2),
        ConnectionErrorRetryHandler(2),
    ]


def _metrics(series: MetricSeries | None, release: Release) -> Any:
    """The release's metric series, or None: a picture without them beats no picture."""
    if series is None:
        return None
    try:
        return series(release)
    except Exception:  # noqa: BLE001 Prometheus down or a bug: the weights are still worth it
        return None


def picture_png(release: Release, series: MetricSeries | None) -> bytes | None:
    """The release's PNG, or None if it cannot be drawn (the text message still goes)."""
    try:
        return render_png(release, release_series(release, _metrics(series, release)))
    except Exception:  # noqa: BLE001 a drawing bug must not hold the release's messages
        return None


class Channel(Protocol):
    """One destination for a rollout's events."""

    name: str

    def send(self, release: Release, effect: PendingEffect, thread: str | None) -> str | None:
        """Deliver one event; return the thread it now lives in (Slack bot), if any."""
        ...


@dataclass
class SlackBot:
    """A bot token: the release is one message kept current, each event a reply in its thread."""

    token: str
    channel: str
    base_url: str = "https://slack.com/api/"
    name: str = "slack"
    series: MetricSeries | None = None
    interactive: bool = False  # Pause/Promote/Abort on the thread head (slack.interactive)
    _client: WebClient | None = None
    _seen: dict[str, set[str]] = field(default_factory=dict)  # thread ts → ids already in it
    _files: dict[str, set[str]] = field(default_factory=dict)  # thread ts → file names in it
    _channel_id: str | None = None  # files.completeUploadExternal wants the id, not a name

    @property
    def client(self) -> WebClient:
        if self._client is None:
            self._client = WebClient(
                token=self.token, base_url=self.base_url, timeout=10, retry_handlers=_handlers()
            )
        return self._client

    def send(self, release: Release, effect: PendingEffect, thread: str | None) -> str | None:
        try:
            if thread is None:
                head = self.client.chat_postMessage(
                    channel=self.channel, text=headline(release), blocks=self._head(release, effect)
                )
                thread = str(head["ts"])
                self._seen[thread], self._files[thread] = set(), set()
                self._channel_id = str(head.get("channel") or "") or self._channel_id
            if effect.id not in self._already_posted(thread):
                self.client.chat_postMessage(
                    channel=self.channel,
                    thread_ts=thread,
                    text=event_text(release, effect),
                    blocks=event_blocks(release, effect),
                    metadata={"event_type": EVENT_TYPE, "event_payload": {"id": effect.id}},
                )
                self._seen[thread].add(effect.id)
            if effect.kind == "notify" and effect.event in PICTURE_EVENTS:
                self._picture(release, effect, thread)
            self.client.chat_update(
                channel=self.channel,
                ts=thread,
                text=headline(release),
                blocks=self._head(release, effect),
            )
        except SlackApiError as error:
            raise DeliveryError(
                f"slack: {error.response.get('error', 'error')} ({error.response.status_code})"
            ) from None
        except Exception as error:  # noqa: BLE001 its type only: texts may hold the token
            raise DeliveryError(f"slack: {type(error).__name__}") from None
        return thread

    def _head(self, release: Release, effect: PendingEffect) -> list[dict[str, Any]]:
        """The thread head; with interactivity, its buttons while the release runs."""
        blocks = parent_blocks(release)
        if self.interactive and release.phase not in TERMINAL_PHASES:
            blocks.append(buttons(release, effect.run or 0))
        return blocks

    def _already_posted(self, thread: str) -> set[str]:
        """Ids of events already in the thread: after a restart, read them back once."""
        if thread not in self._seen:
            replies = self.client.conversations_replies(
                channel=self.channel, ts=thread, include_all_metadata=True, limit=200
            )
            messages = replies.get("messages") or []
            self._seen[thread] = {
                str(((m.get("metadata") or {}).get("event_payload") or {}).get("id"))
                for m in messages
                if (m.get("metadata") or {}).get("event_type") == EVENT_TYPE
            }
            self._files[thread] = {
                str(f.get("name"))
                for m in messages
                for f in m.get("files") or []
                if isinstance(f, dict)
            }
        return self._seen[thread]

    def _picture(self, release: Release, effect: PendingEffect, thread: str) -> None:
        """The release's picture in its thread, once: a restart finds it by its name."""
        name = picture_name(release, effect)
        self._already_posted(thread)
        if name in self._files.setdefault(thread, set()):
            return
        png = picture_png(release, self.series)
        if png is None:
            return
        self.client.files_upload_v2(
            channel=self._channel_id or self.channel,
            thread_ts=thread,
            file=png,
            filename=name,
            title=f"{release.name}: {release.stable} → {release.canary}, {release.phase}",
            request_file_info=False,
        )
        self._files[thread].add(name)


@dataclass
class SlackWebhook:
    """An incoming webhook: one message per event, for teams without a bot."""

    url: str
    name: str = "slack-webhook"

    def send(self, release: Release, effect: PendingEffect, thread: str | None) -> str | None:
        try:
            client = WebhookClient(self.url, timeout=10, retry_handlers=_handlers())
            response = client.send(
                text=event_text(release, effect), blocks=event_blocks(release, effect)
            )
        except Exception as error:  # noqa: BLE001 its type only: texts may hold the URL or a token
            raise DeliveryError(f"slack webhook: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"slack webhook: HTTP {response.status_code}")
        return thread


@dataclass
class JsonWebhook:
    """Any HTTP endpoint taking the versioned JSON payload (other chat tools, automation)."""

    url: str
    name: str = "webhook"
    series: MetricSeries | None = None

    def send(self, release: Release, effect: PendingEffect, thread: str | None) -> str | None:
        metrics = None
        if effect.kind == "notify" and effect.event in PICTURE_EVENTS:
            metrics = _metrics(self.series, release)  # the Slack picture's data, as JSON
        payload = webhook_payload(release, effect, metrics)
        try:
            response = requests.post(
                self.url,
                json=payload,
                timeout=10,
                headers={"Idempotency-Key": str(release.key(effect))},
            )
        except Exception as error:  # noqa: BLE001 its type only: texts may hold the URL
            raise DeliveryError(f"webhook: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook: HTTP {response.status_code}")
        return thread
