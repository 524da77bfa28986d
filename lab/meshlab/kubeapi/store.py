"""The emulator's storage: objects, resourceVersions, write semantics and watch history.

This is where the emulator is faithful to the API server where the controller's
correctness depends on it:

* one global, monotonically increasing ``resourceVersion``; a write whose body
  carries a stale one is answered 409 Conflict; a write that changes nothing
  bumps nothing and tells no watcher (as etcd-backed servers do);
* ``metadata.generation`` counts changes outside metadata and status;
* merge patch (RFC 7386: lists replaced), JSON patch (RFC 6902, a failed
  ``test`` is 422), and the status subresource (status writes ignore the rest,
  other writes ignore status);
* custom resources are pruned, defaulted and validated from their CRD schema;
* a bounded history of changes lets a watch resume from a resourceVersion, and
  answers 410 Gone when the version is older than what is kept.

Used by ``meshlab.kubeapi.server``; tests may also call it directly.
"""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonpatch

from meshlab.kubeapi.registry import ResourceType
from meshlab.kubeapi.validation import SchemaChecker

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource type key, namespace, name)
Manage = Callable[[Obj | None, Obj], Obj]  # (old, new) -> new with managedFields


class ApiError(Exception):
    """An answer other than success, rendered as a Kubernetes ``Status``."""

    def __init__(
        self, code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes or []

    def status(self) -> Obj:
        details: Obj = {"causes": self.causes} if self.causes else {}
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": details,
            "code": self.code,
        }


