"""The endpoint of Slack's interactive buttons (``--slack-interactive``, off by default):
a click that passes :class:`rollout.notify.interactive.Gate` (signature, age, replay,
the user allowed in the namespace) becomes the CLI's own command patch on the Rollout,
and the thread is told who did what. Everything else is refused and counted in
``meshrollout_slack_interactions_total{result}``; nothing is written for a refusal.

A button carries its rollout's uid and run: a click on a finished release, on an older
run or on a rollout deleted and created again acts on nothing ("stale"). The answer
to Slack goes to the ``response_url`` of the signed payload, only if it starts with the
configured prefix (Slack's hooks), so a payload cannot make the controller call
anywhere else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
import structlog
from prometheus_client import CollectorRegistry, Counter

from rollout.kube import KubeError, NotFound, RolloutClient
from rollout.kube.rollouts import command_patch
from rollout.model import TERMINAL_PHASES
from rollout.notify.interactive import Click, Gate, Refusal

log = structlog.get_logger("meshrollout.interactive")
PATH = "/slack/interactive"
MAX_BODY = 64 * 1024
UNAUTHENTICATED = frozenset({"signature", "timestamp", "replay"})


class Interactions:
    """Acts on clicks that passed the gate: one command patch and one reply each."""

    def __init__(
        self,
        gate: Gate,
        rollouts: RolloutClient,
        registry: CollectorRegistry,
        response_prefix: str = "https://hooks.slack.com/",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gate, self.rollouts, self.clock = gate, rollouts, clock
        self.response_prefix = response_prefix
        self.results = Counter(
            "meshrollout_slack_interactions",
            "Slack button clicks by result (accepted, or why refused).",
            ["result"],
            registry=registry,
        )

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """The HTTP status and text for one request; counts its result."""
        try:
            click = self.gate.check(headers, body, self.clock())
            self._act(click)
        except Refusal as refusal:
            why = str(refusal)
            self.results.labels(why).inc()
            log.warning("slack interaction refused", reason=why)
            return (401 if why in UNAUTHENTICATED else 403), f"refused: {why}"
        self.results.labels("accepted").inc()
        self._reply(click)
        return 200, ""

    def _act(self, click: Click) -> None:
        try:
            rollout = self.rollouts.get(click.namespace, click.name)
        except NotFound:
            raise Refusal("stale") from None
        except KubeError:
            raise Refusal("unavailable") from None
        status = rollout.get("status") or {}
        if (
            str(rollout["metadata"].get("uid", "")) != click.uid
            or status.get("run") != click.run
            or status.get("phase") in TERMINAL_PHASES
        ):
            raise Refusal("stale")
        try:
            # The id is the click's: the same click replayed to another replica (each keeps
            # its own memory of signatures) writes the same command, handled once.
            patch = command_patch(click.action, click.id)
            self.rollouts.patch_spec(click.namespace, click.name, patch)
        except KubeError:
            raise Refusal("unavailable") from None
        log.info(
            "slack interaction",
            user=click.user,
            action=click.action,
            rollout=f"{click.namespace}/{click.name}",
        )

    def _reply(self, click: Click) -> None:
        """Who did what, in the release's thread (best effort: the command is written)."""
        if not click.response_url.startswith(self.response_prefix):
            return
        message: dict[str, Any] = {
            "response_type": "in_channel",
            "replace_original": False,
            "thread_ts": click.thread_ts,
            "text": click.reply(),
        }
        try:
            requests.post(click.response_url, json=message, timeout=5)
        except requests.RequestException as error:
            log.warning("could not answer in the thread", error=type(error).__name__)


class InteractiveServer:
    """Serves :data:`PATH` on its own port and thread (the chart exposes it when enabled)."""

    def __init__(self, interactions: Interactions, host: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 http.server's
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != PATH or length > MAX_BODY:
                    code, text = 404, "not found"
                else:
                    body = self.rfile.read(length)
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    code, text = interactions.handle(headers, body)
                raw = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> InteractiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
