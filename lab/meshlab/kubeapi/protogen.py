"""Generates ``protoschema.json``: protobuf field tables of the built-in kinds the emulator serves.

kubectl (client-go's typed clients) sends built-in objects as
``application/vnd.kubernetes.protobuf`` and does not fall back to JSON when a
server refuses it, so the emulator decodes them as a real API server does
(``meshlab.kubeapi.protobuf``). The field numbers come from Kubernetes' own
``generated.proto`` files (``k8s.io/api`` and ``k8s.io/apimachinery``), reduced here
to the messages reachable from the kinds in ``KINDS``, so the lab ships a small
table and no protobuf toolchain. Regenerate after adding a built-in kind:

    python -m meshlab.kubeapi.protogen API_CHECKOUT APIMACHINERY_CHECKOUT
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("protoschema.json")

# (apiVersion, kind) -> proto message, for every built-in kind the registry serves.
KINDS = {
    ("v1", "Namespace"): "k8s.io.api.core.v1.Namespace",
    ("v1", "ConfigMap"): "k8s.io.api.core.v1.ConfigMap",
    ("v1", "Secret"): "k8s.io.api.core.v1.Secret",
    ("v1", "Service"): "k8s.io.api.core.v1.Service",
    ("v1", "Event"): "k8s.io.api.core.v1.Event",
    ("apps/v1", "Deployment"): "k8s.io.api.apps.v1.Deployment",
    ("events.k8s.io/v1", "Event"): "k8s.io.api.events.v1.Event",
    ("coordination.k8s.io/v1", "Lease"): "k8s.io.api.coordination.v1.Lease",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler"
    ),
    ("v1", "DeleteOptions"): "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
}
ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
SOURCES = {
    "api": ["core/v1", "apps/v1", "events/v1", "coordination/v1", "autoscaling/v2"],
    "apimachinery": [
        "pkg/apis/meta/v1",
        "pkg/runtime",
        "pkg/runtime/schema",
        "pkg/util/intstr",
        "pkg/api/resource",
    ],
}

_PACKAGE = re.compile(r"^package\s+([\w.]+);", re.M)
_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{(.*?)^\}", re.M | re.S)
_FIELD = re.compile(
    r"^\s*(optional|repeated|required)?\s*(map<\s*[\w.]+\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)",
    re.M,
)
Field = list[Any]  # [number, name, label, type]; label is optional, repeated or map


def parse(text: str) -> dict[str, list[Field]]:
    """Every message of one ``generated.proto``, fully qualified, with its fields."""
    match = _PACKAGE.search(text)
    package = match.group(1) if match else ""
    messages: dict[str, list[Field]] = {}
    for name, body in _MESSAGE.findall(text):
        body = re.sub(r"//.*", "", body)
        fields = []
        for label, typ, map_value, field, number in _FIELD.findall(body):
            kind = "map" if typ.startswith("map<") else (label or "optional")
            value = map_value if kind == "map" else typ
            fields.append([int(number), field, kind, _qualify(value, package)])
        messages[f"{package}.{name}"] = fields
    return messages


def _qualify(typ: str, package: str) -> str:
    scalars = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}
    if typ in scalars:
        return typ
    return typ.lstrip(".") if typ.startswith(".") else f"{package}.{typ}"


def reachable(messages: dict[str, list[Field]], roots: list[str]) -> dict[str, list[Field]]:
    """Only the messages the served kinds can contain."""
    out: dict[str, list[Field]] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out or name not in messages:
            continue
        out[name] = messages[name]
        todo.extend(f[3] for f in messages[name] if f[3] in messages)
    return dict(sorted(out.items()))


def generate(api: Path, apimachinery: Path) -> dict[str, Any]:
    messages: dict[str, list[Field]] = {}
    for root, dirs in ((api, SOURCES["api"]), (apimachinery, SOURCES["apimachinery"])):
        for folder in dirs:
            messages.update(parse((root / folder / "generated.proto").read_text()))
    return {
        "kinds": {f"{v}/{k}": m for (v, k), m in KINDS.items()},
        "messages": reachable(messages, [*KINDS.values(), ENVELOPE]),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    schema = generate(Path(argv[0]), Path(argv[1]))
    OUT.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{len(schema['messages'])} messages written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
