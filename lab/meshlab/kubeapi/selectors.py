"""Kubernetes label selectors, as ``?labelSelector=`` carries them.

Supports equality (``a=b``, ``a==b``, ``a!=b``), sets (``a in (x,y)``,
``a notin (x)``) and existence (``a``, ``!a``), comma-separated (all must hold).
Used by the emulator's list and watch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

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
