"""The Kubernetes API emulator's HTTP face: routing, discovery, watch streams, faults.

The unmodified ``kubernetes`` client talks to it through a kubeconfig. Built on
the standard library's threading HTTP server: one thread per connection, which
suits the few long-lived watches a controller opens. ``KubeAPI.start()`` runs it
in a background thread (tests); ``python -m meshlab.kubeapi`` runs it alone.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from meshlab.kubeapi.faults import AuditLog, FaultInjector
from meshlab.kubeapi.registry import Registry, ResourceType, default_types
from meshlab.kubeapi.selectors import parse_selector
from meshlab.kubeapi.store import ApiError, Change, Obj, Store, json_patch, merge_patch

VERSION_INFO = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0-meshrollout-lab",
    "platform": "linux/amd64",
}


class _Server(ThreadingHTTPServer):
    """Quiet about clients that hang up (a controller stopped mid-watch): not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Route:
    """A parsed resource URL."""

    def __init__(
        self,
        t: ResourceType,
        version: str,
        namespace: str | None,
        name: str | None,
        sub: str | None,
    ) -> None:
        self.t, self.version, self.namespace, self.name, self.sub = t, version, namespace, name, sub


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
        handler = type("Handler", (_Handler,), {"api": self})
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
    def route(self, path: str) -> _Route | Obj:
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
        return _Route(t, version, namespace, name, sub)

    def present(self, r: _Route, obj: Obj) -> Obj:
        """The object as the requested version shows it."""
        return {**obj, "apiVersion": r.t.api_version(r.version), "kind": r.t.kind}

    def handle(
        self, method: str, r: _Route, query: dict[str, str], body: Any, content_type: str
    ) -> tuple[int, Obj]:
        """Serve one non-watch request on a resource; raise ApiError to refuse it."""
        t, ns = r.t, r.namespace or ""
        if method == "GET" and r.name is None:
            match = _label_match(query.get("labelSelector"))
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

    def _patch(self, r: _Route, body: Any, content_type: str) -> Obj:
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

    def changes(self, r: _Route, since: int, match: Any) -> list[tuple[str, Obj]]:
        """Watch events after ``since`` for this route (caller holds the store lock)."""
        out = []
        for change in self.store.changes_since(r.t, r.namespace, since):
            out.extend(_visible(change, match, r.name))
        return [(kind, self.present(r, obj)) for kind, obj in out]


def client_identity(user_agent: str) -> str:
    """Who sent a request, for the audit log and per-identity faults: the last
    ``/``-separated part of its User-Agent (``meshrollout/ctl-a`` is ``ctl-a``), where
    client-go's ``AddUserAgent`` also puts a component's name. A real API server records
    the User-Agent in its audit events too; no emulator-only header is needed."""
    return user_agent.rsplit("/", 1)[-1].strip()


def _label_match(selector: str | None) -> Any:
    try:
        match = parse_selector(selector)
    except ValueError as error:
        raise ApiError(400, "BadRequest", str(error)) from error
    return lambda obj: match((obj.get("metadata") or {}).get("labels") or {})


