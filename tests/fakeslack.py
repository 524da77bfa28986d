"""A local HTTP receiver posing as Slack's Web API, an incoming webhook and a generic
webhook: it records every payload, and can answer 429/500 or be down for a while.
File uploads follow Slack's external upload (``files.getUploadURLExternal``, the bytes
POSTed to the URL it gave, ``files.completeUploadExternal``); :attr:`FakeSlack.uploads`
holds each file's name, thread and bytes, and a thread's replies list its files."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeSlack:
    """Call :meth:`start`. ``api_url`` is for WebClient; ``hook_url``, ``json_url`` for webhooks."""

    calls: list[Call] = field(default_factory=list)
    forced: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: int = 0
    groups: dict[str, list[str]] = field(default_factory=dict)
    """User group id → its members, for ``usergroups.users.list``."""
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    """File id → ``filename``, ``data`` (bytes) and, once completed, ``thread_ts``."""

    def files_in(self, thread: str) -> list[dict[str, Any]]:
        """The completed uploads shared in a thread."""
        with self._lock:
            return [u for u in self.uploads.values() if u.get("thread_ts") == thread]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXXSECRETHOOK"

    @property
    def json_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/generic?token=WEBHOOKSECRET"

    def force(self, path: str, *answers: tuple[int, dict[str, str]]) -> None:
        """Answer the next requests to ``path`` with these (status, headers) first."""
        self.forced.setdefault(path, []).extend(answers)

    def posted(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.body for c in self.calls if c.path == path]

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _serve(self, body: dict[str, Any]) -> None:
                path = urlsplit(self.path).path
                with fake._lock:
                    pending = fake.forced.get(path) or []
                    forced = pending.pop(0) if pending else None
                if forced is not None:
                    self._answer(forced[0], b'{"ok": false, "error": "forced"}', forced[1])
                    return
                with fake._lock:
                    fake.calls.append(Call(path, body, dict(self.headers)))
                    fake._ts += 1
                    ts = f"1700000000.{fake._ts:06d}"
                if path.endswith("conversations.replies"):
                    thread = body.get("ts")
                    replies = [
                        {"ts": "x", "metadata": c.body.get("metadata")}
                        for c in fake.calls
                        if c.path.endswith("chat.postMessage") and c.body.get("thread_ts") == thread
                    ]
                    replies += [
                        {"ts": "f", "files": [{"id": i, "name": u["filename"]}]}
                        for i, u in fake.uploads.items()
                        if u.get("thread_ts") == thread
                    ]
                    answer: dict[str, Any] = {"ok": True, "messages": replies}
                elif path.endswith("usergroups.users.list"):
                    answer = {"ok": True, "users": fake.groups.get(body.get("usergroup", ""), [])}
                elif path.endswith("files.getUploadURLExternal"):
                    file_id = f"F{ts.split('.')[1]}"
                    fake.uploads[file_id] = {"filename": body.get("filename"), "data": b""}
                    upload = f"http://127.0.0.1:{fake.port}/upload/{file_id}"
                    answer = {"ok": True, "file_id": file_id, "upload_url": upload}
                elif path.endswith("files.completeUploadExternal"):
                    shared = json.loads(body.get("files") or "[]")
                    for f in shared:
                        fake.uploads[f["id"]]["thread_ts"] = body.get("thread_ts")
                    answer = {"ok": True, "files": [{"id": f["id"]} for f in shared]}
                elif path.startswith("/api/"):
                    answer = {"ok": True, "ts": body.get("ts") or ts, "channel": "C1"}
                else:
                    self._answer(200, b"ok", {})
                    return
                self._answer(200, json.dumps(answer).encode(), {})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/upload/"):  # a file's bytes, as Slack's upload URL
                    with fake._lock:
                        fake.uploads[self.path.split("/")[-1]]["data"] = raw
                    self._answer(200, b"OK - uploaded", {})
                    return
                kind = self.headers.get("Content-Type", "")
                if "json" in kind:
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                self._serve(body)

            def do_GET(self) -> None:
                self._serve({k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, path: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.posted(path)) < count:
            assert time.monotonic() < deadline, f"{len(self.posted(path))} of {count} {path}"
            time.sleep(0.05)
        return self.posted(path)
