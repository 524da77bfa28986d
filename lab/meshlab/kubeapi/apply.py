"""Server-side apply and ``managedFields``: who owns which field, and conflicts between owners.

Every write records, in ``metadata.managedFields``, the fields its manager set
(``fieldManager``, or the first word of the User-Agent as the API server takes
it): an ``Update`` entry for creates, updates and patches, an ``Apply`` entry
for an ``application/apply-patch+yaml`` patch. An apply:

* sets every field of its configuration; a field it set before and left out now
  is removed, unless another manager also owns it;
* is refused with 409 Conflict, naming the other managers and the fields, when
  it would change a value that another manager owns; with ``force=true`` it
  takes those fields from them (how Flux applies; Argo CD with
  ``ServerSideApply=true``);
* creates the object when there is none.

Simplifications, said in the README: lists are atomic (the whole list is one
field, as in a CRD without ``x-kubernetes-list-type``; built-in kinds' keyed
lists such as ``containers`` are atomic here too), and a field set to the value it
already has is shared by its managers rather than taken.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from meshlab.kubeapi.store import ApiError

Obj = dict[str, Any]
Path = tuple[str, ...]
_META_FIELDS = ("labels", "annotations", "finalizers", "ownerReferences")


def manager_of(query: dict[str, str], user_agent: str) -> str:
    """The field manager of a write: ``fieldManager``, else the User-Agent's first word."""
    return query.get("fieldManager") or user_agent.split("/", 1)[0].strip() or "unknown"


def leaves(obj: Obj, subresource: str | None, status_split: bool) -> dict[Path, Any]:
    """The fields of an object a manager can own, with their values. Lists and scalars
    are leaves; identity and server-set metadata are nobody's."""
    out: dict[Path, Any] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            for key, sub in value.items():
                walk(sub, (*path, key))
        else:
            out[path] = value

    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            for meta in _META_FIELDS:
                if meta in (value or {}):
                    walk(value[meta], ("metadata", meta))
            continue
        if status_split and (key == "status") != (subresource == "status"):
            continue
        walk(value, (key,))
    return out


def to_fields(paths: set[Path]) -> Obj:
    """Paths as FieldsV1 (``{"f:spec": {"f:hosts": {}}}``)."""
    trie: Obj = {}
    for path in sorted(paths):
        node = trie
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return trie


