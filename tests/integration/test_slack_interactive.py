"""Slack's interactive buttons against the cluster (the emulator by default) and the tests'
local Slack receiver: a correctly signed click from an allowed user aborts and the
thread is told who did it; a wrong signature, an old timestamp, a replay, a user not in
the map and a button of an older run are each refused, counted, and write nothing."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client import CollectorRegistry

from rollout.controller.interactive import PATH, InteractiveServer
from rollout.controller.settings import Settings
from rollout.controller.wiring import serve_interactive
from rollout.kube import RolloutClient
from rollout.kube.resources import SECRETS
from rollout.notify.channels import SlackBot
from rollout.notify.interactive import signature
from rollout.notify.messages import release_of
from tests.fakeslack import FakeSlack
from tests.integration.conftest import Cluster

SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
ALLOWED, OTHER, GROUP_MEMBER = "U0ALLOWED", "U0STRANGER", "U0ONCALL"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def served(
    cluster: Cluster, slack: FakeSlack
) -> Iterator[tuple[InteractiveServer, CollectorRegistry, dict[str, Any]]]:
    """A running rollout, the signing secret in the controller's namespace, the endpoint."""
    kube = cluster.kube()
    secret = base64.b64encode(SIGNING.encode()).decode()
    body = {"metadata": {"name": "slack-signing"}, "data": {"secret": secret}}
    kube.create(SECRETS, cluster.namespace, body)
    token = base64.b64encode(b"xoxb-groups-TOKEN").decode()
    kube.create(SECRETS, cluster.namespace, {"metadata": {"name": "bot"}, "data": {"t": token}})
    slack.groups["S0OPS"] = [GROUP_MEMBER]
    rollouts = RolloutClient(kube)
    spec = {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"}
    created = rollouts.create(cluster.namespace, "inventory", spec)
    rollouts.write_status(created, {"phase": "Progressing", "run": 2, "canaryWeight": 25})
    settings = Settings(
        slack_interactive=True,
        slack_interactive_port=0,
        metrics_host="127.0.0.1",
        secrets_namespace=cluster.namespace,
        slack_allowed_users={cluster.namespace: [ALLOWED, "S0OPS"], "*": ["U0PLATFORM"]},
        slack_groups_token="bot/t",
        slack_base_url=slack.api_url,
        slack_response_prefix=f"http://127.0.0.1:{slack.port}/",
    )
    registry = CollectorRegistry()
    server = serve_interactive(settings, kube, registry)
    assert server is not None
    try:
        yield server, registry, rollouts.get(cluster.namespace, "inventory")
    finally:
        server.stop()


def click_body(
    rollout: dict[str, Any], user: str, action: str = "abort", run: int = 2, response: str = ""
) -> bytes:
    meta = rollout["metadata"]
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [
            {
                "action_id": f"meshrollout.{action}",
                "value": f"{meta['namespace']}/{meta['name']}/{meta['uid']}/{run}",
            }
        ],
        "message": {"ts": "1700000000.000001"},
        "response_url": response,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(
    server: InteractiveServer, body: bytes, stamp: int | None = None, secret: str = SIGNING
) -> int:
    stamp = int(time.time()) if stamp is None else stamp
    headers = {
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": signature(secret, str(stamp), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    url = f"http://127.0.0.1:{server.port}{PATH}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def counted(registry: CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value("meshrollout_slack_interactions_total", {"result": result})
    return value or 0.0


def test_an_allowed_click_aborts_and_says_who(
    served: tuple[InteractiveServer, CollectorRegistry, dict[str, Any]],
    cluster: Cluster,
    slack: FakeSlack,
) -> None:
    """Signed, fresh, ours, allowed: the abort command (the CLI's patch) on the resource,
    and the thread told who asked."""
    server, registry, rollout = served
    hook = f"http://127.0.0.1:{slack.port}/actions/T1/123/abc"
    assert post(server, click_body(rollout, ALLOWED, response=hook)) == 200
    spec = RolloutClient(cluster.kube()).get(cluster.namespace, "inventory")["spec"]
    assert spec["command"]["name"] == "abort"
    (reply,) = slack.wait_for("/actions/T1/123/abc", 1)
    assert reply["thread_ts"] == "1700000000.000001"
    assert reply["text"] == f"<@{ALLOWED}> asked to abort {cluster.namespace}/inventory (run 2)"
    assert counted(registry, "accepted") == 1


@pytest.mark.parametrize(
    ("case", "result", "code"),
    [
        ("wrong signature", "signature", 401),
        ("old timestamp", "timestamp", 401),
        ("replay", "replay", 401),
        ("user not in the map", "user", 403),
        ("an older run's button", "stale", 403),
        ("not our button", "action", 403),
    ],
)
def test_everything_else_is_refused_and_writes_nothing(
    served: tuple[InteractiveServer, CollectorRegistry, dict[str, Any]],
    cluster: Cluster,
    case: str,
    result: str,
    code: int,
) -> None:
    """Each refusal answers 401/403, is counted under its reason, and leaves the spec
    exactly as it was (a replay: as the first, accepted, click left it)."""
    server, registry, rollout = served
    rollouts = RolloutClient(cluster.kube())
    body = click_body(rollout, ALLOWED, action="pause")
    if case == "replay":
        stamp = int(time.time())
        assert post(server, body, stamp) == 200
        before = rollouts.get(cluster.namespace, "inventory")["spec"]
        assert post(server, body, stamp) == code
    else:
        before = rollouts.get(cluster.namespace, "inventory")["spec"]
        if case == "wrong signature":
            status = post(server, body, secret="not-the-secret")
        elif case == "old timestamp":
            status = post(server, body, stamp=int(time.time()) - 301)
        elif case == "user not in the map":
            status = post(server, click_body(rollout, OTHER))
        elif case == "an older run's button":
            status = post(server, click_body(rollout, ALLOWED, run=1))
        else:
            status = post(server, click_body(rollout, ALLOWED, action="delete"))
        assert status == code
    assert rollouts.get(cluster.namespace, "inventory")["spec"] == before
    assert counted(registry, result) == 1


def test_the_thread_head_carries_the_buttons_only_when_enabled(slack: FakeSlack) -> None:
    """With interactivity the head has Pause, Promote and Abort (the last two confirmed),
    naming the rollout's uid and run; without it, or once the release ended, none."""
    from rollout.actions import notify

    doc: dict[str, Any] = {
        "metadata": {"name": "inventory", "namespace": "shop", "uid": "u-9"},
        "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
        "status": {"phase": "Progressing", "run": 3},
    }
    started = notify(3, 1, "started", "rolling out", 5, 0)
    SlackBot("xoxb-1-TOKEN", "C1", slack.api_url, interactive=True).send(
        release_of(doc), started, None
    )
    SlackBot("xoxb-1-TOKEN", "C1", slack.api_url).send(release_of(doc), started, None)
    doc["status"]["phase"] = "Succeeded"
    SlackBot("xoxb-1-TOKEN", "C1", slack.api_url, interactive=True).send(
        release_of(doc), notify(3, 2, "succeeded", "done", 100, 3), None
    )
    heads = [p for p in slack.posted("/api/chat.postMessage") if "thread_ts" not in p]
    raw = [h["blocks"] for h in heads]
    blocks = [json.loads(b) if isinstance(b, str) else b for b in raw]
    actions = [[b for b in bs if b["type"] == "actions"] for bs in blocks]
    assert [len(a) for a in actions] == [1, 0, 0]
    elements = actions[0][0]["elements"]
    assert [e["action_id"] for e in elements] == [
        "meshrollout.pause",
        "meshrollout.promote",
        "meshrollout.abort",
    ]
    assert {e["value"] for e in elements} == {"shop/inventory/u-9/3"}
    assert [("confirm" in e) for e in elements] == [False, True, True]


def test_a_member_of_an_allowed_group_may_click(
    served: tuple[InteractiveServer, CollectorRegistry, dict[str, Any]],
    cluster: Cluster,
    slack: FakeSlack,
) -> None:
    """A user group in the map: its members (read from Slack with the groups token)
    pass; the read names the group and carries the token only in its header."""
    server, registry, rollout = served
    assert post(server, click_body(rollout, GROUP_MEMBER, action="pause")) == 200
    assert RolloutClient(cluster.kube()).get(cluster.namespace, "inventory")["spec"]["paused"]
    (asked,) = slack.posted("/api/usergroups.users.list")
    assert asked["usergroup"] == "S0OPS"
    assert "xoxb-groups-TOKEN" not in str(asked)
    assert counted(registry, "accepted") == 1
