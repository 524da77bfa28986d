"""The emulator's HTTP face: one request from bytes on the wire to an answer.

Reads and decodes the body by its Content-Type (``protobuf``), negotiates what
to answer from ``Accept`` (aggregated discovery, Tables), streams watches,
applies faults and writes the audit log; what a request does to the objects is
``KubeAPI.handle`` (``server``).
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from meshlab.kubeapi.discovery import discovery, parse_accept, wants
from meshlab.kubeapi.events import view
from meshlab.kubeapi.openapi import openapi
from meshlab.kubeapi.protobuf import decode_body
from meshlab.kubeapi.registry import ResourceType
from meshlab.kubeapi.selectors import selector_match
from meshlab.kubeapi.store import ApiError, Change, Obj
from meshlab.kubeapi.table import table

if TYPE_CHECKING:
    from meshlab.kubeapi.server import KubeAPI

INITIAL_END = "k8s.io/initial-events-end"


class Route:
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


def client_identity(user_agent: str) -> str:
    """Who sent a request, for the audit log and per-identity faults: the last
    ``/``-separated part of its User-Agent (``meshrollout/ctl-a`` is ``ctl-a``), where
    client-go's ``AddUserAgent`` also puts a component's name. A real API server records
    the User-Agent in its audit events too; no emulator-only header is needed."""
    return user_agent.rsplit("/", 1)[-1].strip()


def visible(change: Change, match: Any, name: str | None) -> list[tuple[str, Obj]]:
    """How a change looks through a selector: leaving the selection is a DELETED."""
    if name is not None and change.obj["metadata"]["name"] != name:
        return []
    now, before = match(change.obj), change.old is not None and match(change.old)
    if change.type == "DELETED":
        return [("DELETED", change.obj)] if before else []
    if now:
        return [("MODIFIED" if before else "ADDED", change.obj)]
    return [("DELETED", change.obj)] if before else []


def _warning(text: str) -> str:
    """One entry of a ``Warning`` header (RFC 7234: code, agent, quoted text)."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{quoted}"'


class Handler(BaseHTTPRequestHandler):
    """One connection's requests; ``api`` is set on a subclass per server."""

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

    def _send(
        self,
        code: int,
        doc: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _raw(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            raw = self._raw()
            if url.path.startswith("/_lab/"):
                lab_body = decode_body(raw, "application/json", True) if raw else None
                self._lab(method, url.path, lab_body)
                return
            if url.path.rstrip("/") in ("/api", "/apis"):
                doc, media = discovery(self.api.registry, url.path, self.headers.get("Accept"))
                self._send(200, doc, content_type=media)
                return
            if url.path.startswith("/openapi/"):
                accept = self.headers.get("Accept") or ""
                self._send(200, openapi(self.api.registry, url.path, query, accept))
                return
            target = self.api.route(url.path)
            if not isinstance(target, Route):
                self._send(200, target)
                return
            content_type = self.headers.get("Content-Type") or "application/json"
            body = decode_body(raw, content_type, target.t.custom) if raw else None
            self._resource(method, target, query, body)
        except ApiError as error:
            headers = {"Retry-After": "1"} if error.code == 429 else None
            self._send(error.code, error.status(), headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _table(self) -> str | None:
        """The Table version the client asked for (``v1`` or ``v1beta1``), if any."""
        chosen = wants(parse_accept(self.headers.get("Accept")), "meta.k8s.io", "Table")
        return chosen[0] if chosen and chosen[0] in ("v1", "v1beta1") else None

    def _verb(self, method: str, r: Route, query: dict[str, str]) -> str:
        if method == "GET":
            if query.get("watch") in ("1", "true"):
                return "watch"
            return "get" if r.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]

    def _resource(self, method: str, r: Route, query: dict[str, str], body: Any) -> None:
        verb = self._verb(method, r, query)
        user = client_identity(self.headers.get("User-Agent") or "")
        fault = self.api.faults.before(verb, user, r.t.key)

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
            warnings: list[str] = []
            code, doc = self.api.handle(
                method,
                r,
                query,
                body,
                self.headers.get("Content-Type", ""),
                warnings,
                self.headers.get("User-Agent") or "",
            )
        except ApiError as error:
            audit(error.code)
            raise
        rv = str((doc.get("metadata") or {}).get("resourceVersion", ""))
        if self.api.faults.lose_response(verb, user):
            code = 500  # applied, but the caller never learns it
            doc = ApiError(500, "InternalError", "injected fault: response lost").status()
        audit(code, rv)
        headers = {"Warning": ", ".join(_warning(w) for w in warnings)} if warnings else None
        version = self._table() if verb in ("get", "list") and code == 200 else None
        if version is not None:
            items = doc["items"] if verb == "list" else [doc]
            include = query.get("includeObject", "Metadata")
            doc = table(r.t, items, rv, include, f"meta.k8s.io/{version}")
        self._send(code, doc, headers)

    def _watch(self, r: Route, query: dict[str, str], user: str) -> None:
        shown = view(r.t)
        match = selector_match(query.get("labelSelector"), query.get("fieldSelector"), shown)
        initial = query.get("sendInitialEvents") == "true"
        timeout = float(query.get("timeoutSeconds") or 1800)
        drop_after = self.api.faults.drop_watches_after(user)
        started = time.monotonic()
        store = self.api.store
        with store.changed:
            since_text = query.get("resourceVersion") or "0"
            since = int(since_text) if since_text.isdigit() else 0
            pending: list[tuple[str, Obj]] = []
            if since == 0 or initial:  # a watch list starts with the current state
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
        version, include = self._table(), query.get("includeObject", "Metadata")
        first = [True]

        def event(kind: str, obj: Obj) -> Obj:
            if version is None or kind == "ERROR":
                return {"type": kind, "object": obj}
            rv = str(obj["metadata"].get("resourceVersion", ""))
            shown = table(r.t, [obj], rv, include, f"meta.k8s.io/{version}", first[0])
            first[0] = False
            return {"type": kind, "object": shown}

        for kind, obj in pending:
            self._chunk(event(kind, obj))
        if initial:  # the end of the initial events, which a watch-list client waits for
            end = {"resourceVersion": str(since), "annotations": {INITIAL_END: "true"}}
            bookmark = {"apiVersion": r.t.api_version(r.version), "kind": r.t.kind}
            self._chunk({"type": "BOOKMARK", "object": {**bookmark, "metadata": end}})
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
                self._chunk(event(kind, obj))
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
