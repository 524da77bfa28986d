"""A service version for the lab: answers every request, with a settable share of 503s
and a settable latency (log-normal around a median).

``python -m meshlab.backend --port P --version v2`` runs one process; the lab
starts two per version so Envoy's outlier detection has hosts to eject.
``POST /_lab/health {"errorRate": 0.3, "latencyMs": 200}`` changes it live;
``GET /_lab/ready`` is its readiness probe (``meshlab.pods``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any


class Health:
    """The behaviour of this backend, changeable while it runs."""

    def __init__(self, error_rate: float = 0.0, latency_ms: float = 20.0) -> None:
        self.error_rate, self.latency_ms = error_rate, latency_ms
        self.lock = threading.Lock()
        self.random = random.Random()

    def draw(self) -> tuple[bool, float]:
        with self.lock:
            failed = self.random.random() < self.error_rate
            seconds = self.latency_ms / 1000 * math.exp(0.4 * self.random.gauss(0, 1))
        return failed, seconds


def make_handler(version: str, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/_lab/ready":  # the readiness probe: up, whatever its health
                self._reply(200, b"ready\n")
                return
            failed, seconds = health.draw()
            time.sleep(seconds)
            self._reply(503 if failed else 200, f"{version}\n".encode())

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/_lab/health":
                self._reply(404, b"not found\n")
                return
            change = json.loads(raw or b"{}")
            with health.lock:
                health.error_rate = float(change.get("errorRate", health.error_rate))
                health.latency_ms = float(change.get("latencyMs", health.latency_ms))
            self._reply(200, b"ok\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshlab.backend")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        make_handler(args.version, Health(args.error_rate, args.latency_ms)),
    )
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
