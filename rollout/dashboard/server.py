"""The dashboard's web server (aiohttp) on 127.0.0.1, acting with the user's kubeconfig.

Kubernetes RBAC decides what a person sees and may do: every read and write is the
user's own request, through the CLI's client. What the server adds is that no other
web page can use it: every request needs the random token printed at start (compared
in constant time) and a ``Host`` that is this server (no DNS rebinding); a write also
needs an ``Origin`` that is this server and the ``X-Rollout-CSRF`` header, which a form
or a cross-site fetch cannot send without a CORS preflight that we never answer. Pages
carry a content security policy (only our own script, by nonce), no framing and no
referrer (the token is in the URL). Each refusal is counted in :attr:`Dashboard.refused`.
"""

from __future__ import annotations

import asyncio
import getpass
import hmac
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from rollout.analysis.prometheus import PrometheusError, PrometheusSource
from rollout.analysis.promql import Refused
from rollout.analysis.series import (
    SeriesAsk,
    error_ratio_query,
    matrix_points,
    p99_query,
    range_step,
)
from rollout.dashboard.pages import list_fragment, rollout_fragment, shell
from rollout.dashboard.timeline import Points, Recorder, Timeline, status_of, timeline
from rollout.engine.after import undo_refusal
from rollout.kube import KubeError, NotFound, RolloutClient, RoutingClient
from rollout.kube.errors import Forbidden
from rollout.kube.rollouts import USER_COMMANDS, command_patch, undo_patch
from rollout.mesh import service_name, subset_version

Doc = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSRF_HEADER = "X-Rollout-CSRF"
TOKEN_HEADER = "X-Rollout-Token"
NONCE = web.RequestKey("nonce", str)