def from_fields(trie: Obj, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in (trie or {}).items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        out |= from_fields(sub, path) if sub else {path}
    return out


def _get(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def _set(obj: Obj, path: Path, value: Any) -> None:
    for part in path[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[path[-1]] = copy.deepcopy(value)


def _remove(obj: Obj, path: Path) -> None:
    parents = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(parents):  # drop maps the removal emptied
        if parent[part] == {}:
            parent.pop(part)


def _entry(
    manager: str, operation: str, api_version: str, sub: str | None, paths: set[Path]
) -> Obj:
    entry: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields(paths),
    }
    if sub:
        entry["subresource"] = sub
    return entry


def _owners(obj: Obj) -> list[tuple[Obj, set[Path]]]:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [(e, from_fields(e.get("fieldsV1") or {})) for e in entries]


def _same(entry: Obj, manager: str, operation: str, sub: str | None) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and (entry.get("subresource") or None) == sub
    )


def _rebuild(
    owners: list[tuple[Obj, set[Path]]], mine: Obj | None, mine_paths: set[Path]
) -> list[Obj]:
    """managedFields from (entry, paths) pairs: unchanged entries keep their time,
    emptied ones go, the writer's entry is last."""
    out = []
    for entry, paths in owners:
        if not paths:
            continue
        if paths != from_fields(entry.get("fieldsV1") or {}):
            entry = {**entry, "fieldsV1": to_fields(paths)}
        out.append(entry)
    if mine is not None and mine_paths:
        out.append(mine)
    return out


def track_update(
    old: Obj | None, new: Obj, manager: str, api_version: str, sub: str | None, split: bool
) -> Obj:
    """``new`` with managedFields after a create, update or patch by ``manager``: the
    fields it changed are its own and no longer anyone else's."""
    meta = new.setdefault("metadata", {})
    if "managedFields" not in meta and old is not None:
        meta["managedFields"] = copy.deepcopy((old.get("metadata") or {}).get("managedFields"))
    before = leaves(old, sub, split) if old is not None else {}
    after = leaves(new, sub, split)
    changed = {p for p, v in after.items() if before.get(p, object()) != v}
    gone = set(before) - set(after)
    owners = [(e, ps - changed - gone) for e, ps in _owners(new)]
    previous = [(e, ps) for e, ps in owners if _same(e, manager, "Update", sub)]
    owners = [(e, ps) for e, ps in owners if not _same(e, manager, "Update", sub)]
    mine_paths = changed | (previous[0][1] if previous else set())
    if previous and mine_paths == from_fields(previous[0][0].get("fieldsV1") or {}):
        mine: Obj | None = previous[0][0]  # nothing new: keep its time (a no-op stays one)
    else:
        mine = _entry(manager, "Update", api_version, sub, mine_paths) if changed else None
        if mine is None and previous:
            mine = previous[0][0]
    meta["managedFields"] = _rebuild(owners, mine, mine_paths)
    if not meta["managedFields"]:
        meta.pop("managedFields")
    return new


def apply(
    current: Obj,
    config: Obj,
    manager: str,
    force: bool,
    api_version: str,
    sub: str | None,
    split: bool,
) -> Obj:
    """The object after ``manager`` applies ``config`` to ``current``; 409 on conflicts."""
    wanted = leaves(config, sub, split)
    owners = _owners(current)
    conflicts: dict[Path, list[str]] = {}
    for path, value in wanted.items():
        present, live = _get(current, path)
        if present and live == value:
            continue
        for entry, paths in owners:
            if _same(entry, manager, "Apply", sub):
                continue
            if any(path[: len(p)] == p or p[: len(path)] == path for p in paths):
                conflicts.setdefault(path, []).append(str(entry.get("manager")))
    if conflicts and not force:
        raise _conflict(conflicts, owners, api_version)
    taken = set(conflicts)
    mine_before: set[Path] = set()
    others: list[tuple[Obj, set[Path]]] = []
    for entry, paths in owners:
        if _same(entry, manager, "Apply", sub):
            mine_before = paths
            continue
        keep = {p for p in paths if not any(p[: len(t)] == t or t[: len(p)] == p for t in taken)}
        others.append((entry, keep))
    result = copy.deepcopy(current)
    still_owned = set().union(*(ps for _, ps in others)) if others else set()
    for path in mine_before - set(wanted) - still_owned:
        _remove(result, path)
    for path, value in wanted.items():
        _set(result, path, value)
    mine = _entry(manager, "Apply", api_version, sub, set(wanted))
    previous = [e for e, _ in owners if _same(e, manager, "Apply", sub)]
    if previous and set(wanted) == mine_before and result == current:
        mine = previous[0]  # the same apply again: nothing changes, not even the time
    result.setdefault("metadata", {})["managedFields"] = _rebuild(others, mine, set(wanted))
    if not result["metadata"]["managedFields"]:
        result["metadata"].pop("managedFields")
    return result


def _conflict(
    conflicts: dict[Path, list[str]], owners: list[tuple[Obj, set[Path]]], api_version: str
) -> ApiError:
    versions = {str(e.get("manager")): str(e.get("apiVersion", api_version)) for e, _ in owners}
    causes, lines = [], []
    for path, managers in sorted(conflicts.items()):
        field = "." + ".".join(path)
        for manager in sorted(set(managers)):
            message = f'conflict with "{manager}" using {versions.get(manager, api_version)}'
            causes.append({"reason": "FieldManagerConflict", "message": message, "field": field})
            lines.append(f"{message}: {field}")
    count = len(lines)
    text = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(lines)
    return ApiError(409, "Conflict", text, causes)
