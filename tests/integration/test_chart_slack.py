"""The chart's ``slack.interactive``: off by default (no endpoint served or exposed); on,
its settings reach the controller, the endpoint gets a Service and a NetworkPolicy port."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_chart import render

ON = {
    "slack": {
        "interactive": {
            "enabled": True,
            "signingSecret": {"name": "slack-app", "key": "signing"},
            "allowedUsers": {"team-a": ["U012ABCDEF", "S0614TZR7"], "*": ["U0PLATFORM"]},
            "groupsToken": {"name": "slack-bot", "key": "token"},
        }
    },
    "networkPolicy": {"enabled": True},
}


def env_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_off_by_default_nothing_served_or_exposed() -> None:
    """Default values: no setting, no port, no Service, no ingress rule for it."""
    docs = render({"networkPolicy": {"enabled": True}})
    assert not any(k.startswith("ROLLOUT_SLACK_INTERACTIVE") for k in env_of(docs))
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
    assert services
    assert all("slack" not in s for s in services)
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])]
    assert 8081 not in ports


def test_enabled_reaches_the_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's values become the controller's settings; the port is exposed."""
    from rollout.controller.settings import Settings

    docs = render(ON)
    for name, value in env_of(docs).items():
        if name.startswith("ROLLOUT_SLACK"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.slack_interactive is True
    assert settings.slack_interactive_port == 8081
    assert settings.slack_signing_secret == "slack-app/signing"
    assert settings.slack_allowed_users == {
        "team-a": ["U012ABCDEF", "S0614TZR7"],
        "*": ["U0PLATFORM"],
    }
    assert settings.slack_groups_token == "slack-bot/token"
    service = next(d for d in docs if d["kind"] == "Service" and "slack" in d["metadata"]["name"])
    assert service["spec"]["ports"][0]["targetPort"] == "slack"
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])]
    assert 8081 in ports
