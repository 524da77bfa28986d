"""The real adapters behind the controller's ports, built from its settings.

``connect(settings, kube, source)`` is what ``rollout controller`` runs: the
Kubernetes adapter for rollouts, the mesh, workloads, Events, Secrets, leases
and watches; the notification queue with its channels and the platform's
policy; Prometheus as the source. Tests build a :class:`Controller` from the
fakes in ``rollout.controller.fakes`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

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
from rollout.kube.gateway import GatewayClient
from rollout.kube.resources import ROLLOUTS, destination_rules, virtual_services
from rollout.kube.secrets import KubeSecrets
from rollout.notify import ChannelFactory, QueueNotifier


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
    """Watches through the Kubernetes API, for the three kinds the controller follows."""

    kube: KubeClient
    istio_version: str
    timeout_s: int

    def watch(self, kind: str, handler: Handler, namespace: str | None) -> Watch:
        resource = {
            "rollouts": ROLLOUTS,
            "virtualservices": virtual_services(self.istio_version),
            "destinationrules": destination_rules(self.istio_version),
        }[kind]
        watcher = Watcher(self.kube, resource, handler, namespace, self.timeout_s).start()
        return _WatchHandle(watcher)


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
    if notifier is None:
        factory = ChannelFactory(
            KubeSecrets(kube, s.secrets_namespace), s.slack_base_url, s.notifications_policy
        )
        notifier = delivery = QueueNotifier(
            factory,
            on_delivered=queue.put,
            on_error=lambda channel: metrics.notify_errors.labels(channel).inc(),
        )
    routing = RoutingClient(kube, s.istio_version)
    leader: Leader = AlwaysLeader()
    if s.leader_election:
        timing = LeaseTiming(s.lease_duration_s, s.renew_deadline_s, s.retry_period_s)
        leader = LeaderElector(kube, s.lease_namespace, s.lease_name, s.identity, timing)
    reconciler = Reconciler(
        RolloutClient(kube),
        routing,
        WorkloadClient(kube, routing.version),
        EventRecorder(kube, s.identity),
        notifier,
        leader,
        clock,
        mtls_floor=s.mtls_preflight,
        scrape_interval_s=s.scrape_interval_s,
        gateways=GatewayClient(kube, routing),
    )
    watches = KubeWatches(kube, routing.version, s.watch_timeout_s)
    return Controller(s, reconciler, source, leader, watches, metrics, queue, clock, delivery)


__all__ = ["KubeWatches", "connect"]
