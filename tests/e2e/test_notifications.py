"""A release in Slack, end to end: one thread, every event once, across a SIGKILL, and
the release's picture once at its end."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from meshlab.seed import NS
from rollout.notify.picture import SIZE_PX
from tests.e2e.harness import Stack
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-e2e-SECRET"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_release_thread_survives_a_restart(stack: Stack, slack: FakeSlack) -> None:
    """A GitOps-applied Rollout with Slack: the controller is killed mid-release; the
    thread carries on and no event is posted twice; the end brings one picture; the
    token is nowhere to be seen."""
    secrets = stack.api.registry.find("", "v1", "secrets")
    rollouts = stack.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert secrets is not None
    assert rollouts is not None
    stack.api.store.create(
        secrets,
        NS,
        {
            "metadata": {"name": "slack"},
            "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
        },
    )
    stack.traffic.set_health("v2")
    policy = '{"*": {"slackChannels": ["#releases"], "slackKeys": ["slack/token"]}}'
    extra = {
        "slack_base_url": slack.api_url,
        "secrets_namespace": NS,
        "notifications_policy": policy,
    }
    proc = stack.start_controller(**extra)
    spec = {
        "service": "inventory-service",
        "stableSubset": "v1",
        "canarySubset": "v2",
        "strategy": {"stepDuration": "3s"},
        "analysis": {"interval": "1s", "minRequests": 10},
        "notifications": {
            "slack": {
                "mode": "bot",
                "channel": "#releases",
                "secretRef": {"name": "slack", "key": "token"},
            }
        },
    }
    stack.api.store.create(rollouts, NS, {"metadata": {"name": "inventory"}, "spec": spec})
    stack.wait_for(lambda: stack.status().get("slackThreadTs"), timeout=30, what="a thread")
    stack.wait_for(lambda: stack.status().get("canaryWeight") == 25, timeout=60, what="25%")
    stack.kill(proc)
    time.sleep(0.5)
    stack.start_controller(**extra)
    stack.wait_for(
        lambda: stack.phase() == "Succeeded" and not stack.status().get("outbox"),
        timeout=90,
        what="success, delivered",
    )
    replies = [p for p in slack.posted("/api/chat.postMessage") if "thread_ts" in p]
    ids = [r["metadata"]["event_payload"]["id"] for r in replies]
    assert len(ids) == len(set(ids)), f"duplicates: {ids}"
    assert [i.split(".")[-1] for i in ids] == [
        "started",
        "step-promoted",
        "step-promoted",
        "step-promoted",
        "succeeded",
    ]
    assert {r["thread_ts"] for r in replies} == {stack.status()["slackThreadTs"]}
    heads = [p for p in slack.posted("/api/chat.postMessage") if "thread_ts" not in p]
    assert len(heads) == 1
    # The release's picture: one PNG in the thread, drawn by the controller.
    pictures = slack.files_in(stack.status()["slackThreadTs"])
    assert [p["filename"] for p in pictures] == [f"{NS}-inventory-run1.png"]
    assert Image.open(io.BytesIO(pictures[0]["data"])).size == SIZE_PX
    if os.environ.get("RELEASE_PICTURE"):  # make screenshot: the README's release image
        Path(os.environ["RELEASE_PICTURE"]).write_bytes(pictures[0]["data"])
    logs = "".join(p.read_text() for p in stack.workdir.glob("controller-*.log"))
    assert TOKEN not in logs
    assert TOKEN not in str(stack.rollout())
