"""Notifications through slack_sdk and HTTP to a local receiver posing as Slack."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from rollout.controller.fakes import evaluation
from rollout.model import MetricVerdict, PendingEffect, SecretKeyRef, Verdict
from rollout.notify import (
    ChannelFactory,
    NamespaceRules,
    NotificationPolicy,
    QueueNotifier,
    webhook_payload,
)
from rollout.notify.messages import release_of
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-0000-SECRET-TOKEN"
T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Secrets:
    """Secret values by name, as KubeSecrets would return them."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, ref: SecretKeyRef) -> str:
        return self.values[ref.name]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def rollout(
    notifications: dict[str, Any], thread: str | None = None, run: int = 1
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Progressing",
        "run": run,
        "stableSubset": "v1",
        "canarySubset": "v2",
        "plan": [
            {"kind": "weight", "weight": w, "duration": "1m", "minRequests": 10}
            for w in (5, 25, 50, 100)
        ],
        "stepIndex": 1,
        "canaryWeight": 25,
        "startedAt": T0.isoformat(),
    }
    if thread:
        status["slackThreadTs"] = thread
    return {
        "metadata": {"name": "inventory", "namespace": "shop", "uid": "u-1"},
        "spec": {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "notifications": {**notifications, "links": {"Grafana": "https://grafana.example/d/x"}},
        },
        "status": status,
    }


BOT = {
    "slack": {"mode": "bot", "channel": "#releases", "secretRef": {"name": "slack", "key": "token"}}
}

FAILING = Verdict(
    outcome="fail",
    at=T0,
    canary_requests=400,
    metrics=[
        MetricVerdict(name="error-rate", value=0.05, threshold=0.01, samples=400, outcome="fail"),
        MetricVerdict(name="p99-latency", value=120, threshold=500, samples=400, outcome="pass"),
    ],
)


def effect(n: int, event: str, message: str, **extra: Any) -> PendingEffect:
    return PendingEffect(
        id=f"r1.{n}.{event}",
        kind="notify",
        event=event,
        message=message,
        canary_weight=extra.pop("weight", 25),
        step_index=1,
        **extra,
    )


ANYTHING = NotificationPolicy(
    {"*": NamespaceRules(slack_channels=["*"], slack_keys=["*"], webhook_keys=["*"])}
)


def notifier(
    slack: FakeSlack,
    values: dict[str, str] | None = None,
    delays: tuple[float, ...] = (0.2,),
    policy: NotificationPolicy = ANYTHING,
) -> QueueNotifier:
    secrets = Secrets(values or {"slack": TOKEN, "hook": slack.hook_url, "json": slack.json_url})
    return QueueNotifier(ChannelFactory(secrets, slack.api_url, policy), delays=delays).start()


