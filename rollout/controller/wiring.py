"""The real adapters behind the controller's ports, built from its settings.

``connect(settings, kube, source)`` is what ``rollout controller`` runs: the
Kubernetes adapter for rollouts, the mesh, workloads, Events, Secrets, leases
and watches; the notification queue with its channels and the platform's
policy; Prometheus as the source. Tests build a :class:`Controller` from the
fakes in ``rollout.controller.fakes`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.series import (
    Points,
    SeriesAsk,
    error_ratio_query,
    matrix_points,
    p99_query,
    range_step,
)
from rollout.controller.interactive import Interactions, InteractiveServer
from rollout.controller.loop import Controller
from rollout.controller.ports import AlwaysLeader, Handler, Leader, Notifier, Source, Watch
from rollout.controller.reconcile import Reconciler
from rollout.controller.settings import Settings
from rollout.controller.telemetry import Metrics
from rollout.controller.workqueue import WorkQueue
from rollout.kube import (
    EventRecorder,
    KubeClient,
    LeaderElector,
    LeaseTiming,
    RolloutClient,
    RoutingClient,
    Watcher,
    WorkloadClient,
)
from rollout.kube.cache import CachedRollouts, CachedRouting, ObjectCache
from rollout.kube.gateway import GatewayClient
from rollout.kube.resources import ROLLOUTS, destination_rules, virtual_services
from rollout.kube.scaling import ScalingClient
from rollout.kube.secrets import KubeSecrets
from rollout.kube.shards import ShardLeases
from rollout.mesh import service_name, subset_version
from rollout.model import SecretKeyRef
from rollout.notify import ChannelFactory, QueueNotifier
from rollout.notify.interactive import Gate, GroupMembers
from rollout.notify.messages import Release


@dataclass
class _WatchHandle:
    """A running :class:`Watcher` as the controller's Watch port."""

    watcher: Watcher

    def alive(self) -> bool:
        return self.watcher.alive()

    def stop(self) -> None:
        self.watcher.stopping.set()  # it ends with its current stream; nobody waits for it

    def synced(self) -> bool:
        return self.watcher.synced()


@dataclass
class KubeWatches:
    """Watches through the Kubernetes API, for the three kinds the controller follows;
    each feeds its kind's watch cache before the controller hears of the change."""

    kube: KubeClient
    istio_version: str
    timeout_s: int
    caches: dict[str, ObjectCache] = field(default_factory=dict)

    def watch(self, kind: str, handler: Handler, namespace: str | None) -> Watch:
        resource = {
            "rollouts": ROLLOUTS,
            "virtualservices": virtual_services(self.istio_version),
            "destinationrules": destination_rules(self.istio_version),
        }[kind]
        cache = self.caches.setdefault(kind, ObjectCache())

        def cached(event: str, obj: dict[str, Any]) -> None:
            echo = cache.event(event, obj)
            # A Rollout coming back exactly as our reconcile wrote it is not news: that
            # reconcile already acted on it (half the reconciles at a thousand rollouts).
            # Mesh documents always are: their echo is what starts a step's clock.
            if not (echo and kind == "rollouts"):
                handler(event, obj)

        def listed(items: list[dict[str, Any]]) -> None:
            cache.listed(items, namespace)

        watcher = Watcher(
            self.kube, resource, cached, namespace, self.timeout_s, on_list=listed
        ).start()
        return _WatchHandle(watcher)


@dataclass
class PrometheusSeries:
    """A release's canary and stable 5xx ratio and P99 over its run, for the picture
    posted when it ends (``notify.picture.MetricSeries``); called on the delivery thread."""

    source: PrometheusSource
    routing: RoutingClient
    window_s: int

    def __call__(self, release: Release) -> tuple[dict[str, Points], dict[str, Points]] | None:
        line = release.weights
        if line is None or line.start is None:
            return None
        dr = self.routing.find_destination_rule(release.namespace, release.service)
        ask = SeriesAsk(
            release.namespace,
            service_name(release.service),
            subset_version(dr, release.canary) or release.canary,
            subset_version(dr, release.stable) or release.stable,
            self.window_s,
        )
        end = line.start + timedelta(seconds=max(line.end, 1.0))
        found = [
            matrix_points(
                self.source.query_range(query, line.start, end, range_step(line.end)),
                line.start,
                ask.roles(),
            )
            for query in (error_ratio_query(ask), p99_query(ask))
        ]
        return found[0], found[1]


