"""Slack's Abort button end to end: ``rollout controller --slack-interactive`` as a
subprocess (the signing secret read from its namespace), a signed click from an allowed
user rolls the release back and the thread is told; a click from someone else, sent
first, changes nothing."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from meshlab.prometheus import free_port
from meshlab.seed import NS
from rollout.notify.interactive import signature
from tests.e2e.harness import Stack
from tests.fakeslack import FakeSlack

SIGNING = "e2e-signing-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def press(port: int, user: str, rollout: dict[str, object], hook: str) -> int:
    """A signed click on the Abort button of ``rollout``'s current run."""
    meta, status = rollout["metadata"], rollout["status"]
    assert isinstance(meta, dict)
    assert isinstance(status, dict)
    value = f"{meta['namespace']}/{meta['name']}/{meta['uid']}/{status['run']}"
    payload = {
        "user": {"id": user},
        "actions": [{"action_id": "meshrollout.abort", "value": value}],
        "message": {"ts": "1700000000.000009"},
        "response_url": hook,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/interactive",
        data=body,
        method="POST",
        headers={
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature(SIGNING, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0  # not listening yet


def test_abort_from_slack(stack: Stack, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stranger's click: 403, still progressing; the allowed user's: RolledBack, and
    the thread says who asked."""
    secrets = stack.api.registry.find("", "v1", "secrets")
    assert secrets is not None
    encoded = base64.b64encode(SIGNING.encode()).decode()
    body = {"metadata": {"name": "slack-signing"}, "data": {"secret": encoded}}
    stack.api.store.create(secrets, NS, body)
    port = free_port()
    stack.traffic.set_health("v2")
    monkeypatch.setenv("ROLLOUT_SLACK_INTERACTIVE", "true")  # the chart's way (a flag has no value)
    stack.start_controller(
        slack_interactive_port=str(port),
        secrets_namespace=NS,
        slack_allowed_users=json.dumps({NS: ["U0ALICE"]}),
        slack_response_prefix=f"http://127.0.0.1:{slack.port}/",
    )
    started = stack.cli("start", "inventory", "v2", "--step-duration", "30s")
    assert started.returncode == 0, started.stderr
    stack.wait_for(lambda: stack.phase() == "Progressing", what="progressing")
    hook = f"http://127.0.0.1:{slack.port}/actions/T1/1/x"
    stack.wait_for(lambda: press(port, "U0MALLORY", stack.rollout(), hook) == 403, what="up")
    time.sleep(1)
    assert stack.phase() == "Progressing"
    assert press(port, "U0ALICE", stack.rollout(), hook) == 200
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=10, what="the rollback")
    assert stack.status()["rollbackReason"] == "aborted"
    (reply,) = slack.wait_for("/actions/T1/1/x", 1)
    assert reply["text"].startswith("<@U0ALICE> asked to abort shop/inventory")
