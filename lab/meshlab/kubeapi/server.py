"""The Kubernetes API emulator's HTTP face: routing, discovery, watch streams, faults.

The unmodified ``kubernetes`` client talks to it through a kubeconfig. Built on
the standard library's threading HTTP server: one thread per connection, which
suits the few long-lived watches a controller opens. ``KubeAPI.start()`` runs it
in a background thread (tests); ``python -m meshlab.kubeapi`` runs it alone.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from meshlab.kubeapi.faults import AuditLog, FaultInjector
from meshlab.kubeapi.handler import Handler, Route, label_match, visible
from meshlab.kubeapi.registry import Registry, ResourceType, default_types
from meshlab.kubeapi.store import ApiError, Obj, Store, json_patch, merge_patch

VERSION_INFO = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0-meshrollout-lab",
    "platform": "linux/amd64",
}


class KubeAPI:
    """An in-memory Kubernetes API server for tests and the lab."""

    def __init__(self, types: list[ResourceType] | None = None, history_limit: int = 2000) -> None:
        self.registry = Registry(types or default_types())
        self.store = Store(history_limit=history_limit)
        self.faults = FaultInjector()
        self.audit = AuditLog()
        self.stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def start(cls, port: int = 0, host: str = "127.0.0.1", **kwargs: Any) -> KubeAPI:
        api = cls(**kwargs)
        api.listen(port, host)
        api._thread = threading.Thread(target=api.serve_forever, name="kubeapi", daemon=True)
        api._thread.start()
        return api

    def listen(self, port: int = 0, host: str = "127.0.0.1") -> None:
        handler = type("Handler", (Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True

    def serve_forever(self) -> None:
        assert self._httpd is not None
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, namespace: str = "default", user: str = "lab-admin") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lab", "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": "lab-token"}}],
            "contexts": [
                {"name": "lab", "context": {"cluster": "lab", "user": user, "namespace": namespace}}
            ],
            "current-context": "lab",
        }

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace)))
        return path

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj:
        """Read one object in process (tests and the lab), bypassing HTTP."""
        t = self.registry.find(group, version, plural)
        if t is None:
            raise ApiError(404, "NotFound", f"no resource {plural}.{group}/{version}")
        return self.store.get(t, namespace, name)

    # -- routing -------------------------------------------------------------
    def route(self, path: str) -> Route | Obj:
        """A resource route, or a discovery document; ApiError 404 for anything else."""
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return VERSION_INFO
        if parts == ["api"]:
            return self.registry.api_versions()
        if parts == ["apis"]:
            return self.registry.api_group_list()
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if len(parts) == 2:
                doc = self.registry.api_group(parts[1])
                if doc is None:
                    raise ApiError(404, "NotFound", f"group {parts[1]} not found")
                return doc
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find {path}")
        if not rest:
            doc = self.registry.resource_list(group, version)
            if doc is None:
                raise ApiError(404, "NotFound", f"{group}/{version} not found")
            return doc
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        t = self.registry.find(group, version, rest[0])
        if t is None or len(rest) > 3:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource {path}"
            )
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not t.status_subresource):
            raise ApiError(404, "NotFound", f"{t.key} has no subresource {sub}")
        if t.namespaced and namespace is None and name is not None:
            raise ApiError(404, "NotFound", f"{t.key} is namespaced")
        return Route(t, version, namespace, name, sub)

    def present(self, r: Route, obj: Obj) -> Obj:
        """The object as the requested version shows it."""
        return {**obj, "apiVersion": r.t.api_version(r.version), "kind": r.t.kind}

    def handle(
        self,
        method: str,
        r: Route,
        query: dict[str, str],
        body: Any,
        content_type: str,
        warnings: list[str] | None = None,
    ) -> tuple[int, Obj]:
        """Serve one non-watch request on a resource; raise ApiError to refuse it."""
        t, ns = r.t, r.namespace or ""
        if method == "GET" and r.name is None:
            match = label_match(query.get("labelSelector"))
            items, rv = self.store.list(t, r.namespace, match)
            return 200, {
                "apiVersion": t.api_version(r.version),
                "kind": f"{t.kind}List",
                "metadata": {"resourceVersion": str(rv)},
                "items": [self.present(r, i) for i in items],
            }
        if method == "GET":
            assert r.name is not None
            return 200, self.present(r, self.store.get(t, ns, r.name))
        if method == "POST" and r.name is None:
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body must be a JSON object")
            if t.plural == "namespaces" and not t.group:
                body = {**body, "status": {"phase": "Active", **(body.get("status") or {})}}
            return 201, self.present(r, self.store.create(t, ns, body))
        if r.name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} needs an object name")
        if method == "PUT":
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body must be a JSON object")
            obj = self.store.update(t, ns, r.name, lambda _: body, r.sub, require_rv=t.custom)
            return 200, self.present(r, obj)
        if method == "PATCH":
            return 200, self.present(r, self._patch(r, body, content_type))
        if method == "DELETE":
            gone = self.store.delete(t, ns, r.name)
            if t.custom:
                return 200, self.present(r, gone)
            return 200, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": r.name, "kind": t.plural},
            }
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _patch(self, r: Route, body: Any, content_type: str) -> Obj:
        kind = content_type.split(";")[0].strip()
        assert r.name is not None
        if kind == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
            return self.store.update(
                r.t, r.namespace or "", r.name, lambda cur: json_patch(cur, body), r.sub
            )
        if kind == "application/strategic-merge-patch+json" and r.t.custom:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources",
            )
        if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch is a JSON object")
            return self.store.update(
                r.t, r.namespace or "", r.name, lambda cur: merge_patch(cur, body), r.sub
            )
        raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {kind!r}")

    def changes(self, r: Route, since: int, match: Any) -> list[tuple[str, Obj]]:
        """Watch events after ``since`` for this route (caller holds the store lock)."""
        out = []
        for change in self.store.changes_since(r.t, r.namespace, since):
            out.extend(visible(change, match, r.name))
        return [(kind, self.present(r, obj)) for kind, obj in out]
