"""Events are one store seen through two APIs: ``events.k8s.io/v1`` and core ``v1``.

On a real cluster an Event written as ``events.k8s.io/v1`` (as the controller
writes them) is listed by ``kubectl get events`` and ``kubectl describe``
through the core API, with its fields renamed (``regarding`` is
``involvedObject``, ``note`` is ``message``, ...). The emulator keeps Events in
the ``events.k8s.io`` form and converts at the core API's edge, both ways, so
either client sees every Event.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from meshlab.kubeapi.registry import ResourceType

Obj = dict[str, Any]
# events.k8s.io/v1 name -> core/v1 name; the other fields have the same name in both.
RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "reportingController": "reportingComponent",
}
STORAGE = "events.events.k8s.io"  # the key both APIs store under


def is_core_event(t: ResourceType) -> bool:
    return t.group == "" and t.plural == "events"


def _rename(obj: Obj, names: dict[str, str]) -> Obj:
    return {names.get(k, k): copy.deepcopy(v) for k, v in obj.items()}


def to_core(obj: Obj) -> Obj:
    """An ``events.k8s.io/v1`` Event as core ``v1`` shows it."""
    return _rename(obj, RENAMED)


def from_core(obj: Obj) -> Obj:
    """A core ``v1`` Event in the ``events.k8s.io/v1`` form the store keeps."""
    return _rename(obj, {v: k for k, v in RENAMED.items()})


def identity(obj: Obj) -> Obj:
    return obj


def view(t: ResourceType) -> Callable[[Obj], Obj]:
    """How objects of ``t`` are shown from the store's form."""
    return to_core if is_core_event(t) else identity


def storage(t: ResourceType) -> Callable[[Obj], Obj]:
    """How objects written through ``t`` are kept."""
    return from_core if is_core_event(t) else identity


def last_seen(obj: Obj) -> Any:
    """When a core Event was last seen: its series, its lastTimestamp or its eventTime."""
    series = obj.get("series") or {}
    return series.get("lastObservedTime") or obj.get("lastTimestamp") or obj.get("eventTime")


def involved(obj: Obj) -> str:
    ref = obj.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"
