"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and
prints the columns the server chose: for a custom resource, Name and its CRD's
``additionalPrinterColumns`` (Age alone when it has none), ``priority > 0``
columns only with ``-o wide``; for the built-in kinds we serve, the columns
kube-apiserver's printers give them. ``date`` cells are rendered as ages
("5m3s"), as the API server does. Rows carry the object as
``includeObject`` asks (PartialObjectMetadata by default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from meshlab.kubeapi.events import involved, is_core_event, last_seen
from meshlab.kubeapi.registry import ResourceType

Obj = dict[str, Any]
NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition."
)


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: how kubectl shows an age."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest = days // 365, days % 365
    if days < 365 * 8 and rest:
        return f"{years}y{rest}d"
    return f"{years}y"


def age(timestamp: Any, now: datetime | None = None) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration(((now or datetime.now(UTC)) - when).total_seconds())


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_path(obj: Any, path: str) -> Any:
    """A CRD printer column's simple JSONPath (``.a.b``, ``.a[0].b``); None when absent."""
    value = obj
    for name, index in _STEP.findall(path.strip().strip("{}")):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else None
        if value is None:
            return None
    return value


def _cell(value: Any, typ: str) -> Any:
    if value is None:
        return None
    if typ == "date":
        return age(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if typ in ("integer", "number") and isinstance(value, (int, float)):
        return value
    return value if isinstance(value, (str, bool)) else str(value)


Printer = list[tuple[dict[str, Any], Callable[[Obj], Any]]]


def _col(name: str, typ: str = "string", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": typ, "format": "", "description": name, "priority": priority}


def _path(path: str, typ: str = "string") -> Callable[[Obj], Any]:
    return lambda obj: _cell(json_path(obj, path), typ)


def _count(*fields: str) -> Callable[[Obj], Any]:
    return lambda obj: sum(len(obj.get(f) or {}) for f in fields)


def _ports(obj: Obj) -> str:
    ports = (obj.get("spec") or {}).get("ports") or []
    text = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports)
    return text or "<none>"


def _ready(obj: Obj) -> str:
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    return f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"


def _containers(field: str) -> Callable[[Obj], Any]:
    def cell(obj: Obj) -> str:
        spec = json_path(obj, ".spec.template.spec") or {}
        return ",".join(str(c.get(field, "")) for c in spec.get("containers") or [])

    return cell


def _hpa_metric(spec: Obj, status: Obj) -> str:
    """One metric as kube-apiserver's ``formatHPAMetrics`` writes it ("cpu: 40%/80%")."""
    key = _HPA_SOURCES.get(str(spec.get("type")))
    if key is None:
        return "<unknown type>"
    source, current = spec.get(key) or {}, (status.get(key) or {}).get("current")
    target = source.get("target") or {}
    known = current is not None

    def now(field: str, suffix: str = "") -> str:
        # The server prints <unknown> until the controller has measured the metric.
        value = (current or {}).get(field)
        return f"{value}{suffix}" if known and value is not None else "<unknown>"

    if key in ("resource", "containerResource"):
        name = source.get("name", "")
        if "averageValue" in target:
            return f"{name}: {now('averageValue')}/{target['averageValue']}"
        goal = target.get("averageUtilization")
        return (
            f"{name}: {now('averageUtilization', '%')}/{'<auto>' if goal is None else f'{goal}%'}"
        )
    if key == "pods":
        return f"{now('averageValue')}/{target.get('averageValue')}"
    if "averageValue" in target:
        return f"{now('averageValue')}/{target['averageValue']} (avg)"
    return f"{now('value')}/{target.get('value')}"


_HPA_SOURCES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _hpa_targets(obj: Obj) -> str:
    """The Targets cell: the first two metrics (current/target), then how many more."""
    specs = json_path(obj, ".spec.metrics") or []
    if not specs:
        return "<none>"
    statuses = json_path(obj, ".status.currentMetrics") or []
    cells = [_hpa_metric(s, statuses[i] if i < len(statuses) else {}) for i, s in enumerate(specs)]
    more = f" + {len(cells) - 2} more..." if len(cells) > 2 else ""
    return ", ".join(cells[:2]) + more


def _hpa_reference(obj: Obj) -> str:
    ref = json_path(obj, ".spec.scaleTargetRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _hpa_min(obj: Obj) -> str:
    value = json_path(obj, ".spec.minReplicas")
    return "<unset>" if value is None else str(value)


_AGE = (_col("Age"), _path(".metadata.creationTimestamp", "date"))
# kube-apiserver's printers for the built-in kinds the emulator serves.
BUILTIN: dict[str, Printer] = {
    "namespaces": [(_col("Status"), _path(".status.phase")), _AGE],
    "configmaps": [(_col("Data", "integer"), _count("data", "binaryData")), _AGE],
    "secrets": [(_col("Type"), _path(".type")), (_col("Data", "integer"), _count("data")), _AGE],
    "services": [
        (_col("Type"), _path(".spec.type")),
        (_col("Cluster-IP"), _path(".spec.clusterIP")),
        (_col("External-IP"), lambda o: "<none>"),
        (_col("Port(s)"), _ports),
        _AGE,
        (_col("Selector", priority=1), _path(".spec.selector")),
    ],
    "deployments": [
        (_col("Ready"), _ready),
        (_col("Up-to-date", "integer"), lambda o: json_path(o, ".status.updatedReplicas") or 0),
        (_col("Available", "integer"), lambda o: json_path(o, ".status.availableReplicas") or 0),
        _AGE,
        (_col("Containers", priority=1), _containers("name")),
        (_col("Images", priority=1), _containers("image")),
    ],
    "leases": [(_col("Holder"), _path(".spec.holderIdentity")), _AGE],
    # Every column is typed string, as kube-apiserver declares them, though two cells are integers.
    "horizontalpodautoscalers": [
        (_col("Reference"), _hpa_reference),
        (_col("Targets"), _hpa_targets),
        (_col("MinPods"), _hpa_min),
        (_col("MaxPods"), lambda o: json_path(o, ".spec.maxReplicas") or 0),
        (_col("Replicas"), lambda o: json_path(o, ".status.currentReplicas") or 0),
        _AGE,
    ],
}
# kube-apiserver's printer for core Events: the first column is Last Seen, not Name.
EVENTS: Printer = [
    (_col("Last Seen"), lambda o: age(last_seen(o)) if last_seen(o) else "<unknown>"),
    (_col("Type"), _path(".type")),
    (_col("Reason"), _path(".reason")),
    (_col("Object"), involved),
    (_col("Message"), _path(".message")),
]


def printer(t: ResourceType) -> Printer:
    """The columns after Name for a resource type."""
    if not t.custom and t.plural in BUILTIN:
        return BUILTIN[t.plural]
    if not t.columns:
        return [_AGE]
    out: Printer = []
    for c in t.columns:
        definition = {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": int(c.get("priority", 0)),
        }
        out.append((definition, _path(c["jsonPath"], definition["type"])))
    return out


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def table(
    t: ResourceType,
    objects: list[Obj],
    resource_version: str,
    include: str = "Metadata",
    api_version: str = "meta.k8s.io/v1",
    columns: bool = True,
) -> Obj:
    """A Table of ``objects``; ``columns=False`` leaves the definitions out (later watch events)."""
    cols = printer(t)
    name = {**_col("Name"), "format": "name", "description": NAME_DESCRIPTION}
    first: list[Any] = [name]
    if is_core_event(t):
        cols, first = EVENTS, []
    rows = []
    for obj in objects:
        cells = [*([obj["metadata"]["name"]] if first else []), *(fn(obj) for _, fn in cols)]
        row: Obj = {"cells": cells}
        shown = _row_object(obj, include)
        if shown is not None:
            row["object"] = shown
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [*first, *(d for d, _ in cols)] if columns else [],
        "rows": rows,
    }
