"""What each verb does to the emulator's store: list, get, create, update, patch, apply, delete.

Besides the store's own semantics (``store``), writes here follow the API
server's query parameters: ``dryRun=All`` (validated, defaulted, answered and
not stored: ``kubectl diff`` and ``--dry-run=server``), ``fieldManager`` and
server-side apply (``apply``), and ``fieldValidation`` against the CRD's schema
or the built-in kind's OpenAPI (``Strict``: an unknown field is a 400; ``Warn``,
the default: a ``Warning`` header; ``Ignore``: silently dropped, as the others).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from meshlab.kubeapi.apply import apply, manager_of, track_update
from meshlab.kubeapi.events import storage, view
from meshlab.kubeapi.handler import Route
from meshlab.kubeapi.openapi import builtin_schemas, schema_name
from meshlab.kubeapi.registry import ResourceType
from meshlab.kubeapi.selectors import selector_match
from meshlab.kubeapi.store import ApiError, Manage, Obj, Store, json_patch, merge_patch
from meshlab.kubeapi.validation import unknown_fields, without_unknown

APPLY = "application/apply-patch+yaml"
MERGE = ("application/merge-patch+json", "application/strategic-merge-patch+json")


@dataclass(frozen=True)
class Request:
    """One request on a resource, as the handler parsed it."""

    method: str
    route: Route
    query: dict[str, str]
    body: Any
    content_type: str
    user_agent: str = ""

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def api_version(self) -> str:
        return self.route.t.api_version(self.route.version)


def present(r: Route, obj: Obj) -> Obj:
    """The object as the requested version shows it."""
    return {**view(r.t)(obj), "apiVersion": r.t.api_version(r.version), "kind": r.t.kind}


def serve(store: Store, req: Request, warnings: list[str]) -> tuple[int, Obj]:
    """Serve one non-watch request; raise ApiError to refuse it."""
    if req.method in ("POST", "PUT", "PATCH"):
        req = _validate_fields(req, warnings)
    return _serve(store, req)


def _serve(store: Store, req: Request) -> tuple[int, Obj]:
    """The request, its body's fields checked, by verb."""
    r, query = req.route, req.query
    t, ns = r.t, r.namespace or ""
    if req.method == "GET" and r.name is None:
        items, rv = store.list(
            t,
            r.namespace,
            selector_match(query.get("labelSelector"), query.get("fieldSelector"), view(t)),
        )
        return 200, {
            "apiVersion": req.api_version,
            "kind": f"{t.kind}List",
            "metadata": {"resourceVersion": str(rv)},
            "items": [present(r, i) for i in items],
        }
    if r.sub == "scale":
        return _scale(store, req)
    if req.method == "GET":
        assert r.name is not None
        return 200, present(r, store.get(t, ns, r.name))
    manage = _manage(req)
    if req.method == "POST" and r.name is None:
        kept = storage(t)(defaulted(t, _object(req.body)))
        return 201, present(r, store.create(t, ns, kept, manage, req.dry_run))
    if r.name is None:
        raise ApiError(405, "MethodNotAllowed", f"{req.method} needs an object name")
    name = r.name
    if req.method == "PUT":
        body = _object(req.body)
        obj = store.update(
            t, ns, name, _through(t, lambda _: body), r.sub, t.custom, manage, req.dry_run
        )
        return 200, present(r, obj)
    if req.method == "PATCH":
        return _patch(store, req, manage)
    if req.method == "DELETE":
        gone = store.delete(t, ns, name, dry_run=req.dry_run)
        if t.custom:
            return 200, present(r, gone)
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "kind": t.plural},
        }
    raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported")


def defaulted(t: ResourceType, body: Obj) -> Obj:
    """What the API server fills in on create for the built-in kinds where clients
    notice: a Namespace is Active, a Secret is Opaque."""
    if t.plural == "namespaces" and not t.group:
        return {**body, "status": {"phase": "Active", **(body.get("status") or {})}}
    if t.plural == "secrets" and not t.group:
        return {"type": "Opaque", **body}
    return body


def _scale_of(obj: Obj) -> Obj:
    """A Deployment's ``scale`` subresource (autoscaling/v1 Scale)."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _scale(store: Store, req: Request) -> tuple[int, Obj]:
    """``kubectl scale``: read the Scale, or change ``spec.replicas`` through it."""
    r = req.route
    ns, name = r.namespace or "", r.name or ""
    if req.method == "GET":
        return 200, _scale_of(store.get(r.t, ns, name))
    kind = req.content_type.split(";")[0].strip()

    def change(current: Obj) -> Obj:
        scale = _scale_of(current)
        if req.method == "PUT":
            wanted = _object(req.body)
        elif kind == "application/json-patch+json":
            wanted = json_patch(scale, req.body)
        else:
            wanted = merge_patch(scale, _directives_dropped(_object(req.body)))
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", "spec.replicas: must be a non-negative integer")
        return {**current, "spec": {**current.get("spec", {}), "replicas": replicas}}

    if req.method not in ("PUT", "PATCH"):
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on scale")
    obj = store.update(r.t, ns, name, change, None, False, _manage(req), req.dry_run)
    return 200, _scale_of(obj)


def _object(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    return body


def _through(t: ResourceType, change: Callable[[Obj], Obj]) -> Callable[[Obj], Obj]:
    """A change written in the API's view of ``t``, applied to the stored form."""
    shown, kept = view(t), storage(t)
    return lambda current: kept(change(shown(current)))