@dataclass(frozen=True)
class Change:
    """One entry of the watch history."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    namespace: str
    obj: Obj
    old: Obj | None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    """All objects of all resource types, guarded by one lock (the 'etcd' of the emulator)."""

    def __init__(self, history_limit: int = 2000) -> None:
        self.changed = threading.Condition()
        self._rv = 0
        self._objects: dict[Key, Obj] = {}
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._checkers: dict[str, SchemaChecker] = {}

    # -- reads ---------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, t: ResourceType, namespace: str, name: str) -> Obj:
        with self.changed:
            obj = self._objects.get((t.key, namespace, name))
            if obj is None:
                raise _not_found(t, name)
            return copy.deepcopy(obj)

    def list(
        self, t: ResourceType, namespace: str | None, match: Callable[[Obj], bool]
    ) -> tuple[builtins.list[Obj], int]:
        with self.changed:
            items = [
                copy.deepcopy(obj)
                for (key, ns, _), obj in sorted(self._objects.items())
                if key == t.key and (namespace is None or ns == namespace) and match(obj)
            ]
            return items, self._rv

    def changes_since(
        self, t: ResourceType, namespace: str | None, rv: int
    ) -> builtins.list[Change]:
        """Changes after ``rv``; 410 Gone when the history no longer reaches back to it."""
        oldest = self._history[0].rv if self._history else self._rv + 1
        if rv < oldest - 1 and rv < self._rv:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({oldest - 1})")
        # The history is in resourceVersion order: walk back from the newest change and
        # stop at ``rv``, so a watch's wakeup costs what is new, not the whole history.
        newer = []
        for c in reversed(self._history):
            if c.rv <= rv:
                break
            if c.resource == t.key and (namespace is None or c.namespace == namespace):
                newer.append(c)
        newer.reverse()
        return newer

    # -- writes --------------------------------------------------------------
    def create(
        self,
        t: ResourceType,
        namespace: str,
        body: Obj,
        manage: Manage | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Store a new object; ``manage`` records who set what (managedFields), ``dry_run``
        answers as if stored, stores nothing."""
        meta = dict(body.get("metadata") or {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        name = meta.get("name")
        if not name:
            raise ApiError(
                422,
                "Invalid",
                "metadata.name: Required value",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "metadata.name",
                    }
                ],
            )
        if t.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the object does not match the namespace on the request",
                )
            meta["namespace"] = namespace
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        meta.pop("resourceVersion", None)
        if t.generation_tracked():
            meta["generation"] = 1
        obj = {**body, "metadata": meta}
        if t.status_subresource:
            obj.pop("status", None)
        with self.changed:
            key = (t.key, namespace if t.namespaced else "", name)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f'{t.key} "{name}" already exists')
            admitted = self._admit(t, obj)
            if manage is not None:
                admitted = manage(None, admitted)
            return self._commit(t, key, admitted, None, dry_run)

    def update(
        self,
        t: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        subresource: str | None = None,
        require_rv: bool = False,
        manage: Manage | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Apply ``change`` (a replace or a patch) to the current object, with preconditions."""
        with self.changed:
            key = (t.key, namespace if t.namespaced else "", name)
            current = self._objects.get(key)
            if current is None:
                raise _not_found(t, name)
            candidate = change(copy.deepcopy(current))
            meta = candidate.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or "")
            if require_rv and not rv:
                raise ApiError(
                    422,
                    "Invalid",
                    "metadata.resourceVersion: Invalid value: 0: must be specified for an update",
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "field": "metadata.resourceVersion",
                            "message": "must be specified",
                        }
                    ],
                )
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {t.key} "{name}": '
                    "the object has been modified; please apply your changes to the "
                    "latest version and try again",
                )
            candidate = self._admit(t, self._restrict(t, current, candidate, subresource))
            if manage is not None:
                candidate = manage(current, candidate)
            return self._commit(t, key, candidate, current, dry_run)

    def delete(self, t: ResourceType, namespace: str, name: str, dry_run: bool = False) -> Obj:
        with self.changed:
            key = (t.key, namespace if t.namespaced else "", name)
            current = self._objects.get(key)
            if current is None:
                raise _not_found(t, name)
            if dry_run:
                return copy.deepcopy(current)
            del self._objects[key]
            self._rv += 1
            gone = copy.deepcopy(current)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._record(Change(self._rv, "DELETED", t.key, key[1], gone, current))
            return copy.deepcopy(gone)

    # -- internals -----------------------------------------------------------
    def _restrict(self, t: ResourceType, current: Obj, candidate: Obj, sub: str | None) -> Obj:
        """Keep what the endpoint may not change: identity, and spec or status per subresource."""
        fixed = ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion")
        meta = {k: v for k, v in (candidate.get("metadata") or {}).items() if k not in fixed}
        meta.update({k: current["metadata"][k] for k in fixed if k in current["metadata"]})
        if sub == "status":
            out = {**copy.deepcopy(current), "status": candidate.get("status")}
            if out["status"] is None:
                out.pop("status")
            return out
        out = {**candidate, "metadata": meta}
        if t.status_subresource:
            out.pop("status", None)
            if "status" in current:
                out["status"] = copy.deepcopy(current["status"])
        return out

    def _admit(self, t: ResourceType, obj: Obj) -> Obj:
        if t.schema is None:
            return obj
        checker = self._checkers.get(t.key)
        if checker is None:
            checker = self._checkers[t.key] = SchemaChecker(t.schema)
        admitted, causes = checker.admit(obj)
        if causes:
            name = (obj.get("metadata") or {}).get("name", "")
            summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
            raise ApiError(422, "Invalid", f'{t.kind} "{name}" is invalid: {summary}', causes)
        return admitted

    def _commit(
        self, t: ResourceType, key: Key, obj: Obj, old: Obj | None, dry_run: bool = False
    ) -> Obj:
        if (
            old is not None
            and _without(obj, "metadata") == _without(old, "metadata")
            and (obj["metadata"] == old["metadata"])
        ):
            return copy.deepcopy(old)  # a no-op write: nothing bumps, nobody is told
        spec_changed = old is not None and _without(obj, "metadata", "status") != _without(
            old, "metadata", "status"
        )
        if old is not None and spec_changed and t.generation_tracked():
            obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if dry_run:  # validated and defaulted like a write, and forgotten
            return copy.deepcopy(obj)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._record(
            Change(self._rv, "MODIFIED" if old else "ADDED", t.key, key[1], copy.deepcopy(obj), old)
        )
        return copy.deepcopy(obj)

    def _record(self, change: Change) -> None:
        self._history.append(change)
        self.changed.notify_all()


def json_patch(obj: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 through the ``jsonpatch`` library; a failed op is a 422 like the API server's."""
    try:
        result: Obj = jsonpatch.apply_patch(obj, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise ApiError(422, "Invalid", f"the server rejected our request: {error}") from error
    return result


def _not_found(t: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{t.key} "{name}" not found')
