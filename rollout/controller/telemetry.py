"""The controller's own metrics (prometheus_client), logs (structlog) and health endpoints.

``/metrics`` for Prometheus, ``/healthz`` (the process works) and ``/readyz``
(it has synced its caches) for the kubelet. Logs are JSON in the cluster and
readable in a terminal; a reconcile binds its rollout to every line.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    """Every series the controller exports, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rollouts = Gauge("meshrollout_rollouts", "Rollouts by phase.", ["phase"], registry=r)
        self.canary_weight = Gauge(
            "meshrollout_canary_weight",
            "Canary weight in percent.",
            ["namespace", "rollout"],
            registry=r,
        )
        self.verdicts = Counter(
            "meshrollout_verdicts", "Verdicts by outcome.", ["outcome"], registry=r
        )
        self.rollbacks = Counter("meshrollout_rollbacks", "Rollouts rolled back.", registry=r)
        self.reconcile_seconds = Histogram(
            "meshrollout_reconcile_duration_seconds",
            "Time to reconcile one Rollout.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.prometheus_errors = Counter(
            "meshrollout_prometheus_errors",
            "Evaluation cycles Prometheus could not answer.",
            registry=r,
        )
        self.api_errors = Counter(
            "meshrollout_kube_api_errors", "Kubernetes API errors.", ["kind"], registry=r
        )
        self.notify_errors = Counter(
            "meshrollout_notification_errors",
            "Failed notification attempts.",
            ["channel"],
            registry=r,
        )
        self.is_leader = Gauge("meshrollout_leader", "1 while this replica leads.", registry=r)
        self.rollout_failures = Counter(
            "meshrollout_rollout_failures",
            "Unexpected errors caught at one rollout's boundary (kept to that rollout).",
            ["stage", "kind"],
            registry=r,
        )
        self.thread_restarts = Counter(
            "meshrollout_thread_restarts",
            "Long-lived loops restarted after an unexpected error.",
            ["thread"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """structlog to stderr: JSON lines (``json``) or coloured text (``console``)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class HealthServer:
    """Serves /metrics, /healthz and /readyz on its own thread."""

    def __init__(
        self,
        metrics: Metrics,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        host: str,
        port: int,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 http.server's
                return

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, kind, code = metrics.render(), CONTENT_TYPE_LATEST, 200
                elif self.path in ("/healthz", "/readyz"):
                    ok = healthy() if self.path == "/healthz" else ready()
                    body, kind, code = (
                        (b"ok" if ok else b"not yet"),
                        "text/plain",
                        (200 if ok else 503),
                    )
                else:
                    body, kind, code = b"not found", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.port = int(self.httpd.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
