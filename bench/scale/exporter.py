"""The scale benchmark's one exporter process: Istio-shaped series for every version.

``python -m bench.scale.exporter --versions FILE --port-file PATH`` serves
``/metrics`` for all 2N versions of the benchmark (``istio_requests_total`` by
``response_code`` and ``istio_request_duration_milliseconds_bucket``, with Istio's
labels and buckets), counters growing with each version's rate, for a real
Prometheus to scrape. A line ``NAMESPACE SERVICE VERSION ERROR_RATE`` on stdin
changes one version's 5xx share from then on (the benchmark's regression).

Written as plain exposition text, not through ``prometheus_client``'s collectors:
at a thousand services a scrape is some 50,000 lines, and this keeps the
exporter's share of the two cores small next to the controller being measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from meshlab.istio_metrics import ISTIO_BUCKETS_MS, Load

BOUNDS = [f"{float(b):g}" if b < 1e5 else f"{float(b):.1f}" for b in ISTIO_BUCKETS_MS]


@dataclass
class Series:
    """One version's counters, integrated from its rate at every scrape."""

    namespace: str
    service: str
    version: str
    rps: float
    error_rate: float = 0.0
    requests: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(ISTIO_BUCKETS_MS))
    shares: list[float] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        load = Load(self.rps, median_ms=20.0)
        self.shares = [load.below(b) for b in ISTIO_BUCKETS_MS]
        self.labels = (
            f'reporter="destination",destination_service_namespace="{self.namespace}",'
            f'destination_service_name="{self.service}",destination_version="{self.version}",'
            f'destination_workload="{self.service}-{self.version}"'
        )

    def advance(self, now: float) -> None:
        n = self.rps * max(0.0, now - self.last)
        self.last = now
        self.requests += n
        self.errors += n * self.error_rate
        for i, share in enumerate(self.shares):
            self.buckets[i] += n * share

    def text(self, out: list[str]) -> None:
        lab = self.labels
        out.append(
            f'istio_requests_total{{{lab},response_code="200"}} {self.requests - self.errors}'
        )
        out.append(f'istio_requests_total{{{lab},response_code="503"}} {self.errors}')
        for bound, count in zip(BOUNDS, self.buckets, strict=True):
            out.append(f'istio_request_duration_milliseconds_bucket{{{lab},le="{bound}"}} {count}')
        out.append(f'istio_request_duration_milliseconds_bucket{{{lab},le="+Inf"}} {self.requests}')
        out.append(f"istio_request_duration_milliseconds_count{{{lab}}} {self.requests}")
        out.append(f"istio_request_duration_milliseconds_sum{{{lab}}} {self.requests * 20.0}")


class Exporter:
    """All the series, and a lock so a fault and a scrape never interleave."""

    def __init__(self, series: list[Series]) -> None:
        self.series = {(s.namespace, s.service, s.version): s for s in series}
        self.lock = threading.Lock()
        self.scrapes = 0

    def render(self) -> bytes:
        now = time.monotonic()
        out = [
            "# TYPE istio_requests_total counter",
            "# TYPE istio_request_duration_milliseconds histogram",
        ]
        with self.lock:
            for s in self.series.values():
                s.advance(now)
                s.text(out)
            self.scrapes += 1
        return ("\n".join(out) + "\n").encode()

    def fault(self, namespace: str, service: str, version: str, error_rate: float) -> None:
        with self.lock:
            s = self.series[(namespace, service, version)]
            s.advance(time.monotonic())  # what was served before now keeps its old share
            s.error_rate = error_rate


def serve(exporter: Exporter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.render() if self.path.startswith("/metrics") else b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale.exporter")
    parser.add_argument("--versions", type=Path, required=True, help="JSON: [[ns, svc, v, rps]]")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = json.loads(args.versions.read_text())
    exporter = Exporter([Series(ns, svc, v, float(rps)) for ns, svc, v, rps in rows])
    httpd = serve(exporter)
    args.port_file.write_text(str(httpd.server_address[1]))
    for line in sys.stdin:  # until the benchmark closes our stdin
        parts = line.split()
        if len(parts) == 4:
            exporter.fault(parts[0], parts[1], parts[2], float(parts[3]))
            print("ok", flush=True)
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
