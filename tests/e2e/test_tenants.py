"""Two teams share one controller: tenant A tries every attack of issue #13 from its own
namespace; tenant B's releases go on as if A were not there.

The real controller (a subprocess), the real Prometheus, Istio-shaped traffic for both
namespaces, and a receiver posing as Slack. Tenant A may create Rollouts in ``team-a``
only. Its Rollouts carry huge durations, an injected custom check, a slow check, a check
that selects every series in Prometheus, a link named ``<!channel>``, a bot token where
a webhook URL belongs, and the other team's Slack channel. Tenant B's release is
promoted on time, its next one rolled back on its own regression, and its Slack thread
gets every event once; the controller never restarts and no token is ever shown.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any

import pytest

from meshlab.seed import NS
from tests.e2e.harness import Stack
from tests.fakeslack import FakeSlack

A, B = "team-a", NS
ORG_TOKEN = "xoxb-org-SECRET-7f3a"
MISPLACED_TOKEN = "xoxb-team-a-SECRET-91c2"
CONTROL = "meshrollout"  # the controller's own namespace, where the Secret lives
POLICY = {
    "*": {"slackChannels": [], "slackKeys": ["{namespace}"], "webhookKeys": ["{namespace}"]},
    B: {"slackChannels": ["#shop-releases"], "slackKeys": ["slack/bot-token"]},
    A: {"slackChannels": ["#team-a"], "slackKeys": ["slack/bot-token", "slack/team-a"]},
}
QUICK: dict[str, Any] = {
    "strategy": {"steps": [50, 100], "stepDuration": "2s"},
    "analysis": {"interval": "1s", "minRequests": 10, "maxInconclusive": 30},
}


def bot(channel: str, **extra: Any) -> dict[str, Any]:
    slack = {"mode": "bot", "channel": channel, "secretRef": {"name": "slack", "key": "bot-token"}}
    return {"slack": slack, **extra}


def spec(**changes: Any) -> dict[str, Any]:
    base = {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2", **QUICK}
    return {**base, **changes}


ATTACKS: dict[str, dict[str, Any]] = {
    # One tenant once stopped every rollout of the cluster with this (OverflowError).
    "a-huge": spec(
        analysis={"interval": "100000000h"}, strategy={"stepDuration": "99999999999999h"}
    ),
    # Closes the parentheses and fakes tenant B's check.
    "a-inject": spec(
        analysis={
            **QUICK["analysis"],
            "customChecks": [
                {
                    "name": "steal",
                    "query": 'vector(1)) or label_replace(vector(3), "meshrollout_key", '
                    '"shop/inventory", "", "") or (vector(1)',
                    "max": 10,
                }
            ],
        }
    ),
    # Valid, on A's own service: a slow check, a check over every series, a link meant to
    # ping the whole channel; each may only hurt A.
    "a-main": spec(
        analysis={
            **QUICK["analysis"],
            "customChecks": [
                {
                    "name": "slow",
                    "query": "sum(count_over_time(istio_requests_total[1h:10ms]))",
                    "max": 1e12,
                },
                {"name": "everything", "query": '{__name__=~".+"}', "max": 1e12},
            ],
        },
        notifications=bot("#team-a", links={"<!channel> look": "https://grafana.example/d/x"}),
    ),
    # Posts in B's channel with the organisation's bot.
    "a-hijack": spec(service="ghost-service", notifications=bot("#shop-releases")),
    # A bot token where an incoming-webhook URL belongs: the old notify thread died on it
    # and printed the token.
    "a-token": spec(
        service="ghost-service",
        notifications={
            "slack": {"mode": "webhook", "secretRef": {"name": "slack", "key": "team-a"}}
        },
    ),
}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def _create(stack: Stack, group: str, version: str, plural: str, ns: str, body: Any) -> None:
    found = stack.api.registry.find(group, version, plural)
    assert found is not None
    stack.api.store.create(found, ns, body)


def _healthz(stack: Stack) -> int:
    url = f"http://127.0.0.1:{stack.metrics_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return int(answer.status)


def _metric(stack: Stack, name: str) -> float:
    url = f"http://127.0.0.1:{stack.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def _verdict_gaps(stack: Stack, namespace: str, name: str) -> list[float]:
    """Seconds between one Rollout's successive verdicts, read from the status writes in
    the emulator's audit log (each verdict carries the time it was made)."""
    times: list[float] = []
    for entry in stack.api.audit.entries():
        if not (entry.resource.startswith("rollouts.") and entry.subresource == "status"):
            continue
        if (entry.namespace, entry.name) != (namespace, name) or entry.code >= 300:
            continue
        verdict = ((entry.body or {}).get("status") or {}).get("lastVerdict") or {}
        if verdict.get("at"):
            at = datetime.fromisoformat(str(verdict["at"]).replace("Z", "+00:00")).timestamp()
            if not times or at > times[-1]:
                times.append(at)
    return [b - a for a, b in pairwise(times)]


def _thread_events(slack: FakeSlack, channel: str) -> list[str]:
    """The event ids replied in the threads of ``channel``'s head messages."""
    posts = slack.posted("/api/chat.postMessage")
    return [
        str(p["metadata"]["event_payload"]["id"])
        for p in posts
        if "thread_ts" in p and p.get("channel") == channel
    ]


