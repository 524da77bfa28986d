"""Structural-schema handling for custom resources, as the API server does it:
prune unknown fields, apply defaults, then validate (422 with field paths).

The schema comes from the CRD manifest the chart ships, so the emulator and a
real cluster judge our resources by the same document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from jsonschema import Draft4Validator


def _jsonschema(node: Any) -> Any:
    """OpenAPI v3.0 → JSON Schema draft 4: ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for key in ("properties",):
        if key in node:
            out[key] = {name: _jsonschema(sub) for name, sub in node[key].items()}
    return out


def prune_and_default(value: Any, schema: dict[str, Any]) -> Any:
    """Drop fields the schema does not know; fill in declared defaults. Returns a copy."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        if props is None:
            return copy.deepcopy(value)
        keep = schema.get("x-kubernetes-preserve-unknown-fields", False)
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if key in props:
                out[key] = prune_and_default(sub, props[key])
            elif keep:
                out[key] = copy.deepcopy(sub)
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        return out
    if isinstance(value, list) and "items" in schema:
        return [prune_and_default(v, schema["items"]) for v in value]
    return copy.deepcopy(value)


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class SchemaChecker:
    """Validates an object (without apiVersion/kind/metadata semantics) against a CRD schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = Draft4Validator(_jsonschema(schema))

    def admit(self, obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The pruned, defaulted object and the list of causes (empty when valid)."""
        metadata = obj.get("metadata")
        body = prune_and_default({k: v for k, v in obj.items() if k != "metadata"}, self.schema)
        if metadata is not None:
            body["metadata"] = metadata
        causes = []
        for error in sorted(self._validator.iter_errors(body), key=lambda e: list(e.path)):
            parts = list(error.absolute_path)
            if error.validator == "required":
                missing = error.message.split("'")[1]
                parts.append(missing)
                message = "Required value"
            else:
                message = f"Invalid value: {error.instance!r}: {error.message}"
            causes.append(
                {"reason": "FieldValueInvalid", "message": message, "field": _path(parts)}
            )
        return body, causes


def unknown_fields(
    value: Any,
    schema: dict[str, Any],
    path: str = "",
    resolve: Callable[[str], dict[str, Any]] | None = None,
) -> list[str]:
    """The fields of ``value`` (outside metadata) that the schema does not declare, as
    dotted paths: what pruning would drop, and what ``fieldValidation`` reports.
    ``resolve`` looks up a ``$ref`` (the built-in kinds' schemas use them)."""
    out: list[str] = []
    if resolve is not None and "$ref" in schema:
        schema = resolve(str(schema["$ref"]).rsplit("/", 1)[-1])
    is_object = schema.get("type") == "object" or "properties" in schema
    if isinstance(value, dict) and is_object:
        props = schema.get("properties")
        if props is None or schema.get("x-kubernetes-preserve-unknown-fields"):
            return out
        for key, sub in value.items():
            where = f"{path}.{key}" if path else key
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in props:
                out.extend(unknown_fields(sub, props[key], where, resolve))
            else:
                out.append(where)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out.extend(unknown_fields(item, schema["items"], f"{path}[{i}]", resolve))
    return out


def without_unknown(
    value: Any, schema: dict[str, Any], resolve: Callable[[str], dict[str, Any]], top: bool = True
) -> Any:
    """``value`` less the fields ``unknown_fields`` reports: what a built-in kind's Go
    types drop when the API server decodes a body."""
    if "$ref" in schema:
        schema = resolve(str(schema["$ref"]).rsplit("/", 1)[-1])
    props = schema.get("properties")
    if isinstance(value, dict) and props is not None:
        return {
            k: v if top and k == "metadata" else without_unknown(v, props[k], resolve, False)
            for k, v in value.items()
            if k in props or (top and k in ("apiVersion", "kind", "metadata"))
        }
    if isinstance(value, list) and "items" in schema:
        return [without_unknown(v, schema["items"], resolve, False) for v in value]
    return value
