"""What a reconcile already worked out about documents that have not changed since.

A steady rollout is reconciled every evaluation with the same spec, the status it
wrote itself a cycle before, and the same VirtualServices and DestinationRule. Parsing
the spec and the status (pydantic) and checking the routing (the mesh core applies the
actions to copies of the documents) were a fifth of a thousand-rollout cycle, spent
re-deriving what the last reconcile knew. The reconciler (``rollout.controller.reconcile``)
asks these memos instead:

* :class:`ParsedRollouts`: the parsed spec while the spec is equal to the one parsed;
  the parsed status while the object's resourceVersion is the one it was read at or
  written as (the API server gives every change a new resourceVersion, and the status
  we write reads back as itself: ``parse_status(s.wire()) == s``).
* :class:`RoutingChecks`: ``validate_routing`` and ``out_of_sync`` by the documents'
  resourceVersions, the target and the actions.

Both hold at most ``limit`` entries (cleared when full: a cycle rebuilds them) and
keep nothing when an object carries no resourceVersion. Shared by the workers: each
rollout is reconciled by one worker at a time, and a dict's get and set are atomic.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from rollout.actions import MeshAction
from rollout.mesh import Target
from rollout.mesh.istio import Routing
from rollout.mesh.routeset import out_of_sync, validate_routing
from rollout.model import RolloutSpec, RolloutStatus, parse_spec, parse_status

Doc = dict[str, Any]
LIMIT = 20_000


def _meta(obj: Doc) -> Doc:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _version(obj: Doc) -> tuple[tuple[str, str], str] | None:
    """The object's (namespace, name) and its version (uid and resourceVersion); None
    when the server gave it no resourceVersion."""
    meta = _meta(obj)
    rv = meta.get("resourceVersion")
    if not rv:
        return None
    return (str(meta.get("namespace")), str(meta.get("name"))), f"{meta.get('uid')}/{rv}"


class ParsedRollouts:
    """The spec and status of each Rollout, parsed once per change."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._specs: dict[tuple[str, str], tuple[Any, RolloutSpec]] = {}
        self._statuses: dict[tuple[str, str], tuple[str, RolloutStatus]] = {}

    def spec(self, obj: Doc) -> RolloutSpec:
        """``parse_spec(obj["spec"])``; raises :class:`SpecError` as it does."""
        data = obj.get("spec")
        key = (str(_meta(obj).get("namespace")), str(_meta(obj).get("name")))
        known = self._specs.get(key)
        if known is not None and known[0] == data:
            return known[1]
        spec = parse_spec(data)
        if len(self._specs) >= self.limit:
            self._specs.clear()
        # A copy: the memo must not change if someone later edits the dict in place.
        self._specs[key] = (copy.deepcopy(data), spec)
        return spec

    def status(self, obj: Doc) -> RolloutStatus:
        """``parse_status(obj["status"])``; raises :class:`SpecError` as it does."""
        version = _version(obj)
        if version is not None:
            known = self._statuses.get(version[0])
            if known is not None and known[0] == version[1]:
                return known[1]
        status = parse_status(obj.get("status"))
        self.wrote(obj, status)
        return status

    def wrote(self, obj: Doc, status: RolloutStatus) -> None:
        """``obj`` (as the server answered a write of ``status``, or as read) holds ``status``."""
        version = _version(obj)
        if version is None:
            return
        if len(self._statuses) >= self.limit:
            self._statuses.clear()
        self._statuses[version[0]] = (version[1], status)


class RoutingChecks:
    """The mesh core's routing checks, once per version of the documents."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._valid: dict[tuple[Any, ...], bool] = {}
        self._behind: dict[tuple[Any, ...], tuple[str, ...]] = {}

    @staticmethod
    def _versions(routing: Routing) -> tuple[Any, ...] | None:
        docs = (*routing.virtual_services, routing.destination_rule)
        versions = [_version(d) for d in docs]
        return None if None in versions else tuple(versions)

    def validate(self, routing: Routing, target: Target) -> None:
        """``validate_routing``: raises :class:`MeshError` for documents it cannot move."""
        versions = self._versions(routing)
        key = (versions, target)
        if versions is not None and key in self._valid:
            return
        validate_routing(routing, target)
        if versions is not None:
            self._store(self._valid, key, True)

    def out_of_sync(
        self, routing: Routing, target: Target, actions: Sequence[MeshAction]
    ) -> tuple[str, ...]:
        """``out_of_sync``: the documents the actions would still change."""
        versions = self._versions(routing)
        # repr: actions may hold dicts (outlier settings), so they are not hashable.
        key = (versions, target, repr(list(actions)))
        if versions is not None and (known := self._behind.get(key)) is not None:
            return known
        behind = tuple(out_of_sync(routing, target, actions))
        if versions is not None:
            self._store(self._behind, key, behind)
        return behind

    def _store(self, memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
        if len(memo) >= self.limit:
            memo.clear()
        memo[key] = value


__all__ = ["ParsedRollouts", "RoutingChecks"]
