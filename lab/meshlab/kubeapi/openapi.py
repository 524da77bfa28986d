"""OpenAPI v3 and v2 documents from the registered schemas, for ``kubectl explain`` and ``apply``.

``/openapi/v3`` lists one document per group version
(``{"paths": {"apis/meshrollout.dev/v1alpha1": {"serverRelativeURL": ...}}}``);
each document has the kinds' schemas under ``components.schemas``, named as
kube-apiserver names them (``dev.meshrollout.v1alpha1.Rollout``) and tagged with
``x-kubernetes-group-version-kind``, which is how kubectl finds a kind's schema,
and paths whose operations accept ``fieldValidation``, which is how kubectl
learns that the server validates fields itself. Custom resources take the
``openAPIV3Schema`` of their CRD; built-in kinds the trimmed schemas of
``builtin_openapi.json`` (see ``openapigen``).

``/openapi/v2`` is the same definitions and paths as one Swagger 2.0 document,
in JSON for the clients that accept JSON. kubectl asks for v2 only in protobuf
(gnostic's ``openapi_v2.Document``), which the emulator does not encode: it
answers those requests 404, and kubectl 1.37 goes on with v3, which it reads
for explain, validation and apply.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from meshlab.kubeapi.registry import Registry, ResourceType
from meshlab.kubeapi.store import ApiError

Obj = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
REF = "#/components/schemas/"
QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


@cache
def builtin_schemas() -> dict[str, Obj]:
    path = Path(__file__).with_name("builtin_openapi.json")
    data: dict[str, Obj] = json.loads(path.read_text())
    return data


def schema_name(t: ResourceType, version: str, kind: str | None = None) -> str:
    """kube-apiserver's name for a kind's schema: the group reversed, then version and kind."""
    if not t.custom:
        package = {"": "core", "coordination.k8s.io": "coordination", "events.k8s.io": "events"}
        group = package.get(t.group, t.group)
        return f"io.k8s.api.{group}.{version}.{kind or t.kind}"
    reverse = ".".join(reversed(t.group.split(".")))
    return f"{reverse}.{version}.{kind or t.kind}"


def _custom(t: ResourceType, version: str) -> Obj:
    free: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema: Obj = copy.deepcopy(t.schema or free)
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": "APIVersion of this object"}
    props["kind"] = {"type": "string", "description": "Kind of this object"}
    props["metadata"] = {
        "allOf": [{"$ref": REF + META + "ObjectMeta"}],
        "description": "Standard object's metadata.",
    }
    return schema


def _gvk(t: ResourceType, version: str, kind: str) -> list[Obj]:
    return [{"group": t.group, "version": version, "kind": kind}]


def _list_schema(t: ResourceType, version: str) -> Obj:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": REF + schema_name(t, version)}},
            "metadata": {"allOf": [{"$ref": REF + META + "ListMeta"}]},
        },
    }


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            out.add(ref[len(REF) :])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _operations(t: ResourceType, version: str, name: str) -> Obj:
    """The write operations of a kind, each accepting fieldValidation (server-side validation)."""
    params = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in QUERY_PARAMS]
    ok = {"200": {"content": {"application/json": {"schema": {"$ref": REF + name}}}}}
    prefix = f"/apis/{t.group}/{version}" if t.group else f"/api/{version}"
    scope = f"{prefix}/namespaces/{{namespace}}" if t.namespaced else prefix
    gvk = _gvk(t, version, t.kind)[0]

    def op(action: str) -> Obj:
        return {
            "operationId": f"{action}{t.kind}",
            "parameters": params,
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }

    return {
        f"{scope}/{t.plural}": {"post": op("post")},
        f"{scope}/{t.plural}/{{name}}": {"put": op("put"), "patch": op("patch")},
    }


def group_document(registry: Registry, group: str, version: str) -> Obj:
    """The OpenAPI v3 document of one group version."""
    schemas: dict[str, Obj] = {}
    paths: dict[str, Obj] = {}
    builtin = builtin_schemas()
    for t in registry.types:
        if t.group != group or version not in t.versions:
            continue
        name = schema_name(t, version)
        base = _custom(t, version) if t.custom else copy.deepcopy(builtin.get(name, {}))
        schemas[name] = {**base, "x-kubernetes-group-version-kind": _gvk(t, version, t.kind)}
        lists = schema_name(t, version, f"{t.kind}List")
        listed = _list_schema(t, version)
        listed["x-kubernetes-group-version-kind"] = _gvk(t, version, f"{t.kind}List")
        schemas[lists] = listed
        paths.update(_operations(t, version, name))
    todo: set[str] = set()
    _refs(schemas, todo)
    while todo:  # the definitions the kinds refer to, transitively
        ref = todo.pop()
        if ref in schemas or ref not in builtin:
            continue
        schemas[ref] = builtin[ref]
        _refs(builtin[ref], todo)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _v2(node: Any) -> Any:
    """An OpenAPI v3 schema in Swagger 2.0 terms: references to ``#/definitions``."""
    if isinstance(node, list):
        return [_v2(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _v2(v) for k, v in node.items() if k != "nullable"}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace(REF, "#/definitions/")
    return out


def _operation_v2(op: Obj) -> Obj:
    """An operation in Swagger 2.0 terms: query parameters typed in place, responses
    with a bare schema."""
    params = [
        {**{k: v for k, v in p.items() if k != "schema"}, **p["schema"]} for p in op["parameters"]
    ]
    responses = {
        code: {"description": "OK", **_v2(answer["content"]["application/json"])}
        for code, answer in op["responses"].items()
    }
    return {**op, "parameters": params, "responses": responses}


def swagger(registry: Registry) -> Obj:
    """``/openapi/v2``: every group version's definitions and paths in one document."""
    definitions: dict[str, Obj] = {}
    paths: dict[str, Obj] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            doc = group_document(registry, group, version)
            definitions.update(_v2(doc["components"]["schemas"]))
            for path, ops in doc["paths"].items():
                paths[path] = {verb: _operation_v2(op) for verb, op in ops.items()}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "definitions": dict(sorted(definitions.items())),
    }


def openapi(registry: Registry, path: str, query: dict[str, str], accept: str = "") -> Obj:
    """The document at ``path`` (``/openapi/v3``, ``/openapi/v3/<group version>``, or
    ``/openapi/v2`` when the client accepts JSON)."""
    parts = [p for p in path.split("/") if p]
    if parts == ["openapi", "v2"] and ("json" in accept or "*/*" in accept or not accept):
        return swagger(registry)
    if parts[:2] != ["openapi", "v3"]:
        raise ApiError(404, "NotFound", f"the server could not find {path}")
    versions = [(g, v) for g, vs in registry.groups().items() for v in vs]
    if len(parts) == 2:
        listed = {}
        for group, version in versions:
            body = json.dumps(group_document(registry, group, version), sort_keys=True)
            digest = hashlib.sha256(body.encode()).hexdigest()[:32].upper()
            url = f"/openapi/v3/{_key(group, version)}?hash={digest}"
            listed[_key(group, version)] = {"serverRelativeURL": url}
        return {"paths": listed}
    wanted = "/".join(parts[2:])
    for group, version in versions:
        if _key(group, version) == wanted:
            return group_document(registry, group, version)
    raise ApiError(404, "NotFound", f"the server could not find {path}")
