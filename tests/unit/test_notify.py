"""The notification queue on a fake channel: identity per rollout across the cluster, a
delivery loop that no channel can break, and errors that never carry a secret."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from rollout.actions import NotifyEvent, notify
from rollout.model import EffectId, PendingEffect, parse_status
from rollout.notify import DeliveryError, JsonWebhook, QueueNotifier, SlackBot, SlackWebhook
from rollout.notify.messages import Release, release_of

TOKEN = "xoxb-0000-SECRET-TOKEN"
STORY: list[tuple[int, NotifyEvent]] = [
    (1, "started"),
    (2, "step-promoted"),
    (3, "rolled-back"),
    (4, "started"),
]


def rollout(namespace: str, uid: str, name: str = "inventory", run: int = 1) -> dict[str, Any]:
    """A Rollout as the API returns it, at ``run``."""
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": uid},
        "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
        "status": {"phase": "Progressing", "run": run},
    }


def effect(decision: int, event: NotifyEvent, run: int = 1) -> PendingEffect:
    """A pending notification as the engine makes it."""
    return notify(run, decision, event, event, canary_weight=0, step_index=None)


@dataclass
class FakeChannel:
    """Records what it was given; opens a 'thread' per release; can raise instead."""

    name: str = "fake"
    sent: list[tuple[EffectId, str | None]] = field(default_factory=list)
    raises: Exception | None = None

    def send(self, release: Release, effect: PendingEffect, thread: str | None) -> str | None:
        if self.raises is not None:
            raise self.raises
        self.sent.append((release.key(effect), thread))
        return thread or f"ts-{release.namespace}-{release.uid}-{effect.run}"


def drain(n: QueueNotifier, objs: list[dict[str, Any]], effects: list[PendingEffect]) -> None:
    """Hand every effect of every rollout over until all are delivered (no thread)."""
    for _ in range(50):
        if all(n.notify(o, e) for o in objs for e in effects):
            return
        while n.step(wait=False):
            pass
    raise AssertionError("not delivered")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("team-a", "u-1"), ("team-b", "u-2"), id="two-namespaces"),
        pytest.param(("team-a", "u-1"), ("team-b", "u-1"), id="namespace-alone-differs"),
        pytest.param(("shop", "u-1"), ("shop", "u-2"), id="recreated-same-name"),
    ],
)
def test_two_rollouts_living_the_same_story_each_get_every_notification_once(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    """Same run numbers and decisions in two rollouts: each event reaches the channel once
    per rollout (the old id ``r1.2.rolled-back`` made the second rollout's count as sent)."""
    channel = FakeChannel()
    n = QueueNotifier(lambda obj: [channel], delays=(0.0,))
    objs = [rollout(*a), rollout(*b)]
    effects = [effect(d, e) for d, e in STORY]
    drain(n, objs, effects)
    drain(n, objs, effects)  # handed over again (a re-reconcile): nothing is sent twice
    sent = [key for key, _ in channel.sent]
    assert len(sent) == len(set(sent)) == 2 * len(STORY)
    for obj in objs:
        meta = obj["metadata"]
        mine = [k for k in sent if (k.namespace, k.uid) == (meta["namespace"], meta["uid"])]
        assert [(k.decision, k.event) for k in mine] == STORY


def test_each_rollout_keeps_its_own_slack_thread() -> None:
    """The thread belongs to one run of one rollout, found by the structured id."""
    channel = FakeChannel()
    n = QueueNotifier(lambda obj: [channel], delays=(0.0,))
    a, b = rollout("team-a", "u-1"), rollout("team-b", "u-1")
    drain(n, [a, b], [effect(1, "started"), effect(2, "step-promoted")])
    assert n.thread(a) == "ts-team-a-u-1-1"
    assert n.thread(b) == "ts-team-b-u-1-1"
    replies = {(k.namespace, k.decision): t for k, t in channel.sent}
    assert replies[("team-a", 2)] == "ts-team-a-u-1-1"
    assert replies[("team-b", 2)] == "ts-team-b-u-1-1"
    assert n.thread(rollout("team-a", "u-1", run=2)) is None, "a new run gets a new thread"


def test_the_effect_id_is_structured_and_has_a_stable_text() -> None:
    """namespace, name and uid joined with run, decision and event; str() is stable."""
    key = effect(3, "rolled-back", run=2).key("team-a", "inventory", "u-1")
    assert key == EffectId(
        namespace="team-a", name="inventory", uid="u-1", run=2, decision=3, event="rolled-back"
    )
    assert str(key) == "team-a/inventory/u-1/r2.3.rolled-back"
    assert key.local == "r2.3.rolled-back"
    assert key.release == ("team-a", "inventory", "u-1", 2)
    assert key != effect(3, "rolled-back", run=2).key("team-b", "inventory", "u-1")


@pytest.mark.parametrize(
    ("wire", "run", "decision", "what"),
    [
        ({"id": "r2.5.rolled-back", "kind": "notify", "event": "rolled-back"}, 2, 5, "rolled-back"),
        ({"id": "r1.3.RolledBack", "kind": "event", "reason": "RolledBack"}, 1, 3, "RolledBack"),
        ({"id": "odd", "kind": "event", "reason": "X"}, 0, 0, "X"),
        (
            {"id": "r9.9.x", "kind": "notify", "event": "started", "run": 4, "decision": 7},
            4,
            7,
            "started",
        ),
    ],
)
def test_an_outbox_written_before_structured_ids_still_loads(
    wire: dict[str, Any], run: int, decision: int, what: str
) -> None:
    """Level-triggered across upgrades: an old outbox entry (string id only) is migrated
    once on load; a new one keeps its fields; both survive a write and a read."""
    status = parse_status({"phase": "Progressing", "run": run, "outbox": [wire]})
    (pending,) = status.outbox
    assert (pending.run, pending.decision, pending.what) == (run, decision, what)
    again = parse_status(status.wire())
    assert again.outbox == status.outbox
    assert again.wire()["outbox"][0]["id"] == wire["id"], "older controllers still read it"


@pytest.mark.parametrize(
    "error",
    [
        ValueError(f"unknown url type: '{TOKEN}'"),
        UnicodeEncodeError("latin-1", TOKEN, 0, 1, "ordinal not in range"),
        KeyError(TOKEN),
        RuntimeError(TOKEN),
        DeliveryError("slack: invalid_auth (200)"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("where", ["channel", "config"])
def test_any_error_is_caught_counted_and_logged_without_its_text(
    error: Exception, where: str
) -> None:
    """A channel (or building the channels) raising anything: counted, logged once by its
    type (our own DeliveryError texts in full), the token nowhere, the loop alive."""
    channel = FakeChannel(raises=error)
    errors: list[str] = []

    def channels(obj: dict[str, Any]) -> list[Any]:
        if where == "config":
            raise error
        return [channel]

    n = QueueNotifier(channels, on_error=errors.append, delays=(0.05,))
    obj = rollout("team-a", "u-1")
    with capture_logs() as logs:
        n.start()
        try:
            assert not n.notify(obj, effect(1, "started"))
            deadline = time.monotonic() + 5
            while len(errors) < 3:
                assert time.monotonic() < deadline, "no retries"
                time.sleep(0.01)
            assert n.alive()
        finally:
            n.stop()
    assert set(errors) == {"fake" if where == "channel" else "config"}
    delayed = [entry for entry in logs if entry["event"] == "notification delayed"]
    assert len(delayed) == 1, "logged once per rollout and channel, not per retry"
    assert TOKEN not in str(logs)
    said = str(error) if isinstance(error, DeliveryError) else type(error).__name__
    assert said in delayed[0]["reason"]
    assert TOKEN not in str(n.problem(obj))


def test_the_loop_survives_a_bug_of_its_own_and_says_so() -> None:
    """on_delivered raising (a bug) neither ends the loop nor repeats the delivery."""
    channel = FakeChannel()
    calls: list[str] = []

    def broken(key: Any) -> None:
        calls.append("x")
        raise RuntimeError(TOKEN)

    n = QueueNotifier(lambda obj: [channel], on_delivered=broken, on_error=calls.append)
    obj = rollout("team-a", "u-1")
    with capture_logs() as logs:
        n.start()
        try:
            for decision, event in STORY[:2]:
                n.notify(obj, effect(decision, event))
            deadline = time.monotonic() + 5
            while len(channel.sent) < 2:
                assert time.monotonic() < deadline, "the loop died"
                time.sleep(0.01)
            assert n.alive()
        finally:
            n.stop()
    assert "notifier" in calls
    assert n.last_error == "RuntimeError"
    assert TOKEN not in str(logs)
    assert len(channel.sent) == 2


def test_alive_is_false_once_the_delivery_thread_is_gone() -> None:
    """/healthz can tell: a thread that ended without stop() is not alive."""
    n = QueueNotifier(lambda obj: [])
    assert n.alive(), "not started yet: nothing is wrong"
    ended = threading.Event()
    n.run = ended.set  # type: ignore[method-assign]  # a thread that returns at once
    n.start()
    ended.wait(5)
    assert n._worker is not None
    n._worker.join(5)
    assert not n.alive()
    n.stop()
    assert n.alive(), "stopped on purpose"


def test_one_rollout_cannot_fill_everyones_queue() -> None:
    """A per-rollout bound: a rollout with a stuck channel leaves room for the others."""
    n = QueueNotifier(lambda obj: [], capacity=10, per_rollout=3)
    noisy, quiet = rollout("team-a", "u-1"), rollout("team-b", "u-2")
    for decision in range(1, 20):
        n.notify(noisy, effect(decision, "step-promoted"))
    assert sum(len(q) for q in n._queues.values()) == 3
    n.notify(quiet, effect(1, "started"))
    assert len(n._queues[("team-b", "inventory")]) == 1


@pytest.mark.parametrize(
    "channel",
    [
        SlackWebhook(TOKEN),  # ValueError("unknown url type: 'xoxb-…'") before
        JsonWebhook(TOKEN),  # requests' MissingSchema, the URL in its text
        SlackWebhook(f"http://[{TOKEN}"),  # an unparseable URL
        SlackBot(f"{TOKEN}é", "#releases", "http://127.0.0.1:9/api/"),  # not latin-1
    ],
    ids=["slack-webhook-token", "json-webhook-token", "bad-url", "non-ascii-token"],
)
def test_a_channel_turns_any_error_into_a_delivery_error_without_the_secret(
    channel: Any,
) -> None:
    """Whatever the client library raises leaves the channel as a DeliveryError naming
    its type only, with no chained exception to print the secret either."""
    with pytest.raises(DeliveryError) as caught:
        channel.send(release_of(rollout("team-a", "u-1")), effect(1, "started"), None)
    assert TOKEN not in str(caught.value)
    assert caught.value.__suppress_context__
    assert caught.value.__cause__ is None
