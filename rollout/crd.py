"""Generate the Rollout CRD manifest from the pydantic models.

``python -m rollout.crd`` writes it into the chart; ``--check`` exits 1
when the checked-in file differs (``make test`` runs the same comparison as a
test). The schema is made *structural* as Kubernetes requires: no ``$ref``, a
``type`` everywhere, ``nullable`` instead of ``anyOf [.., null]``, OpenAPI v3.0
exclusive bounds, and free-form maps marked ``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from rollout.model import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAME,
    VERSION,
    RolloutSpec,
    RolloutStatus,
)

CHART = Path(__file__).resolve().parents[1] / "charts" / "rollout"
CRD_PATH = CHART / "crds" / f"{PLURAL}.{GROUP}.yaml"
_DROP = {"title", "examples", "propertyNames"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Rewrite one JSON-schema node (pydantic's dialect) into a structural OpenAPI one."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    variants = node.get("anyOf")
    if variants and any(v.get("type") == "null" for v in variants):
        rest = [v for v in variants if v.get("type") != "null"]
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        if outer.get("default", 0) is None:
            del outer["default"]
        inner = rest[0] if len(rest) == 1 else {"anyOf": rest}
        return _structural({**inner, **outer, "nullable": True}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items",):
            out[key] = _structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict) and value:
                out[key] = _structural(value, defs)
        elif key == "description":
            out[key] = value.replace("``", "`")
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    free_form = "properties" not in out and "additionalProperties" not in out
    if out.get("type") == "object" and free_form:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def openapi_schema(model: type[RolloutSpec] | type[RolloutStatus]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema: dict[str, Any] = _structural(raw, defs)
    return schema


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a dict, ready for YAML."""
    spec = openapi_schema(RolloutSpec)
    status = openapi_schema(RolloutStatus)
    columns = [
        ("Phase", "string", ".status.phase", "Where the rollout is"),
        ("Weight", "integer", ".status.canaryWeight", "Canary traffic in percent"),
        ("Step", "integer", ".status.stepIndex", "Index of the current stage"),
        ("Canary", "string", ".spec.canarySubset", "The subset being rolled out"),
        ("Age", "date", ".metadata.creationTimestamp", ""),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "annotations": {"meshrollout.dev/generated-by": "python -m rollout.crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": [SHORT_NAME],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": name,
                            "type": kind,
                            "jsonPath": path,
                            **({"description": text} if text else {}),
                        }
                        for name, kind, path, text in columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": f"A progressive canary rollout ({API_VERSION}).",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes shared sub-schemas out in full: anchors and aliases confuse reviewers."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 yaml's signature
        return True


def render() -> str:
    header = "# Generated from rollout/model by `python -m rollout.crd`; do not edit.\n"
    body = yaml.dump(build_crd(), Dumper=_PlainDumper, sort_keys=False, width=100)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the chart's CRD drifted")
    parser.add_argument("--out", type=Path, default=CRD_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} differs from the model; run: python -m rollout.crd")
            return 1
        print(f"{args.out} matches the model")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
