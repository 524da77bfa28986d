"""The Kubernetes API emulator: its lifecycle, kubeconfig, and the routing of resource URLs.

The unmodified ``kubernetes`` client and kubectl talk to it through a kubeconfig.
Built on the standard library's threading HTTP server: one thread per
connection, which suits the few long-lived watches a controller opens.
``KubeAPI.start()`` runs it in a background thread (tests); ``python -m
meshlab.kubeapi`` runs it alone. Requests are read and answered by ``handler``;
what each verb does is ``verbs``.
"""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from meshlab.kubeapi.faults import AuditLog, FaultInjector
from meshlab.kubeapi.handler import Handler, Route, visible
from meshlab.kubeapi.registry import Registry, ResourceType, default_types
from meshlab.kubeapi.store import ApiError, Obj, Store
from meshlab.kubeapi.verbs import Request, present, serve

VERSION_INFO = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-meshrollout-lab",
    "platform": "linux/amd64",
}


class _Server(ThreadingHTTPServer):
    """Quiet about clients that hang up (a controller stopped mid-watch): not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
        self._httpd = _Server((host, port), handler)
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
        allowed = {"status": t.status_subresource, "scale": t.scale_subresource}
        if sub is not None and not allowed.get(sub, False):
            raise ApiError(404, "NotFound", f"{t.key} has no subresource {sub}")
        if t.namespaced and namespace is None and name is not None:
            raise ApiError(404, "NotFound", f"{t.key} is namespaced")
        return Route(t, version, namespace, name, sub)

    def present(self, r: Route, obj: Obj) -> Obj:
        """The object as the requested version shows it."""
        return present(r, obj)

    def handle(
        self,
        method: str,
        r: Route,
        query: dict[str, str],
        body: Any,
        content_type: str,
        warnings: list[str] | None = None,
        user_agent: str = "",
    ) -> tuple[int, Obj]:
        """Serve one non-watch request on a resource; raise ApiError to refuse it."""
        request = Request(method, r, query, body, content_type, user_agent)
        return serve(self.store, request, warnings if warnings is not None else [])

    def changes(self, r: Route, since: int, match: Any) -> list[tuple[str, Obj]]:
        """Watch events after ``since`` for this route (caller holds the store lock)."""
        out = []
        for change in self.store.changes_since(r.t, r.namespace, since):
            out.extend(visible(change, match, r.name))
        return [(kind, self.present(r, obj)) for kind, obj in out]
