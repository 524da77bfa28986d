"""Who may post where: the platform team's policy, and Secret values that are refused
with a message naming the Secret and key, never the value."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from rollout.controller.settings import Settings
from rollout.kube import Forbidden, NotFound
from rollout.kube.secrets import KubeSecrets, SecretUnreadable
from rollout.model import Notifications, SecretKeyRef
from rollout.notify import (
    DEFAULT_POLICY,
    ChannelFactory,
    DeliveryError,
    JsonWebhook,
    NotificationPolicy,
    Refused,
    SlackBot,
    SlackWebhook,
)
from rollout.notify.policy import PolicyRefusal, check

TOKEN = "xoxb-0000-SECRET-TOKEN"
HOOK = "https://hooks.slack.example/services/T0/B0/SECRETHOOK"

POLICY = NotificationPolicy.model_validate(
    {
        "*": {"slackKeys": ["{namespace}"], "webhookKeys": ["{namespace}"]},
        "team-a": {
            "slackChannels": ["#team-a-releases", "C0123", "{namespace}-ops"],
            "slackKeys": ["slack/bot-token", "team-a"],
            "webhookKeys": ["*"],
        },
        "lab": {"slackChannels": ["*"], "slackKeys": ["*"]},
    }
)


def bot(channel: str, key: str = "bot-token", name: str = "slack") -> dict[str, Any]:
    return {"slack": {"mode": "bot", "channel": channel, "secretRef": {"name": name, "key": key}}}


def hook(key: str, name: str = "slack") -> dict[str, Any]:
    return {"slack": {"mode": "webhook", "secretRef": {"name": name, "key": key}}}


def generic(key: str) -> dict[str, Any]:
    return {"webhook": {"secretRef": {"name": "slack", "key": key}}}


@pytest.mark.parametrize(
    ("namespace", "notifications", "refusal"),
    [
        ("team-a", bot("#team-a-releases"), None),
        ("team-a", bot("team-a-releases"), None),  # with or without '#'
        ("team-a", bot("C0123"), None),
        ("team-a", bot("#team-a-ops"), None),  # {namespace} in a channel
        ("team-a", bot("#general"), "spec.notifications.slack.channel #general is not allowed "),
        ("team-a", bot("#team-a-releases", name="other"), "secretRef other/bot-token"),
        ("team-a", bot("#team-a-releases", key="team-b"), "secretRef slack/team-b"),
        ("team-a", hook("team-a"), None),
        ("team-a", generic("anything"), None),
        ("team-b", hook("team-b"), None),  # the wildcard: the key named after it
        ("team-b", generic("team-b"), None),
        ("team-b", hook("team-a"), "secretRef slack/team-a is not allowed for namespace team-b"),
        ("team-b", bot("#releases", key="team-b"), "slack.channel #releases"),
        ("team-b", generic("team-a"), "spec.notifications.webhook.secretRef slack/team-a"),
        ("lab", bot("#anything", key="any"), None),
        ("lab", generic("any"), "webhook.secretRef"),  # lab's entry replaces the wildcard
        ("team-b", {}, None),
    ],
)
def test_the_policy_decides_channels_and_keys(
    namespace: str, notifications: dict[str, Any], refusal: str | None
) -> None:
    """A namespace's entry (or '*') lists the channels and keys it may use; the refusal
    names the field, the namespace and where the policy lives."""
    parsed = Notifications.model_validate(notifications)
    if refusal is None:
        check(POLICY, namespace, parsed)
        return
    with pytest.raises(PolicyRefusal) as caught:
        check(POLICY, namespace, parsed)
    assert refusal in str(caught.value)
    assert f"namespace {namespace} (chart value notifications.policy)" in str(caught.value)


@pytest.mark.parametrize(
    ("namespace", "notifications", "allowed"),
    [
        ("team-a", hook("team-a"), True),
        ("team-a", generic("team-a"), True),
        ("team-a", hook("team-b"), False),
        ("team-a", hook("token"), False),
        ("team-a", bot("#releases", key="team-a"), False),
    ],
)
def test_the_default_policy_is_safe_and_usable(
    namespace: str, notifications: dict[str, Any], allowed: bool
) -> None:
    """Nothing set: a namespace may use the key named after it for webhooks; no bot."""
    assert Settings().notifications_policy == DEFAULT_POLICY
    parsed = Notifications.model_validate(notifications)
    if allowed:
        check(DEFAULT_POLICY, namespace, parsed)
    else:
        with pytest.raises(PolicyRefusal):
            check(DEFAULT_POLICY, namespace, parsed)


def test_the_policy_comes_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart passes notifications.policy as ROLLOUT_NOTIFICATIONS_POLICY (JSON)."""
    monkeypatch.setenv("ROLLOUT_NOTIFICATIONS_POLICY", '{"team-a": {"slackKeys": ["k"]}}')
    policy = Settings().notifications_policy
    assert policy.rules("team-a").slack_keys == ["k"]
    assert policy.rules("team-b").slack_keys == [], "no wildcard: nothing allowed"


