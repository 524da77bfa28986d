"""Text from a spec is escaped for Slack's mrkdwn: it can neither mention @channel,
@here or a user nor disguise a link, wherever in a message it lands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.model import MetricVerdict, PendingEffect, Verdict
from rollout.notify.messages import (
    Release,
    esc,
    event_blocks,
    event_text,
    headline,
    link,
    parent_blocks,
    webhook_payload,
)

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
ATTACKS = ["<!channel>", "<!here>", "<@U123>", "<http://evil|click>", "<!subteam^S1>"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here>", "&lt;!here&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<http://evil|click>", "&lt;http://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),  # pre-escaped text stays text
        ("inventory-service", "inventory-service"),
    ],
)
def test_esc_escapes_what_slack_asks(text: str, shown: str) -> None:
    """&, < and > become entities (Slack's 'Escaping text'); nothing else changes."""
    assert esc(text) == shown


@pytest.mark.parametrize(
    ("url", "name", "shown"),
    [
        ("https://grafana.example/d/x", "Grafana", "<https://grafana.example/d/x|Grafana>"),
        ("https://g.example/?a=1&b=2", "G", "<https://g.example/?a=1&amp;b=2|G>"),
        ("https://ok.example/|<!channel>", "Docs", "<https://ok.example/%7C%3C!channel%3E|Docs>"),
        ("https://ok.example/>x", "D", "<https://ok.example/%3Ex|D>"),
        ("https://ok.example/", "<!here>", "<https://ok.example/|&lt;!here&gt;>"),
        (
            "https://ok.example/",
            "<http://evil|click>",
            "<https://ok.example/|&lt;http://evil|click&gt;>",
        ),
    ],
)
def test_a_link_cannot_end_early_or_carry_markup(url: str, name: str, shown: str) -> None:
    """The URL cannot close the link or start its text; the name is plain text."""
    assert link(url, name) == shown


def release(word: str) -> Release:
    return Release(
        namespace="team-a",
        name=f"inventory{word}",
        service=f"inventory-service{word}",
        stable=f"v1{word}",
        canary=f"v2{word}",
        plan=[5, 25, 50, 100],
        phase="RolledBack",
        canary_weight=0,
        step_index=1,
        started_at=T0,
        finished_at=T0,
        links={f"Grafana{word}": f"https://grafana.example/d/x{word}"},
        uid="u-1",
    )


def pending(word: str) -> PendingEffect:
    metric = MetricVerdict(
        name=f"custom{word}", value=0.5, threshold=0.1, samples=400, outcome="fail"
    )
    return PendingEffect(
        id="r1.3.rolled-back",
        kind="notify",
        run=1,
        decision=3,
        event="rolled-back",
        message=f"regression: custom{word} 0.5 > 0.1",
        verdict=Verdict(outcome="fail", at=T0, canary_requests=400, metrics=[metric]),
        outlier_detection={"consecutive5xxErrors": f"1{word}"},
    )


def mrkdwn(node: Any) -> list[str]:
    """Every text Slack reads as mrkdwn: mrkdwn objects and the top-level fallbacks."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn(item)]
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for v in node.values() for t in mrkdwn(v)]
    return []


@pytest.mark.parametrize("word", ATTACKS)
def test_spec_text_in_every_message_is_inert(word: str) -> None:
    """Names, subsets, messages, metric names, settings and links carrying a mention or
    a disguised link reach Slack escaped: no raw '<!', '<@' or '<http://evil'."""
    r, e = release(word), pending(word)
    texts = [headline(r), event_text(r, e), *mrkdwn(parent_blocks(r)), *mrkdwn(event_blocks(r, e))]
    assert len(texts) > 5
    for text in texts:
        for bad in ("<!", "<@", "<http://evil"):
            assert bad not in text, text
    assert esc(word) in event_text(r, e)
    assert any(f"custom{esc(word)}" in t for t in mrkdwn(event_blocks(r, e)))


def test_the_generic_webhook_keeps_the_text_as_it_is() -> None:
    """JSON is not mrkdwn: the webhook gets the raw values, and a cluster-unique id."""
    r, e = release("<!channel>"), pending("<!channel>")
    payload = webhook_payload(r, e)
    assert payload["rollout"]["service"] == "inventory-service<!channel>"
    assert payload["id"] == "team-a/inventory<!channel>/u-1/r1.3.rolled-back"
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize("who", ["alice via CLI", "<!channel> via CLI"])
def test_an_undo_says_who_in_the_thread(who: str) -> None:
    """The undo is a reply in the release's thread naming who asked, escaped like the rest."""
    effect = PendingEffect(
        id="r1.7.undone",
        kind="notify",
        run=1,
        decision=7,
        event="undone",
        message=f"undone by {who}: v1 serves 100% again, v2 0%",
    )
    text = event_text(release(""), effect)
    assert text.startswith(":leftwards_arrow_with_hook: ")
    assert f"undone by {esc(who)}" in text
    assert "<!" not in text
