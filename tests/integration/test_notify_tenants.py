"""Notifications in a shared cluster, through slack_sdk to a local receiver posing as
Slack: two tenants living the same story, a token in the wrong key, a hijacked channel,
mentions and disguised links."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from rollout.controller.fakes import evaluation
from rollout.model import parse_status
from rollout.notify import ChannelFactory, NotificationPolicy, QueueNotifier
from tests.fakeslack import FakeSlack
from tests.integration.test_notify import (
    ANYTHING,
    BOT,
    T0,
    TOKEN,
    Secrets,
    deliver_all,
    effect,
    notifier,
    rollout,
)
from tests.integration.test_notify import slack as slack  # the fixture


def run_story(reconciler: Any, namespace: str, now: list[datetime]) -> None:
    """Start, four passing evaluations: started, three promotions, succeeded."""
    reconciler.reconcile(namespace, "inventory")
    reconciler.reconcile(namespace, "inventory")  # the watch on the mesh: the step's clock
    for _ in range(4):
        now[0] += timedelta(minutes=2)
        status = parse_status(reconciler.rollouts.get(namespace, "inventory").get("status"))
        assert status.step_started_at is not None
        healthy = evaluation("pass", now[0], status.step_started_at)
        reconciler.reconcile(namespace, "inventory", healthy)
        reconciler.reconcile(namespace, "inventory")


def test_two_namespaces_living_the_same_story_are_each_notified_once(slack: FakeSlack) -> None:
    """Two Rollouts named alike in two namespaces, same runs and decisions, one notifier:
    each gets its own thread with every event once (the old id 'r1.2.step-promoted' made
    the second rollout's events count as delivered and stay in its outbox)."""
    from rollout.controller.fakes import (
        FakeCluster,
        FakeEvents,
        FakeFence,
        FakeMesh,
        FakeRollouts,
        FakeWorkloads,
    )
    from rollout.controller.reconcile import Reconciler
    from tests.unit.istio import destination_rule, seed_vs

    n = notifier(slack, delays=(0.1,))
    now = [T0]
    clusters, reconcilers = {}, {}
    spec = {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"}
    for ns in ("team-a", "team-b"):
        cluster = clusters[ns] = FakeCluster(ns)
        cluster.put("VirtualService", seed_vs())
        cluster.put("DestinationRule", destination_rule())
        body = {**spec, "notifications": BOT}
        cluster.put("Rollout", {"metadata": {"name": "inventory"}, "spec": body})
        reconcilers[ns] = Reconciler(
            FakeRollouts(cluster),
            FakeMesh(cluster),
            FakeWorkloads(),
            FakeEvents(cluster),
            n,
            FakeFence(),
            lambda: now[0],
        )
    for ns in clusters:  # the same story, in step
        run_story(reconcilers[ns], ns, now)
    deadline = time.monotonic() + 20
    while any(c.get("Rollout", "inventory")["status"]["outbox"] for c in clusters.values()):
        assert time.monotonic() < deadline, "an outbox never empties"
        time.sleep(0.1)
        for ns in clusters:
            reconcilers[ns].reconcile(ns, "inventory")
    n.stop()
    threads = {
        ns: c.get("Rollout", "inventory")["status"]["slackThreadTs"] for ns, c in clusters.items()
    }
    assert len(set(threads.values())) == 2, "one thread per rollout"
    posts = slack.posted("/api/chat.postMessage")
    heads = [p for p in posts if "thread_ts" not in p]
    assert sorted(h["text"].split(" ")[1] for h in heads) == [
        "(team-a/inventory):",
        "(team-b/inventory):",
    ]
    story = ["r1.1.started", "r1.2.step-promoted", "r1.3.step-promoted", "r1.4.step-promoted"]
    for ns, thread in threads.items():
        replies = [p for p in posts if p.get("thread_ts") == thread]
        ids = [r["metadata"]["event_payload"]["id"] for r in replies]
        assert ids == [*story, "r1.5.succeeded"], ns


def test_a_token_in_a_webhook_key_stops_nothing_and_shows_nowhere(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    """slack.mode webhook with a key holding a bot token: refused by name, counted, the
    token in no log and not on stderr; the notify thread lives on and the next rollout's
    notifications go out."""
    output = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=output),
    )
    errors: list[str] = []
    try:
        secrets = Secrets({"wrong": TOKEN, "hook": slack.hook_url})
        n = QueueNotifier(
            ChannelFactory(secrets, slack.api_url, ANYTHING), on_error=errors.append, delays=(0.1,)
        ).start()
        bad = rollout({"slack": {"mode": "webhook", "secretRef": {"name": "wrong", "key": "url"}}})
        good = rollout({"slack": {"mode": "webhook", "secretRef": {"name": "hook", "key": "url"}}})
        good["metadata"] = {"name": "payments", "namespace": "team-b", "uid": "u-2"}
        assert not n.notify(bad, effect(1, "started", "go"))
        deliver_all(n, good, [effect(1, "started", "go"), effect(2, "succeeded", "done")])
        assert set(errors) == {"config"}
        assert n.alive()
        problem = n.problem(bad)
        n.stop()
    finally:
        structlog.reset_defaults()
    assert problem is not None
    assert "secret wrong key url does not hold an http(s) URL" in problem
    assert len(slack.posted("/services/T000/B000/XXXXSECRETHOOK")) == 2
    logged = output.getvalue() + capsys.readouterr().err
    assert "notification delayed" in logged
    assert TOKEN not in logged


def test_the_policy_refuses_a_hijacked_channel(slack: FakeSlack) -> None:
    """A namespace asking for #general (not its channel): nothing is posted, the refusal
    says why and is not retried; an allowed namespace is posted as before."""
    policy = NotificationPolicy.model_validate(
        {"shop": {"slackChannels": ["#shop-releases"], "slackKeys": ["slack/token"]}}
    )
    n = notifier(slack, policy=policy)
    hijack = rollout({"slack": {**BOT["slack"], "channel": "#general"}})
    allowed = rollout({"slack": {**BOT["slack"], "channel": "#shop-releases"}})
    allowed["metadata"] = {**allowed["metadata"], "name": "payments", "uid": "u-2"}
    deliver_all(n, hijack, [effect(1, "started", "go")])  # "delivered": refused for good
    deliver_all(n, allowed, [effect(1, "started", "go")])
    n.stop()
    assert n.problem(hijack) == (
        "spec.notifications.slack.channel #general is not allowed for namespace shop "
        "(chart value notifications.policy)"
    )
    assert n.problem(allowed) is None
    assert {p["channel"] for p in slack.posted("/api/chat.postMessage")} == {"#shop-releases"}


def test_mentions_and_disguised_links_arrive_escaped(slack: FakeSlack) -> None:
    """<!channel>, <!here>, <@U123> and <http://evil|click> in a message and a link's name
    reach Slack as text, in the thread head and the reply. (A link's URL with ``|`` or
    ``<`` is refused by the model already; ``link()`` escapes it all the same, see
    tests/unit/test_notify_messages.py.)"""
    n = notifier(slack)
    attack = "<!channel> <!here> <@U123> <http://evil|click>"
    obj = rollout(BOT)
    obj["spec"]["notifications"]["links"] = {attack: "https://ok.example/dashboard"}
    deliver_all(n, obj, [effect(1, "started", attack)])
    n.stop()
    received = json.dumps(slack.posted("/api/chat.postMessage") + slack.posted("/api/chat.update"))
    for bad in ("<!channel>", "<!here>", "<@U123>", "<http://evil"):
        assert bad not in received
    assert "&lt;!channel&gt;" in received