def test_one_tenant_cannot_hurt_another(stack: Stack, slack: FakeSlack) -> None:
    """Tenant A's attacks stay in team-a: B is promoted on time, rolled back on its own
    regression, notified once per event; the controller never restarts; no token shows."""
    stack.add_tenant(A)
    secret = {
        "metadata": {"name": "slack"},
        "data": {
            "bot-token": base64.b64encode(ORG_TOKEN.encode()).decode(),
            "team-a": base64.b64encode(MISPLACED_TOKEN.encode()).decode(),
        },
    }
    _create(stack, "", "v1", "secrets", CONTROL, secret)
    proc = stack.start_controller(
        slack_base_url=slack.api_url,
        secrets_namespace=CONTROL,
        notifications_policy=json.dumps(POLICY),
    )
    stack.traffic.set_health("v2")
    stack.tenants[A].set_health("v2")

    refused_at_the_door = []
    for name, body in ATTACKS.items():
        try:
            _create(
                stack,
                "meshrollout.dev",
                "v1alpha1",
                "rollouts",
                A,
                {"metadata": {"name": name}, "spec": body},
            )
        except Exception as error:  # the API server's schema may refuse it already
            refused_at_the_door.append((name, str(error)))
    started = time.monotonic()
    _create(
        stack,
        "meshrollout.dev",
        "v1alpha1",
        "rollouts",
        B,
        {
            "metadata": {"name": "inventory"},
            "spec": spec(notifications=bot("#shop-releases")),
        },
    )

    # B's release: two 2 s steps, judged every second; promoted as if alone. How long the
    # judge needs its evidence depends on the machine's load (CI runs three test files at
    # once); what A could steal is B's evaluations, so their cadence is what is asserted.
    stack.wait_for(lambda: stack.phase() == "Succeeded", timeout=120, what="B promoted")
    took = time.monotonic() - started
    gaps = _verdict_gaps(stack, B, "inventory")
    assert len(gaps) >= 3, f"B was judged {len(gaps) + 1} times in {took:.1f}s"
    assert median(gaps) < 2.5, f"B's evaluations were late: {gaps}"
    assert max(gaps) < 6, f"B waited for an evaluation: {gaps}"

    # B's next release regresses: rolled back on its own evidence.
    stack.traffic.set_health("v3", error_rate=0.5)
    rollouts = stack.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert rollouts is not None
    stack.api.store.update(
        rollouts,
        B,
        "inventory",
        lambda r: {**r, "spec": {**r["spec"], "stableSubset": "v2", "canarySubset": "v3"}},
    )
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=60, what="B rolled back")
    stack.wait_for(lambda: not stack.status().get("outbox"), timeout=30, what="B delivered")

    # Every event of B's two runs, once, in B's channel only.
    ids = _thread_events(slack, "#shop-releases")
    assert len(ids) == len(set(ids)), f"duplicates: {ids}"
    events = [(i.split(".")[0], i.split(".")[-1]) for i in ids]  # r<run>.<decision>.<event>
    assert events == [
        ("r1", "started"),
        ("r1", "step-promoted"),
        ("r1", "succeeded"),
        ("r2", "started"),
        ("r2", "rolled-back"),
    ], events

    # A's attacks: each refused or contained, each said on A's own Rollout.
    def a_status(name: str) -> dict[str, Any]:
        return stack.status(name, A)

    door = dict(refused_at_the_door)
    for name, field in (
        ("a-huge", "spec.analysis.interval"),
        ("a-inject", "spec.analysis.customChecks[0].query"),
    ):
        if name not in door:
            stack.wait_for(
                lambda n=name: a_status(n).get("phase") == "Failed",
                timeout=30,
                what=f"{name} refused",
            )
            assert field in a_status(name)["message"]
    stack.wait_for(
        lambda: a_status("a-hijack").get("notificationProblem"),
        timeout=30,
        what="the hijack refused",
    )
    assert (
        "#shop-releases is not allowed for namespace team-a"
        in a_status("a-hijack")["notificationProblem"]
    )
    stack.wait_for(
        lambda: a_status("a-token").get("notificationProblem"),
        timeout=30,
        what="the misplaced token refused",
    )
    assert MISPLACED_TOKEN not in json.dumps(a_status("a-token"))
    main = a_status("a-main")
    assert main.get("phase") in ("Progressing", "Paused", "Succeeded"), main
    team_a = [p for p in slack.posted("/api/chat.postMessage") if p.get("channel") == "#team-a"]
    assert team_a, "A's own channel gets A's own events"
    raw = json.dumps(team_a)
    assert "<!channel>" not in raw
    assert "&lt;!channel&gt;" in raw
    assert not [
        p
        for p in slack.posted("/api/chat.postMessage")
        if p.get("channel") == "#shop-releases" and "/team-a/" in json.dumps(p)
    ]

    # One controller process throughout, healthy, no loop restarted, no secret anywhere.
    assert proc.poll() is None, "the controller exited"
    assert _healthz(stack) == 200
    assert _metric(stack, "meshrollout_thread_restarts_total") == 0
    logs = "".join(p.read_text() for p in stack.workdir.glob("controller-*.log"))
    for token in (ORG_TOKEN, MISPLACED_TOKEN):
        assert token not in logs
        for ns, name in [(B, "inventory"), *((A, n) for n in ATTACKS)]:
            assert token not in json.dumps(stack.rollout(name, ns))
