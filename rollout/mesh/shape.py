"""The shape of a VirtualService and a DestinationRule, checked before anything reads them.

Istio's CRDs are loose (``x-kubernetes-preserve-unknown-fields`` in many places),
so a document in a cluster can hold a string where a list belongs. The
transforms in this package read the fields below and trust their types; this
module checks exactly those, so a badly shaped document is refused with the
field named (a :class:`~rollout.mesh.target.MeshError`) instead of raising a
TypeError deep in a transform. Called by ``validate_pair``. Pure.
"""

from __future__ import annotations

from typing import Any

from rollout.mesh.target import MeshError
from rollout.model import Problem

# A shape is a type, a dict of field → shape (a mapping with those optional fields),
# a one-item list [shape] (a list of those) or a one-item dict {str: shape} (any keys).
Shape = Any

_METADATA: Shape = {"name": str, "namespace": str, "annotations": {str: str}, "labels": {str: str}}
_DESTINATION: Shape = {"host": str, "subset": str}
VIRTUAL_SERVICE: Shape = {
    "apiVersion": str,
    "kind": str,
    "metadata": _METADATA,
    "spec": {
        "hosts": [str],
        "gateways": [str],
        "http": [
            {
                "name": str,
                "match": [{"headers": {str: dict}}],
                "route": [{"destination": _DESTINATION, "weight": int}],
            }
        ],
    },
}
DESTINATION_RULE: Shape = {
    "apiVersion": str,
    "kind": str,
    "metadata": _METADATA,
    "spec": {
        "host": str,
        "trafficPolicy": {"outlierDetection": dict},
        "subsets": [
            {
                "name": str,
                "labels": {str: str},
                "trafficPolicy": {"outlierDetection": dict},
            }
        ],
    },
}
_NAMES = {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}


def _problems(value: Any, shape: Shape, where: str) -> list[Problem]:
    if value is None:
        return []  # absent: the validators that need the field say so
    if isinstance(shape, type):
        ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
        return [] if ok else [Problem(where, f"must be {_NAMES[shape]}, not {value!r:.40}")]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [Problem(where, f"must be a list, not {value!r:.40}")]
        found: list[Problem] = []
        for index, item in enumerate(value):
            if item is None:
                found.append(Problem(f"{where}[{index}]", "is null"))
            else:
                found += _problems(item, shape[0], f"{where}[{index}]")
        return found
    if not isinstance(value, dict):
        return [Problem(where, f"must be a mapping, not {value!r:.40}")]
    if str in shape:  # any keys, each value of one shape
        return [
            p
            for key, item in value.items()
            for p in (
                [Problem(where, f"key {key!r:.40} is not a string")]
                if not isinstance(key, str)
                else _problems(item, shape[str], f"{where}.{key}")
            )
        ]
    return [
        p for key, sub in shape.items() for p in _problems(value.get(key), sub, f"{where}.{key}")
    ]


def check_shape(doc: Any, kind: str, shape: Shape) -> None:
    """Raise :class:`MeshError` naming every field of ``doc`` whose type the transforms
    could not read (at most 20 of them)."""
    problems = _problems(doc, shape, kind)
    if problems:
        raise MeshError(problems[:20])