def _visible(change: Change, match: Any, name: str | None) -> list[tuple[str, Obj]]:
    """How a change looks through a selector: leaving the selection is a DELETED."""
    if name is not None and change.obj["metadata"]["name"] != name:
        return []
    now, before = match(change.obj), change.old is not None and match(change.old)
    if change.type == "DELETED":
        return [("DELETED", change.obj)] if before else []
    if now:
        return [("MODIFIED" if before else "ADDED", change.obj)]
    return [("DELETED", change.obj)] if before else []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes; don't wait 40 ms
    api: KubeAPI

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the audit log instead

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _send(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise ApiError(400, "BadRequest", f"the body is not JSON: {error}") from error

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self._body()
            if url.path.startswith("/_lab/"):
                self._lab(method, url.path, body)
                return
            target = self.api.route(url.path)
            if not isinstance(target, _Route):
                self._send(200, target)
                return
            self._resource(method, target, query, body)
        except ApiError as error:
            headers = {"Retry-After": "1"} if error.code == 429 else None
            self._send(error.code, error.status(), headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _verb(self, method: str, r: _Route, query: dict[str, str]) -> str:
        if method == "GET":
            if query.get("watch") in ("1", "true"):
                return "watch"
            return "get" if r.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]

    def _resource(self, method: str, r: _Route, query: dict[str, str], body: Any) -> None:
        verb = self._verb(method, r, query)
        user = client_identity(self.headers.get("User-Agent") or "")
        fault = self.api.faults.before(verb, user)

        def audit(code: int, rv: str = "") -> None:
            # Recorded before the answer goes out, so a client that got its answer
            # always finds its request in the log.
            created = (body.get("metadata") or {}).get("name") if isinstance(body, dict) else None
            self.api.audit.record(
                verb=verb,
                resource=r.t.key,
                namespace=r.namespace or "",
                name=r.name or created or "",
                subresource=r.sub or "",
                user=user,
                code=code,
                resource_version=rv,
                patch_type=self.headers.get("Content-Type", "") if method == "PATCH" else "",
                body=body,
            )

        try:
            if fault is not None:
                reason = "Conflict" if fault == 409 else "InternalError"
                raise ApiError(fault, reason, f"injected fault {fault}")
            if verb == "watch":
                audit(200)
                self._watch(r, query, user)
                return
            code, doc = self.api.handle(
                method, r, query, body, self.headers.get("Content-Type", "")
            )
        except ApiError as error:
            audit(error.code)
            raise
        rv = str((doc.get("metadata") or {}).get("resourceVersion", ""))
        if self.api.faults.lose_response(verb, user):
            code = 500  # applied, but the caller never learns it
            doc = ApiError(500, "InternalError", "injected fault: response lost").status()
        audit(code, rv)
        self._send(code, doc)

    def _watch(self, r: _Route, query: dict[str, str], user: str) -> None:
        match = _label_match(query.get("labelSelector"))
        timeout = float(query.get("timeoutSeconds") or 1800)
        drop_after = self.api.faults.drop_watches_after(user)
        started = time.monotonic()
        store = self.api.store
        with store.changed:
            since_text = query.get("resourceVersion") or "0"
            since = int(since_text) if since_text.isdigit() else 0
            pending: list[tuple[str, Obj]] = []
            if since == 0:
                items, since = store.list(r.t, r.namespace, match)
                pending = [
                    ("ADDED", self.api.present(r, i))
                    for i in items
                    if r.name is None or i["metadata"]["name"] == r.name
                ]
            else:
                try:
                    pending = self.api.changes(r, since, match)
                except ApiError as gone:
                    self._start_stream()
                    self._chunk({"type": "ERROR", "object": gone.status()})
                    self._end_stream()
                    return
                since = store.resource_version
        self._start_stream()
        for kind, obj in pending:
            self._chunk({"type": kind, "object": obj})
        while not self.api.stopping.is_set():
            elapsed = time.monotonic() - started
            if drop_after is not None and elapsed >= drop_after:
                self.close_connection = (
                    True  # cut without the closing chunk, as a broken proxy would
                )
                return
            if elapsed >= timeout:
                break
            with store.changed:
                if store.resource_version <= since:
                    store.changed.wait(timeout=0.25)
                try:
                    events = self.api.changes(r, since, match)
                except ApiError as gone:
                    events = [("ERROR", gone.status())]
                since = store.resource_version
            for kind, obj in events:
                self._chunk({"type": kind, "object": obj})
            if any(kind == "ERROR" for kind, _ in events):
                break
        self._end_stream()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, doc: Obj) -> None:
        data = json.dumps(doc).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _lab(self, method: str, path: str, body: Any) -> None:
        api = self.api
        if path == "/_lab/faults" and method == "POST":
            api.faults.set(**(body or {}))
        elif path == "/_lab/faults" and method == "DELETE":
            api.faults.clear()
        elif path == "/_lab/audit" and method == "GET":
            self._send(200, {"entries": [e.__dict__ for e in api.audit.entries()]})
            return
        elif path == "/_lab/audit" and method == "DELETE":
            api.audit.clear()
        elif path != "/_lab/faults":
            raise ApiError(404, "NotFound", f"no lab endpoint {path}")
        self._send(200, api.faults.as_dict())