class Dashboard:
    """The pages and the API for the rollouts of one namespace (or of all of them)."""

    def __init__(
        self,
        rollouts: RolloutClient,
        routing: RoutingClient | None,
        namespace: str | None,
        token: str | None = None,
        prometheus: PrometheusSource | None = None,
        rate_window_s: int = 60,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        user: str = "",
    ) -> None:
        self.rollouts, self.routing, self.namespace = rollouts, routing, namespace
        # Who the undo's message names ("<user> via dashboard"), as the CLI names its user.
        self.user = user or getpass.getuser()
        self.token = token or secrets.token_urlsafe(24)
        self.prometheus, self.rate_window_s, self.now = prometheus, rate_window_s, now
        self.recorder = Recorder()
        self.port = 0
        self.refused: Counter[str] = Counter()
        self._versions: dict[tuple[str, str, str], tuple[str, str]] = {}

    # -- who may ask ---------------------------------------------------------------------
    def _hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def refusal(self, request: web.Request) -> str | None:
        """Why this request is refused (None: it may go on)."""
        if request.host not in self._hosts():
            return "host"
        given = request.query.get("token") or request.headers.get(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "token"
        if request.method in ("GET", "HEAD"):
            return None
        if request.method != "POST":
            return "method"
        if request.headers.get("Origin") not in {f"http://{h}" for h in self._hosts()}:
            return "origin"
        if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            return "origin"
        if request.headers.get(CSRF_HEADER) != "1":
            return "csrf"
        return None

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        why = self.refusal(request)
        if why is not None:
            self.refused[why] += 1
            return web.json_response({"message": f"refused ({why})"}, status=403)
        nonce = secrets.token_urlsafe(12)
        request[NONCE] = nonce
        response = await handler(request)
        response.headers.update(
            {
                "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; "
                "style-src 'unsafe-inline'; img-src data:; connect-src 'self'; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            }
        )
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/", self.index)
        app.router.add_get("/r/{ns}/{name}", self.rollout_page)
        app.router.add_get("/api/rollouts", self.api_list)
        app.router.add_get("/api/rollouts/{ns}/{name}", self.api_rollout)
        app.router.add_post("/api/rollouts/{ns}/{name}/{action}", self.command)
        return app

    # -- reads ---------------------------------------------------------------------------
    def home(self) -> str:
        return f"/?token={self.token}"

    def scope(self) -> str:
        return f"namespace {self.namespace}" if self.namespace else "all namespaces"

    def _in_scope(self, namespace: str) -> bool:
        return self.namespace is None or namespace == self.namespace

    async def _list(self) -> list[Doc]:
        items, _ = await asyncio.to_thread(self.rollouts.list, self.namespace)
        for item in items:
            self.recorder.see(item)
        return items

    async def _one(self, request: web.Request) -> tuple[Doc, Timeline]:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        if not self._in_scope(namespace):
            raise web.HTTPNotFound(text=f"{namespace} is not shown here ({self.scope()})")
        try:
            rollout = await asyncio.to_thread(self.rollouts.get, namespace, name)
        except NotFound:
            raise web.HTTPNotFound(text=f"no rollout {name} in {namespace}") from None
        verdicts = self.recorder.see(rollout)
        now = self.now()
        line = timeline(rollout, now, verdicts)
        if self.prometheus is not None and line.start is not None:
            try:
                series = await asyncio.to_thread(self._prometheus_series, rollout, line)
                line = timeline(rollout, now, verdicts, series)
            except (PrometheusError, KubeError, Refused) as error:
                line.problem = f"Prometheus: {error}"
        return rollout, line

    def _page(self, request: web.Request, title: str, fragment: str) -> web.Response:
        if request.headers.get("X-Fragment") == "1":
            return web.Response(text=fragment, content_type="text/html")
        page = shell(title, fragment, request[NONCE], self.scope(), self.home())
        return web.Response(text=page, content_type="text/html")

    async def index(self, request: web.Request) -> web.Response:
        return self._page(request, "rollouts", list_fragment(await self._list(), self.token))

    async def rollout_page(self, request: web.Request) -> web.Response:
        rollout, line = await self._one(request)
        name = rollout["metadata"]["name"]
        fragment = rollout_fragment(rollout, line, self.home(), self.now())
        return self._page(request, f"rollout {name}", fragment)

    async def api_list(self, _request: web.Request) -> web.Response:
        items = await self._list()
        return web.json_response({"items": items})

    async def api_rollout(self, request: web.Request) -> web.Response:
        rollout, line = await self._one(request)
        return web.json_response({"rollout": rollout, "series": line.series()})

    # -- writes --------------------------------------------------------------------------
    async def command(self, request: web.Request) -> web.Response:
        """A button: the same spec patch as the CLI's command of that name (an undo only
        when the engine would carry it out, as far as the status tells)."""
        namespace, name = request.match_info["ns"], request.match_info["name"]
        action = request.match_info["action"]
        if action not in USER_COMMANDS and action != "undo":
            return web.json_response({"message": f"no command {action}"}, status=404)
        if not self._in_scope(namespace):
            return web.json_response({"message": f"{namespace} is not shown here"}, status=404)
        try:
            rollout = await asyncio.to_thread(self.rollouts.get, namespace, name)
            if action == "undo":
                why = undo_refusal(status_of(rollout))
                if why is not None:
                    return web.json_response({"message": f"undo refused: {why}"}, status=409)
                patch = undo_patch(f"{self.user} via dashboard")
            else:
                patch = command_patch(action)
            await asyncio.to_thread(self.rollouts.patch_spec, namespace, name, patch)
        except NotFound:
            return web.json_response({"message": f"no rollout {name}"}, status=404)
        except Forbidden as error:
            return web.json_response({"message": str(error)}, status=403)
        except KubeError as error:
            return web.json_response({"message": str(error)}, status=502)
        return web.json_response({"message": f"rollout {name}: {action} requested"})

    # -- Prometheus ----------------------------------------------------------------------
    def _roles(self, rollout: Doc) -> tuple[str, str]:
        """The canary's and stable's ``destination_version`` (from the DestinationRule's
        subset labels, as the controller reads them; the subset names if unreadable)."""
        meta, spec = rollout["metadata"], rollout.get("spec") or {}
        stable, canary = str(spec.get("stableSubset", "")), str(spec.get("canarySubset", ""))
        key = (meta["namespace"], meta["name"], f"{stable}>{canary}")
        if key not in self._versions and self.routing is not None:
            try:
                dr = self.routing.find_destination_rule(
                    meta["namespace"], str(spec.get("service", "")), spec.get("destinationRule")
                )
                found = (subset_version(dr, canary) or canary, subset_version(dr, stable) or stable)
            except KubeError:
                found = (canary, stable)
            self._versions[key] = found
        return self._versions.get(key, (canary, stable))

    def _prometheus_series(
        self, rollout: Doc, line: Timeline
    ) -> tuple[dict[str, Points], dict[str, Points]]:
        assert self.prometheus is not None
        assert line.start is not None
        spec, namespace = rollout.get("spec") or {}, rollout["metadata"]["namespace"]
        canary, stable = self._roles(rollout)
        analysis = spec.get("analysis") or {}
        ask = SeriesAsk(
            namespace,
            service_name(str(spec.get("service", ""))),
            canary,
            stable,
            self.rate_window_s,
            analysis.get("requestsMetric", SeriesAsk.requests_metric),
            analysis.get("latencyMetric", SeriesAsk.latency_metric),
        )
        start = line.start
        end = datetime.fromtimestamp(start.timestamp() + max(line.end, 1.0), UTC)
        found = []
        for query in (error_ratio_query(ask), p99_query(ask)):
            result = self.prometheus.query_range(query, start, end, range_step(line.end))
            found.append(matrix_points(result, start, ask.roles()))
        return found[0], found[1]


class Running:
    """A dashboard served on its own thread (``rollout dashboard`` and the tests)."""

    def __init__(self, dashboard: Dashboard, port: int = 0) -> None:
        self.dashboard = dashboard
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))  # never another interface: the token is the lock
        dashboard.port = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        """The address to open, token included: printed once, like Jupyter's."""
        return f"http://127.0.0.1:{self.dashboard.port}{self.dashboard.home()}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner = web.AppRunner(self.dashboard.app(), access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, self.sock)
        self.loop.run_until_complete(site.start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def start(self) -> Running:
        self.thread.start()
        self._ready.wait(timeout=10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def __enter__(self) -> Running:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
