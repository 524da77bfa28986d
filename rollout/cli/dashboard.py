"""``rollout dashboard``: serve the local dashboard (``rollout.dashboard``) until Ctrl-C.

The URL with its random token is printed once (like Jupyter's); the server listens on
127.0.0.1 only and acts with the kubeconfig of the person who started it.
"""

from __future__ import annotations

import threading

import click

from rollout.cli.kubectl import Ctx, connection, out
from rollout.cli.undo import who
from rollout.kube import RoutingClient
from rollout.model import parse_duration


@click.command()
@click.option("-A", "--all-namespaces", is_flag=True, help="Show every namespace.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (default: any free).")
@click.option("--prometheus-url", help="Chart canary and stable from this Prometheus.")
@click.option(
    "--rate-window",
    default="1m",
    show_default=True,
    help="Window of the charts' rates (at least two scrape intervals).",
)
@connection
def dashboard(
    ctx: Ctx, all_namespaces: bool, port: int, prometheus_url: str | None, rate_window: str
) -> None:
    """Serve a live web page of the rollouts on 127.0.0.1: charts, evidence, buttons."""
    # Imported here: the web server and the charts are not loaded by the other commands.
    from rollout.analysis.prometheus import PrometheusSource
    from rollout.dashboard.server import Dashboard, Running

    window = max(1, round(parse_duration(rate_window).total_seconds()))
    board = Dashboard(
        ctx.rollouts(),
        RoutingClient(ctx.kube),
        None if all_namespaces else ctx.namespace,
        prometheus=PrometheusSource(prometheus_url) if prometheus_url else None,
        rate_window_s=window,
        user=who(ctx),  # an undo from the page says "<user> via dashboard", as the CLI's does
    )
    try:
        running = Running(board, port).start()
    except OSError as error:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error}") from None
    out.print(f"dashboard: {running.url}", highlight=False, markup=False, soft_wrap=True)
    out.print("(Ctrl-C stops it)", highlight=False, markup=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        running.stop()