class Secrets:
    """Values by key, as KubeSecrets returns them."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, ref: SecretKeyRef) -> str:
        return self.values[ref.key]


def rollout(namespace: str, notifications: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": "inventory"},
        "spec": {"notifications": notifications},
    }


@pytest.mark.parametrize(
    ("notifications", "kind"),
    [
        (bot("#team-a-releases"), SlackBot),
        (hook("team-a"), SlackWebhook),
        (generic("hook"), JsonWebhook),
    ],
)
def test_the_factory_builds_what_the_policy_allows(
    notifications: dict[str, Any], kind: type
) -> None:
    """Allowed channels are built from the right values."""
    factory = ChannelFactory(
        Secrets({"bot-token": TOKEN, "team-a": HOOK, "hook": HOOK}), policy=POLICY
    )
    (channel,) = factory(rollout("team-a", notifications))
    assert isinstance(channel, kind)


def test_a_refused_rollout_reads_no_secret() -> None:
    """The policy is checked before any Secret is read; the refusal is not retried."""
    read: list[str] = []

    class Watching(Secrets):
        def get(self, ref: SecretKeyRef) -> str:
            read.append(ref.key)
            return TOKEN

    factory = ChannelFactory(Watching({}), policy=POLICY)
    with pytest.raises(Refused, match="#general is not allowed for namespace team-a"):
        factory(rollout("team-a", bot("#general")))
    assert read == []


@pytest.mark.parametrize(
    ("notifications", "value", "words"),
    [
        (hook("team-a"), TOKEN, "secret slack key team-a does not hold an http(s) URL"),
        (generic("hook"), TOKEN, "secret slack key hook does not hold an http(s) URL"),
        (hook("team-a"), "https://x.example/a b", "does not hold an http(s) URL"),
        (bot("#team-a-releases"), HOOK, "does not hold a bot token"),
        (bot("#team-a-releases"), "xoxb-é-token", "does not hold a bot token"),
        (bot("#team-a-releases"), "xoxb\n-token", "does not hold a bot token"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_without_showing_it(
    notifications: dict[str, Any], value: str, words: str
) -> None:
    """A bot token in a webhook's key (it raised ValueError('unknown url type: xoxb-…')
    in the notify thread before) or a URL as a token: a DeliveryError naming the key."""
    secrets = Secrets({"bot-token": value, "team-a": value, "hook": value})
    with pytest.raises(DeliveryError) as caught:
        ChannelFactory(secrets, policy=POLICY)(rollout("team-a", notifications))
    assert words in str(caught.value)
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None


class Kube:
    """Answers get() with one Secret, or raises."""

    def __init__(self, data: dict[str, str] | None = None, raises: Exception | None = None):
        self.data, self.raises = data, raises

    def get(self, resource: Any, namespace: str, name: str) -> dict[str, Any]:
        if self.raises is not None:
            raise self.raises
        return {"data": self.data}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("kube", "words"),
    [
        (Kube({"token": b64(b"\xff\xfe" + TOKEN.encode())}), "key token: the value is not UTF-8"),
        (Kube({"token": TOKEN + "!"}), "key token: the value is not UTF-8 text"),
        (Kube({"other": b64(TOKEN.encode())}), "key token: no such key"),
        (Kube(raises=NotFound("gone")), "key token: not found"),
        (Kube(raises=Forbidden(TOKEN)), "key token: not allowed"),
        (Kube(raises=RuntimeError(TOKEN)), "key token: RuntimeError"),
    ],
    ids=["non-utf8", "not-base64", "no-key", "not-found", "forbidden", "other-error"],
)
def test_bad_secrets_are_named_never_shown(kube: Kube, words: str) -> None:
    """KubeSecrets: every failure is a SecretUnreadable naming the Secret and key only."""
    secrets = KubeSecrets(kube, "meshrollout")  # type: ignore[arg-type]
    with pytest.raises(SecretUnreadable) as caught:
        secrets.get(SecretKeyRef(name="slack", key="token"))
    assert f"secret meshrollout/slack {words}" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert "\\xff" not in str(caught.value)
