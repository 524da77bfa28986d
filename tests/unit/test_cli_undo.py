"""``rollout undo`` (issue #17) against an in-memory API server whose "controller" answers
the command; and what ``rollout status`` says after a release (countdown, what undo does)."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.cli.view import history_table
from rollout.engine.after import after_lines
from rollout.model import RolloutStatus, parse_status
from tests.unit.cli_fakes import ROLLOUTS, FakeKube, run, shop

Doc = dict[str, Any]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PATH = f"{ROLLOUTS}/inventory"


def rollout(phase: str, **status: Any) -> Doc:
    return {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "inventory", "namespace": "shop", "resourceVersion": "1"},
        "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
        "status": {"phase": phase, "stableSubset": "v1", "canarySubset": "v2", **status},
    }


class Answering(FakeKube):
    """A fake API server whose controller answers an undo at once with ``answer(status)``."""

    def __init__(self, objects: dict[str, Doc], answer: Callable[[Doc, Doc], Doc]) -> None:
        super().__init__(objects)
        self.answer = answer

    def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        result = super().request(method, path, *args, **kwargs)
        if method == "PATCH" and path == PATH:
            doc = self.objects[PATH]
            command = doc["spec"]["command"]
            doc["status"] = self.answer(copy.deepcopy(doc["status"]), command)
        return result


def undone(status: Doc, command: Doc) -> Doc:
    by = command["by"]
    return {
        **status,
        "phase": "Undone",
        "handledCommandId": command["id"],
        "message": f"undone by {by}: v1 serves 100% again, v2 0%",
    }


def refused(status: Doc, command: Doc) -> Doc:
    return {**status, "handledCommandId": command["id"], "message": "undo refused: no Deployment"}


def test_undo_writes_the_command_and_reports_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command names who asked "via CLI"; the controller's answer is printed, exit 0."""
    # rollout.cli.undo the attribute is the command; the module is in sys.modules
    monkeypatch.setattr(importlib.import_module("rollout.cli.undo"), "who", lambda ctx: "alice")
    kube = Answering(shop(rollout("Succeeded")), undone)
    result = run(kube, monkeypatch, "undo", "inventory")
    assert result.exit_code == 0, result.output
    command = kube.objects[PATH]["spec"]["command"]
    assert (command["name"], command["by"]) == ("undo", "alice via CLI")
    assert "to" not in command
    assert "undone by alice via CLI" in result.output


def test_undo_to_a_version_and_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """--to is written; the controller's refusal is printed and the exit code is 1."""
    kube = Answering(shop(rollout("Succeeded")), refused)
    result = run(kube, monkeypatch, "undo", "inventory", "--to", "v0")
    assert result.exit_code == 1, result.output
    assert kube.objects[PATH]["spec"]["command"]["to"] == "v0"
    assert "undo refused: no Deployment" in result.output


@pytest.mark.parametrize("phase", ["Progressing", "Paused", "RolledBack", "Undone"])
def test_undo_of_a_release_that_did_not_succeed_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    """Only a succeeded release can be undone: exit 2 before any write."""
    kube = Answering(shop(rollout(phase)), undone)
    result = run(kube, monkeypatch, "undo", "inventory")
    assert result.exit_code == 2, result.output
    assert "succeeded release" in result.output
    assert not [call for call in kube.calls if call[0] == "PATCH"]


def test_a_bad_timeout_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout takes a duration; nothing is requested otherwise."""
    kube = Answering(shop(rollout("Succeeded")), undone)
    result = run(kube, monkeypatch, "undo", "inventory", "--timeout", "soon")
    assert result.exit_code == 2
    assert kube.calls == []


def status(**fields: Any) -> RolloutStatus:
    return parse_status(
        {"phase": "Succeeded", "stableSubset": "v1", "canarySubset": "v2", **fields}
    )


def test_status_shows_the_countdown_and_what_undo_would_do() -> None:
    """Inside the window: when v1 goes and that undo is at once; after: what comes back."""
    waiting = status(previous={"subset": "v1", "scaleDownAt": NOW + timedelta(minutes=7)})
    assert after_lines(waiting, NOW) == [
        "v1 scaled down in 7m00s (12:07:00Z)",
        "rollout undo: 100% back to v1 at once",
    ]
    never = status(previous={"subset": "v1"})
    assert after_lines(never, NOW)[0] == "v1 kept (scaleDown: never)"
    gone = status(
        previous={
            "subset": "v1",
            "scaledDown": True,
            "deployments": [{"name": "inventory-v1", "replicas": 3}],
        }
    )
    assert after_lines(gone, NOW) == [
        "v1 scaled down (was: inventory-v1 3)",
        "rollout undo: scale v1 back, wait until ready, then 100% to it",
    ]
    assert after_lines(status(phase="Progressing"), NOW) == []


def test_history_shows_the_undo() -> None:
    """The undo is a decision like the others, with who asked."""
    entry = {"at": NOW, "run": 1, "canaryWeight": 0, "decision": "undone", "reason": "undone by x"}
    table = history_table({"status": {"phase": "Undone", "history": [entry]}})
    cells = [str(c) for column in table.columns for c in column._cells]
    assert "undone" in cells
    assert "undone by x" in cells


def test_start_waits_for_an_undo_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new start while the previous version is being scaled back is refused, saying why."""
    kube = Answering(shop(rollout("Undoing")), undone)
    result = run(kube, monkeypatch, "start", "inventory", "v3")
    assert result.exit_code == 2, result.output
    assert "wait until it is Undone" in result.output
