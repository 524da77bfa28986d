"""The reconcile's memos: parsed once per change, never served stale (controller/memo.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.actions import SetWeights
from rollout.controller import memo as memo_module
from rollout.controller.memo import ParsedRollouts, RoutingChecks
from rollout.mesh import MeshError, Target
from rollout.mesh.istio import Routing
from rollout.model import RolloutStatus, SpecError
from tests.unit.istio import HOST, destination_rule, seed_vs

TARGET = Target(HOST, "v1", "v2", namespace="shop")
SPEC: dict[str, Any] = {"service": "inventory", "stableSubset": "v1", "canarySubset": "v2"}


def rollout(rv: str | None = "10", uid: str = "u1", **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "inventory", "namespace": "shop", "uid": uid}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"metadata": meta, "spec": copy.deepcopy(SPEC), "status": status}


def routing(vs_rv: str = "7", dr_rv: str | None = "8") -> Routing:
    vs, dr = seed_vs(), destination_rule()
    vs["metadata"]["resourceVersion"] = vs_rv
    if dr_rv is not None:
        dr["metadata"]["resourceVersion"] = dr_rv
    return Routing((vs,), dr)


def test_a_status_is_parsed_once_per_resource_version() -> None:
    """The same version gives the very same parsed status; a new version is parsed again."""
    parsed = ParsedRollouts()
    first = parsed.status(rollout(phase="Progressing"))
    assert parsed.status(rollout(phase="Progressing")) is first
    newer = parsed.status(rollout(rv="11", phase="Succeeded"))
    assert newer is not first
    assert newer.phase == "Succeeded"


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (rollout(rv="10", uid="u2", phase="Succeeded"), "recreated under the same name"),
        (rollout(rv=None, phase="Succeeded"), "no resourceVersion: nothing is remembered"),
    ],
)
def test_a_status_is_read_afresh_when_the_version_does_not_say_it_is_the_same(
    other: dict[str, Any], why: str
) -> None:
    """Only namespace, name, uid and resourceVersion together name a status."""
    parsed = ParsedRollouts()
    parsed.status(rollout(phase="Progressing"))
    assert parsed.status(other).phase == "Succeeded", why


def test_what_was_written_is_what_the_next_read_gets_without_parsing() -> None:
    """A write's answer seeds the memo: the echo of our own write is not parsed again
    (here its status would not even parse: the memo must have answered)."""
    parsed = ParsedRollouts()
    mine = RolloutStatus(phase="Progressing", canary_weight=25)
    parsed.wrote(rollout(rv="12"), mine)
    assert parsed.status(rollout(rv="12", phase=["not", "a", "phase"])) is mine
    with pytest.raises(SpecError):
        parsed.status(rollout(rv="13", phase=["not", "a", "phase"]))


def test_a_spec_is_parsed_again_only_when_it_changes() -> None:
    """Equal specs give the same parsed spec, even edited in place after the parse;
    a changed one is parsed anew, and an invalid one raises every time."""
    parsed = ParsedRollouts()
    obj = rollout()
    first = parsed.spec(obj)
    assert parsed.spec(rollout(rv="11")) is first
    obj["spec"]["canarySubset"] = "v3"  # in place: the memo kept its own copy
    assert parsed.spec(obj).canary_subset == "v3"
    bad = rollout()
    bad["spec"]["canarySubset"] = 7
    for _ in range(2):
        with pytest.raises(SpecError):
            parsed.spec(bad)


def test_the_memos_are_bounded() -> None:
    """Full memos start over rather than grow."""
    parsed = ParsedRollouts(limit=2)
    for i in range(5):
        obj = rollout(rv=str(i))
        obj["metadata"]["name"] = f"r{i}"
        parsed.status(obj)
        parsed.spec(obj)
    assert len(parsed._statuses) <= 2
    assert len(parsed._specs) <= 2


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls the memo makes to the mesh core's ``name``."""
    calls: list[int] = []
    real = getattr(memo_module, name)

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(memo_module, name, counted)
    return calls


def test_routing_is_checked_once_per_version_of_the_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same documents, target and actions: one call; any of them new: another call."""
    calls = counting(monkeypatch, "out_of_sync")
    checks = RoutingChecks()
    at_5, at_25 = [SetWeights(5)], [SetWeights(25)]
    behind = checks.out_of_sync(routing(), TARGET, at_5)
    assert behind == ("inventory-route",)
    assert checks.out_of_sync(routing(), TARGET, at_5) == behind
    assert len(calls) == 1
    checks.out_of_sync(routing(), TARGET, at_25)
    checks.out_of_sync(routing(vs_rv="9"), TARGET, at_5)
    checks.out_of_sync(routing(), Target(HOST, "v1", "v3", namespace="shop"), at_5)
    assert len(calls) == 4


def test_documents_without_a_version_are_checked_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No resourceVersion on one document: nothing names its content, nothing is kept."""
    calls = counting(monkeypatch, "validate_routing")
    checks = RoutingChecks()
    for _ in range(3):
        checks.validate(routing(dr_rv=None), TARGET)
    assert len(calls) == 3


def test_documents_that_cannot_be_moved_are_refused_every_time() -> None:
    """A refusal is not remembered as a pass."""
    checks = RoutingChecks()
    docs = routing()
    docs.destination_rule["spec"]["subsets"] = [{"name": "v1", "labels": {"version": "v1"}}]
    for _ in range(2):
        with pytest.raises(MeshError):
            checks.validate(docs, TARGET)