def connect(
    settings: Settings,
    kube: KubeClient,
    source: Source,
    notifier: Notifier | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Controller:
    """A controller on the real adapters (``notifier`` replaces the Slack/webhook queue)."""
    s = settings
    metrics, queue = Metrics(), WorkQueue()
    delivery: QueueNotifier | None = None
    routing = RoutingClient(kube, s.istio_version)
    if notifier is None:
        # Rates over four scrapes (at least 5 s): enough samples for rate() in every window.
        window = max(5, round(4 * s.scrape_interval_s))
        series = PrometheusSeries(PrometheusSource(s.prometheus_url), routing, window)
        factory = ChannelFactory(
            KubeSecrets(kube, s.secrets_namespace),
            s.slack_base_url,
            s.notifications_policy,
            series,
            s.slack_interactive,
        )
        notifier = delivery = QueueNotifier(
            factory,
            on_delivered=queue.put,
            on_error=lambda channel: metrics.notify_errors.labels(channel).inc(),
        )
    leader: Leader = AlwaysLeader()
    timing = LeaseTiming(s.lease_duration_s, s.renew_deadline_s, s.retry_period_s)
    if s.shards:
        leader = ShardLeases(kube, s.lease_namespace, s.lease_name, s.identity, s.shards, timing)
    elif s.leader_election:
        leader = LeaderElector(kube, s.lease_namespace, s.lease_name, s.identity, timing)
    # Reconciles read the watches' caches; GETs only to recover (rollout.kube.cache).
    caches = {kind: ObjectCache() for kind in ("rollouts", "virtualservices", "destinationrules")}
    mesh = CachedRouting(routing, caches["virtualservices"], caches["destinationrules"])
    reconciler = Reconciler(
        CachedRollouts(RolloutClient(kube), caches["rollouts"]),
        mesh,
        WorkloadClient(kube, routing.version),
        EventRecorder(kube, s.identity),
        notifier,
        leader,
        clock,
        mtls_floor=s.mtls_preflight,
        scrape_interval_s=s.scrape_interval_s,
        scaling=ScalingClient(kube, routing.version),
        gateways=GatewayClient(kube, routing),
    )
    watches = KubeWatches(kube, routing.version, s.watch_timeout_s, caches)
    return Controller(s, reconciler, source, leader, watches, metrics, queue, clock, delivery)


def serve_interactive(
    settings: Settings, kube: KubeClient, registry: CollectorRegistry
) -> InteractiveServer | None:
    """Slack's button endpoint when ``slack_interactive`` is on (the signing secret is read
    from the controller's namespace now: a missing one stops the start, said plainly)."""
    s = settings
    if not s.slack_interactive:
        return None
    secrets = KubeSecrets(kube, s.secrets_namespace)
    name, key = s.slack_signing_secret.split("/", 1)
    secret = secrets.get(SecretKeyRef(name=name, key=key))
    members = None
    if s.slack_groups_token:
        name, key = s.slack_groups_token.split("/", 1)
        members = GroupMembers(secrets.get(SecretKeyRef(name=name, key=key)), s.slack_base_url)
    gate = Gate(secret, s.slack_allowed_users, members)
    interactions = Interactions(gate, RolloutClient(kube), registry, s.slack_response_prefix)
    return InteractiveServer(interactions, s.metrics_host, s.slack_interactive_port).start()


__all__ = ["KubeWatches", "PrometheusSeries", "connect", "serve_interactive"]
