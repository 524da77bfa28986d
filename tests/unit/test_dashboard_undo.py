"""The dashboard's Undo (issues #19 and #17): the button only where the engine would carry
the undo out, with a confirmation; the page says what ``rollout status`` says undo would
do; the command route writes the CLI's undo patch, "<user> via dashboard", behind the
same token, Origin and CSRF checks, and refuses an undo the engine would refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from rollout.dashboard.pages import rollout_fragment
from rollout.dashboard.server import Dashboard, Running
from rollout.dashboard.timeline import timeline
from rollout.engine.after import after_lines
from rollout.kube import RolloutClient
from rollout.model import parse_status
from tests.unit.test_dashboard_server import FakeRollouts, call, origin

Doc = dict[str, Any]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UNDO = "/api/rollouts/shop/inventory/undo"


def released(phase: str = "Succeeded", **extra: Any) -> Doc:
    """inventory after v1 → v2: by default succeeded, v1 scaled down in ten minutes."""
    status: Doc = {
        "phase": phase,
        "run": 1,
        "stableSubset": "v1",
        "canarySubset": "v2",
        "canaryWeight": 100,
        "startedAt": (NOW - timedelta(minutes=5)).isoformat(),
        "finishedAt": (NOW - timedelta(minutes=1)).isoformat(),
        "previous": {"subset": "v1", "scaleDownAt": (NOW + timedelta(minutes=10)).isoformat()},
        **extra,
    }
    return {
        "metadata": {"namespace": "shop", "name": "inventory", "uid": "u1"},
        "spec": {"service": "inventory", "stableSubset": "v1", "canarySubset": "v2"},
        "status": status,
    }


def page(doc: Doc) -> str:
    return rollout_fragment(doc, timeline(doc, NOW, []), "/", NOW)


def buttons(html: str) -> dict[str, str | None]:
    """Each button's action and its confirmation question (None: none)."""
    found: dict[str, str | None] = {}
    for tag in re.findall(r"<button [^>]*>", html):
        action = re.findall(r"data-action='(\w+)'", tag)[0]
        question = re.findall(r"data-confirm='([^']*)'", tag)
        found[action] = question[0] if question else None
    return found


def test_undo_is_offered_after_a_succeeded_release_with_a_confirmation() -> None:
    """Succeeded: Undo alone, destructive (it asks first, and says where traffic goes)."""
    html = page(released())
    found = buttons(html)
    assert set(found) == {"undo"}
    assert found["undo"] is not None
    assert "100% of traffic back to v1" in found["undo"]
    assert "class='danger'" in re.findall(r"<button [^>]*>", html)[0]


def test_a_scaled_down_previous_version_is_scaled_back_first() -> None:
    """The confirmation says the previous version comes back up before traffic moves."""
    previous = {
        "subset": "v1",
        "scaledDown": True,
        "deployments": [{"name": "inventory-v1", "replicas": 3}],
    }
    question = buttons(page(released(previous=previous)))["undo"]
    assert question is not None
    assert "scale v1 back up, then send 100%" in question


@pytest.mark.parametrize(
    ("phase", "extra", "shown"),
    [
        ("Progressing", {"canaryWeight": 25}, {"pause", "resume", "promote", "promoteFull"}),
        ("Paused", {"canaryWeight": 25}, {"pause", "resume", "promote", "promoteFull"}),
        ("RolledBack", {"canaryWeight": 0}, set()),
        ("Failed", {}, set()),
        ("Undone", {"undo": {"to": "v1", "undone": "v2", "requestedAt": NOW.isoformat()}}, set()),
        ("Succeeded", {"stableSubset": "v2"}, set()),  # v2 already serves 100%: nowhere to go
    ],
)
def test_no_undo_where_the_engine_would_refuse_it(phase: str, extra: Doc, shown: set[str]) -> None:
    """A running, rolled back, failed or undone rollout, or one with nothing to go back
    to: no Undo button (a running one keeps its own buttons)."""
    found = set(buttons(page(released(phase, **extra))))
    assert "undo" not in found
    assert shown <= found


def test_the_page_says_what_rollout_status_says() -> None:
    """The lines under the summary are ``rollout status``'s own (``after_lines``)."""
    for doc in (
        released(),
        released(previous={"subset": "v1"}),  # scaleDown: never
        released(
            "Undoing",
            undo={
                "to": "v1",
                "undone": "v2",
                "requestedAt": NOW.isoformat(),
                "restore": [{"name": "inventory-v1", "replicas": 2}],
            },
        ),
    ):
        lines = after_lines(parse_status(doc["status"]), NOW)
        assert lines
        html = page(doc)
        shown = re.findall(r"<ul id='after'[^>]*>(.*?)</ul>", html)[0]
        assert re.findall(r"<li>(.*?)</li>", shown) == lines
    assert "rollout undo: 100% back to v1 at once" in page(released())
    assert "id='after'" not in page(released("Progressing"))


@pytest.fixture
def served() -> Iterator[tuple[Running, FakeRollouts]]:
    """A dashboard for ``shop`` run by alice, where inventory's release has succeeded."""
    fake = FakeRollouts()
    fake.docs[("shop", "inventory")] = released()
    board = Dashboard(cast(RolloutClient, fake), None, "shop", token="s3cret", user="alice")
    with Running(board) as running:
        yield running, fake


def test_undo_writes_the_clis_patch_by_the_dashboards_user(
    served: tuple[Running, FakeRollouts],
) -> None:
    """Token, same origin, CSRF header: the undo command as ``rollout undo`` writes it,
    with who asked and how; the page served shows the button."""
    running, fake = served
    status, _, body = call(running, UNDO, "POST", origin(running))
    assert status == 200, body
    assert json.loads(body)["message"] == "rollout inventory: undo requested"
    [(namespace, name, patch)] = fake.patches
    assert (namespace, name) == ("shop", "inventory")
    assert set(patch) == {"command"}
    command = patch["command"]
    assert command["name"] == "undo"
    assert command["by"] == "alice via dashboard"
    assert re.fullmatch(r"[0-9a-f]{12}", command["id"])
    assert "to" not in command
    assert "id='do-undo'" in call(running, "/r/shop/inventory")[2]


def test_undo_behind_the_same_checks(served: tuple[Running, FakeRollouts]) -> None:
    """No token, another origin, no CSRF header: refused and nothing written, as for
    every other button."""
    running, fake = served
    good = origin(running)
    assert call(running, UNDO, "POST", good, token=False)[0] == 403
    assert call(running, UNDO, "POST", {**good, "Origin": "http://evil.example"})[0] == 403
    assert call(running, UNDO, "POST", {"Origin": good["Origin"]})[0] == 403
    assert call(running, UNDO, "POST", {**good, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert running.dashboard.refused == {"token": 1, "origin": 2, "csrf": 1}
    assert fake.patches == []


def test_an_undo_the_engine_would_refuse_is_not_written(
    served: tuple[Running, FakeRollouts],
) -> None:
    """A rollout still progressing (a stale page, a hand-made request): 409 with the
    engine's reason, nothing written."""
    running, fake = served
    fake.docs[("shop", "inventory")] = released("Progressing", canaryWeight=25)
    status, _, body = call(running, UNDO, "POST", origin(running))
    assert status == 409
    assert json.loads(body)["message"] == (
        "undo refused: the rollout is Progressing; undo goes back from a succeeded release"
    )
    assert fake.patches == []