def _manage(req: Request) -> Manage:
    manager = manager_of(req.query, req.user_agent)
    split = req.route.t.status_subresource

    def manage(old: Obj | None, new: Obj) -> Obj:
        return track_update(old, new, manager, req.api_version, req.route.sub, split)

    return manage


def _patch(store: Store, req: Request, manage: Manage) -> tuple[int, Obj]:
    r, body = req.route, req.body
    kind = req.content_type.split(";")[0].strip()
    ns, name = r.namespace or "", r.name or ""
    if kind == APPLY:
        return _apply(store, req)
    if kind == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
        obj = store.update(
            r.t,
            ns,
            name,
            _through(r.t, lambda cur: json_patch(cur, body)),
            r.sub,
            False,
            manage,
            req.dry_run,
        )
        return 200, present(r, obj)
    if kind == "application/strategic-merge-patch+json" and r.t.custom:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "strategic merge patch is not supported for custom resources",
        )
    if kind in MERGE:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "a merge patch is a JSON object")
        body = _directives_dropped(body)
        obj = store.update(
            r.t,
            ns,
            name,
            _through(r.t, lambda cur: merge_patch(cur, body)),
            r.sub,
            False,
            manage,
            req.dry_run,
        )
        return 200, present(r, obj)
    raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {kind!r}")


def _apply(store: Store, req: Request) -> tuple[int, Obj]:
    """Server-side apply: update the object the configuration describes, or create it."""
    r, config = req.route, _object(req.body)
    if not req.query.get("fieldManager"):
        raise ApiError(
            400,
            "BadRequest",
            "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
        )
    meta = config.get("metadata") or {}
    if meta.get("name", r.name) != r.name:
        raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
    manager, force = req.query["fieldManager"], req.query.get("force") == "true"
    split = r.t.status_subresource
    ns, name = r.namespace or "", r.name or ""

    def change(current: Obj) -> Obj:
        return apply(current, config, manager, force, req.api_version, r.sub, split)

    try:
        obj = store.update(r.t, ns, name, change, r.sub, dry_run=req.dry_run)
        return 200, present(r, obj)
    except ApiError as missing:
        if missing.code != 404 or r.sub:
            raise
    skeleton = {"apiVersion": req.api_version, "kind": r.t.kind, "metadata": {"name": name}}
    body = defaulted(r.t, change(skeleton))
    return 201, present(r, store.create(r.t, ns, body, dry_run=req.dry_run))


def _directives_dropped(value: Any) -> Any:
    """A strategic merge patch without its ``$`` directives (``$setElementOrder/...``,
    ``$retainKeys``, ``$patch``), which client-side ``kubectl apply`` sends and which
    the emulator, merging lists whole, does not need."""
    if isinstance(value, dict):
        return {k: _directives_dropped(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_directives_dropped(v) for v in value]
    return value


def _validate_fields(req: Request, warnings: list[str]) -> Request:
    """fieldValidation on a write: unknown fields refused (Strict), warned (Warn) or let
    through (Ignore); checked against the CRD's schema, or a built-in kind's OpenAPI."""
    t, mode = req.route.t, req.query.get("fieldValidation", "Warn")
    if not isinstance(req.body, dict):
        return req
    builtin = builtin_schemas()
    schema = t.schema if t.custom else builtin.get(schema_name(t, req.route.version))
    if schema is None:
        return req
    body = _directives_dropped(req.body)
    unknown = unknown_fields(body, schema, resolve=lambda name: builtin.get(name, {}))
    if not unknown or mode == "Ignore":
        return _pruned(req, schema, builtin)
    if mode == "Strict":
        listed = ", ".join(f'unknown field "{f}"' for f in unknown)
        raise ApiError(400, "BadRequest", f"strict decoding error: {listed}")
    warnings.extend(f'unknown field "{f}"' for f in unknown)
    return _pruned(req, schema, builtin)


def _pruned(req: Request, schema: Obj, builtin: dict[str, Obj]) -> Request:
    """The request with unknown fields dropped from a built-in kind's body (a custom
    resource's are pruned by the store, from its CRD schema)."""
    if req.route.t.custom:
        return req
    body = without_unknown(req.body, schema, lambda name: builtin.get(name, {}))
    return replace(req, body=body)
