"""Generates ``builtin_openapi.json``: OpenAPI schemas of the built-in kinds the emulator serves.

The schemas come from the Kubernetes 1.37 definitions that the
``kubernetes-validate`` package ships (a test dependency), turned back from its
JSON Schema form into OpenAPI v3 (``type: [X, "null"]`` is ``X``;
int-or-string and quantities get their Kubernetes formats; references point
at ``#/components/schemas``) and reduced to what the served kinds reach, so
the lab carries a small file and no dependency. Regenerate after adding a
built-in kind:

    python -m meshlab.kubeapi.openapigen
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("builtin_openapi.json")
VERSION = "v1.37.0-local"
ROOTS = [
    "io.k8s.api.core.v1.Namespace",
    "io.k8s.api.core.v1.ConfigMap",
    "io.k8s.api.core.v1.Secret",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.Event",
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.events.v1.Event",
    "io.k8s.api.coordination.v1.Lease",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
]
_FORMATS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string",
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "type": "string",
        "format": "quantity",
        "x-kubernetes-int-or-string": True,
    },
}


def openapi(node: Any) -> Any:
    """One JSON Schema node as OpenAPI v3."""
    if isinstance(node, list):
        return [openapi(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi(v) for k, v in node.items() if k not in ("type", "$ref")}
    typ = node.get("type")
    if isinstance(typ, list):
        real = [t for t in typ if t != "null"]
        if real:
            out["type"] = real[0]
    elif typ is not None:
        out["type"] = typ
    ref = node.get("$ref")
    if isinstance(ref, str):
        out["$ref"] = "#/components/schemas/" + ref.rsplit("/", 1)[-1]
    if "enum" in out and isinstance(out["enum"], list):
        out["enum"] = [e for e in out["enum"] if e is not None]
    return out


def generate(definitions: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in out or name not in definitions:
            continue
        schema = _FORMATS.get(name) or openapi(definitions[name])
        out[name] = schema
        todo.extend(_refs(schema))
    return dict(sorted(out.items()))


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for n in node for r in _refs(n)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"].rsplit("/", 1)[-1]] if isinstance(node.get("$ref"), str) else []
    return found + [r for v in node.values() for r in _refs(v)]


def main() -> int:
    import kubernetes_validate

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / VERSION
    definitions = json.loads((folder / "_definitions.json").read_text())["$defs"]
    schemas = generate(definitions)
    OUT.write_text(json.dumps(schemas, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{len(schemas)} schemas written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
