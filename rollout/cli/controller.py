"""``rollout controller``: run the long-running service until SIGTERM or SIGINT."""

from __future__ import annotations

import gc
import signal
import threading
from types import FrameType

import click

from rollout.analysis.prometheus import PrometheusSource
from rollout.controller.settings import Settings
from rollout.controller.telemetry import configure_logging
from rollout.controller.wiring import connect, serve_interactive
from rollout.kube import KubeClient, KubeError

GC_THRESHOLDS = (50_000, 50, 100)
"""The cyclic collector's generation thresholds (CPython's defaults: 700, 10, 10)."""


@click.command()
@click.option("--prometheus-url", help="Prometheus base URL.")
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these (repeatable).")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file.")
@click.option("--context", help="The kubeconfig context to use.")
@click.option("--in-cluster", is_flag=True, default=None, help="Use the pod's service account.")
@click.option("--identity", help="This replica's name in the lease (default: pod name).")
@click.option("--lease-name", help="The Lease used for leader election.")
@click.option("--lease-namespace", help="The Lease's namespace.")
@click.option("--no-leader-election", "leader_election", flag_value=False, default=None)
@click.option(
    "--shards", type=int, help="Share the rollouts among the replicas on this many shard Leases."
)
@click.option("--lease-duration", "lease_duration_s", type=float)
@click.option("--renew-deadline", "renew_deadline_s", type=float)
@click.option("--retry-period", "retry_period_s", type=float)
@click.option("--tick", "tick_s", type=float, help="Seconds between evaluation rounds.")
@click.option("--workers", type=int, help="Reconciles at once (default 8).")
@click.option(
    "--scrape-interval", "scrape_interval_s", type=float, help="Prometheus's scrape interval (s)."
)
@click.option("--metrics-port", type=int, help="Port of /metrics, /healthz and /readyz.")
@click.option("--secrets-namespace", help="Where notification Secrets live (default: own).")
@click.option(
    "--mtls-preflight",
    type=click.Choice(["off", "warn", "block"]),
    help="The minimum spec.preflight.mtls for every Rollout (the platform's choice).",
)
@click.option("--notifications-policy", help="JSON: namespace → allowed channels and keys.")
@click.option("--slack-base-url", help="Slack's Web API base URL (a local receiver in tests).")
@click.option(
    "--slack-interactive/--no-slack-interactive",
    default=None,
    help="Buttons on Slack thread heads and their endpoint (off by default).",
)
@click.option("--slack-interactive-port", type=int, help="Port of /slack/interactive (8081).")
@click.option("--slack-signing-secret", help="NAME/KEY of the Secret with the signing secret.")
@click.option("--slack-allowed-users", help="JSON: namespace or '*' → allowed Slack user IDs.")
@click.option("--slack-groups-token", help="NAME/KEY of a bot token to read user groups.")
@click.option("--slack-response-prefix", help="Where click answers may go (Slack's hooks).")
@click.option("--log-level")
@click.option("--log-format", type=click.Choice(["json", "console"]))
def controller(**flags: object) -> None:
    """Run the controller (flags override ROLLOUT_* environment variables)."""
    given = {k: v for k, v in flags.items() if v not in (None, ())}
    if "namespaces" in given:
        given["namespaces"] = list(given["namespaces"])  # type: ignore[call-overload]
    settings = Settings(**given)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    try:
        kube = KubeClient.connect(
            settings.kubeconfig, settings.context, settings.identity, settings.in_cluster
        )
    except KubeError as error:
        raise click.ClickException(str(error)) from error
    source = PrometheusSource(settings.prometheus_url, timeout_s=settings.prometheus_timeout_s)
    service = connect(settings, kube, source)
    done = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    health = service.serve_health()
    try:
        interactive = serve_interactive(settings, kube, service.metrics.registry)
    except KubeError as error:
        health.stop()
        raise click.ClickException(f"slack interactivity: {error}") from error
    # The process holds every Rollout and its mesh documents, so each full collection
    # walks all of them: rarer collections (and none of the start-up's objects) took
    # CPU per cycle at 1,000 rollouts from about 4 s to 3 (`python -m bench scale`).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    service.start()
    done.wait()
    service.stop()
    if interactive is not None:
        interactive.stop()
    health.stop()