def deliver_all(
    n: QueueNotifier, obj: dict[str, Any], effects: list[PendingEffect], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while not all(n.notify(obj, e) for e in effects):
        assert time.monotonic() < deadline, "not delivered in time"
        time.sleep(0.05)


def test_bot_posts_one_thread_per_release(slack: FakeSlack) -> None:
    """Started opens the thread; each event is a reply; the head is kept current."""
    n = notifier(slack)
    obj = rollout(BOT)
    events = [
        effect(1, "started", "rolling out v2 beside v1: 5 → 25 → 50 → 100", weight=5),
        effect(
            2,
            "step-promoted",
            "step 1/3: canary at 25%",
            verdict=Verdict(
                outcome="pass", at=T0, canary_requests=400, metrics=FAILING.metrics[1:]
            ),
        ),
        effect(
            3,
            "rolled-back",
            "regression: error-rate 0.05 > 0.01",
            weight=0,
            verdict=FAILING,
            outlier_detection={"consecutive5xxErrors": 1, "interval": "1s"},
        ),
    ]
    deliver_all(n, obj, events)
    n.stop()
    posts = slack.posted("/api/chat.postMessage")
    head, *replies = posts
    assert "thread_ts" not in head
    assert head["blocks"][0]["type"] == "header"
    thread = n.thread(obj)
    assert thread is not None
    assert [r["thread_ts"] for r in replies] == [thread] * 3
    assert [r["metadata"]["event_payload"]["id"] for r in replies] == [e.id for e in events]
    rolled_back = replies[2]["blocks"][1]["text"]["text"]
    assert "`error-rate` 0.05 (limit <= 0.01), n=400" in rolled_back
    assert "p99-latency" not in rolled_back, "a rollback shows the failing metrics"
    assert "consecutive5xxErrors: 1" in rolled_back
    assert "https://grafana.example/d/x|Grafana" in str(replies[0]["blocks"])
    updates = slack.posted("/api/chat.update")
    assert len(updates) == 3
    assert {u["ts"] for u in updates} == {thread}
    call = next(c for c in slack.calls if c.path == "/api/chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


def test_incoming_webhook_posts_one_message_per_event(slack: FakeSlack) -> None:
    """Teams without a bot: each event is its own message to the webhook."""
    n = notifier(slack)
    obj = rollout({"slack": {"mode": "webhook", "secretRef": {"name": "hook", "key": "url"}}})
    deliver_all(
        n,
        obj,
        [
            effect(1, "started", "go", weight=5),
            effect(2, "succeeded", "v2 serves 100%", weight=100),
        ],
    )
    n.stop()
    posts = slack.posted("/services/T000/B000/XXXXSECRETHOOK")
    assert [p["text"].rsplit(": ", 1)[1] for p in posts] == ["go", "v2 serves 100%"]


def test_generic_webhook_payload_is_versioned(slack: FakeSlack) -> None:
    """The JSON webhook carries the documented v1 payload."""
    n = notifier(slack)
    obj = rollout({"webhook": {"secretRef": {"name": "json", "key": "url"}}})
    e = effect(3, "rolled-back", "regression", weight=0, verdict=FAILING)
    deliver_all(n, obj, [e])
    n.stop()
    (payload,) = slack.posted("/hooks/generic")
    assert payload == webhook_payload(release_of(obj), e)
    assert payload["version"] == "meshrollout.dev/v1"
    assert payload["rollout"]["service"] == "inventory-service"
    assert payload["verdict"]["metrics"][0]["value"] == 0.05


def test_429_with_retry_after_is_honoured(slack: FakeSlack) -> None:
    """Slack says 429 with Retry-After: 1; the message goes a second later, once."""
    slack.force("/api/chat.postMessage", (429, {"Retry-After": "1"}))
    n = notifier(slack)
    started = time.monotonic()
    deliver_all(n, rollout(BOT), [effect(1, "started", "go")])
    n.stop()
    assert time.monotonic() - started >= 1.0
    assert len(slack.posted("/api/chat.postMessage")) == 2  # the head and the reply


def test_500_then_success_sends_once(slack: FakeSlack) -> None:
    """A server error is retried; the receiver gets each message once."""
    slack.force("/api/chat.postMessage", (500, {}))
    n = notifier(slack)
    deliver_all(n, rollout(BOT), [effect(1, "started", "go")])
    n.stop()
    assert len(slack.posted("/api/chat.postMessage")) == 2


def test_receiver_down_for_a_while(slack: FakeSlack) -> None:
    """Slack unreachable: notify never blocks; once it is back, every message arrives
    once, in order."""
    port = slack.port
    slack.stop()
    n = notifier(slack, delays=(0.2, 0.4))
    obj = rollout(BOT)
    events = [effect(i, "step-promoted", f"step {i}") for i in range(1, 4)]
    started = time.monotonic()
    assert not any(n.notify(obj, e) for e in events)
    assert time.monotonic() - started < 0.1, "notify must not block"
    time.sleep(1.0)
    slack.port = port
    slack.start()
    deliver_all(n, obj, events)
    n.stop()
    replies = [p for p in slack.posted("/api/chat.postMessage") if "thread_ts" in p]
    assert [r["metadata"]["event_payload"]["id"] for r in replies] == [e.id for e in events]


def test_a_restart_keeps_the_thread_and_sends_no_duplicate(slack: FakeSlack) -> None:
    """A new notifier (a restarted controller) finds the thread in the status, skips what
    the thread already has, and replies to the same thread."""
    first = notifier(slack)
    obj = rollout(BOT)
    started, promoted = effect(1, "started", "go", weight=5), effect(2, "step-promoted", "25%")
    deliver_all(first, obj, [started, promoted])
    thread = first.thread(obj)
    first.stop()
    again = notifier(slack)  # the outbox still held "promoted": the crash came before clearing
    restarted = rollout(BOT, thread=thread)
    deliver_all(again, restarted, [promoted, effect(3, "succeeded", "done", weight=100)])
    again.stop()
    replies = [p for p in slack.posted("/api/chat.postMessage") if "thread_ts" in p]
    assert [r["metadata"]["event_payload"]["id"] for r in replies] == [
        "r1.1.started",
        "r1.2.step-promoted",
        "r1.3.succeeded",
    ]
    assert {r["thread_ts"] for r in replies} == {thread}
    assert len(slack.posted("/api/chat.postMessage")) == 4  # one head only


def test_the_token_never_reaches_logs_events_or_status(slack: FakeSlack) -> None:
    """A whole rollout with a secret token and a failing then healthy Slack: the token
    appears in no log line, Event or status."""
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

    output = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=output),
    )
    try:
        slack.force("/api/chat.postMessage", (500, {}), (500, {}), (500, {}), (500, {}))
        cluster = FakeCluster()
        cluster.put("VirtualService", seed_vs())
        cluster.put("DestinationRule", destination_rule())
        spec = {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "notifications": BOT,
        }
        cluster.put("Rollout", {"metadata": {"name": "inventory"}, "spec": spec})
        events = FakeEvents(cluster)
        n = notifier(slack, delays=(0.1,))
        now = [T0]
        reconciler = Reconciler(
            FakeRollouts(cluster),
            FakeMesh(cluster),
            FakeWorkloads(),
            events,
            n,
            FakeFence(),
            lambda: now[0],
        )
        reconciler.reconcile("shop", "inventory")
        reconciler.reconcile("shop", "inventory")  # the watch on the mesh: the step's clock
        for _ in range(4):
            now[0] += timedelta(minutes=2)
            started = cluster.get("Rollout", "inventory")["status"]["stepStartedAt"]
            healthy = evaluation("pass", now[0], datetime.fromisoformat(started))
            reconciler.reconcile("shop", "inventory", healthy)
            reconciler.reconcile("shop", "inventory")
        deadline = time.monotonic() + 20
        while cluster.get("Rollout", "inventory")["status"]["outbox"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
            reconciler.reconcile("shop", "inventory")
        n.stop()
    finally:
        structlog.reset_defaults()
    final = cluster.get("Rollout", "inventory")
    assert final["status"]["phase"] == "Succeeded"
    assert final["status"]["slackThreadTs"]
    assert "notification delayed" in output.getvalue()
    for place in (output.getvalue(), str(final), str(events.recorded), str(cluster.writes)):
        assert TOKEN not in place
    assert len([p for p in slack.posted("/api/chat.postMessage") if "thread_ts" in p]) == 5
