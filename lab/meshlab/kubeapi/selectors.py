"""Kubernetes label and field selectors, as ``?labelSelector=`` and ``?fieldSelector=`` carry them.

Label selectors support equality (``a=b``, ``a==b``, ``a!=b``), sets (``a in
(x,y)``, ``a notin (x)``) and existence (``a``, ``!a``), comma-separated (all
must hold). Used by the emulator's list and watch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from meshlab.kubeapi.store import ApiError, Obj

Requirement = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def _requirement(text: str) -> Requirement:
    if m := _SET.match(text):
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ValueError(f"unable to parse requirement: {text.strip()!r}")


def parse_selector(selector: str | None) -> Requirement:
    """A predicate over an object's labels; an empty selector matches everything.

    >>> match = parse_selector("app=inventory,version in (v1, v2),!canary")
    >>> match({"app": "inventory", "version": "v2"}), match({"app": "inventory", "version": "v3"})
    (True, False)
    """
    requirements = [_requirement(part) for part in _split(selector or "")]
    return lambda labels: all(r(labels) for r in requirements)


def selector_match(
    selector: str | None, fields: str | None = None, shown: Callable[[Obj], Obj] | None = None
) -> Any:
    """Which objects a ``labelSelector`` and a ``fieldSelector`` select, judged on the
    object as ``shown`` (the API's view of the stored form). Field selectors take any
    dotted path with ``=``, ``==`` or ``!=`` (``involvedObject.name=x``), a superset of
    the few fields each kind supports on a real server."""
    try:
        match = parse_selector(selector)
    except ValueError as error:
        raise ApiError(400, "BadRequest", str(error)) from error
    wanted: list[tuple[str, str, bool]] = []
    for term in (fields or "").split(","):
        if not term.strip():
            continue
        negate = "!=" in term
        key, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        wanted.append((key.strip(), value.strip(), negate))

    def matches(obj: Obj) -> bool:
        seen = shown(obj) if shown is not None else obj
        for path, value, negate in wanted:
            found = _field(seen, path)
            if (found == value) == negate:
                return False
        return match((seen.get("metadata") or {}).get("labels") or {})

    return matches


def _field(obj: Any, path: str) -> str:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if isinstance(obj, bool):
        return str(obj).lower()
    return "" if obj is None else str(obj)
