"""The long-running controller: watches, a schedule of evaluations, one worker.

* Watches (Rollouts, VirtualServices, DestinationRules) put keys on a work
  queue, so spec edits, CLI commands and hand edits of the weights are acted
  on within a second.
* An APScheduler job ticks every ``tick_s``: it collects the rollouts whose
  evaluation is due, asks Prometheus for all of them in one batch, judges each,
  and queues the verdicts.
* One worker takes keys off the queue and reconciles them one at a time
  (``rollout.controller.reconcile``), only while this replica leads.
* SIGTERM: finish the reconcile in flight, stop, release the lease.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from rollout.analysis.evidence import sequential_judge
from rollout.analysis.judge import judge
from rollout.analysis.observations import Unavailable
from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.queries import Ask, Check
from rollout.controller.ports import AlwaysLeader, Fence, Notifier
from rollout.controller.reconcile import Reconciler, Result
from rollout.controller.settings import Settings
from rollout.controller.telemetry import HealthServer, Metrics
from rollout.kube import (
    Conflict,
    EventRecorder,
    KubeClient,
    KubeError,
    LeaderElector,
    LeaseTiming,
    MeshClient,
    NotLeader,
    RolloutClient,
    Watcher,
    WorkloadClient,
)
from rollout.kube.resources import ROLLOUTS, destination_rules, virtual_services
from rollout.model import Verdict, parse_duration
from rollout.notify import ChannelFactory, KubeSecrets, QueueNotifier

log = structlog.get_logger("meshrollout.controller")
Key = tuple[str, str]
EVALUATED = ("Progressing", "Paused")


class WorkQueue:
    """Keys to reconcile, each at most once in the queue; a verdict is never dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._order: list[Key] = []
        self._verdicts: dict[Key, Verdict | None] = {}

    def put(self, key: Key, verdict: Verdict | None = None) -> None:
        with self._cond:
            if key not in self._verdicts:
                self._order.append(key)
                self._verdicts[key] = verdict
            elif verdict is not None:
                self._verdicts[key] = verdict
            self._cond.notify()

    def get(self, timeout: float) -> tuple[Key, Verdict | None] | None:
        with self._cond:
            if not self._order:
                self._cond.wait(timeout)
            if not self._order:
                return None
            key = self._order.pop(0)
            return key, self._verdicts.pop(key)

    def __len__(self) -> int:
        with self._cond:
            return len(self._order)


@dataclass
class Known:
    """What the controller remembers of a rollout between reconciles."""

    result: Result
    next_evaluation: datetime | None = None
    step_key: tuple[int, int | None] = (0, None)


@dataclass
class Controller:
    """Wires the adapters, the reconciler, the schedule and the watches together."""

    settings: Settings
    kube: KubeClient
    source: PrometheusSource
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        s = self.settings
        self.metrics = Metrics()
        self.queue = WorkQueue()
        self._delivery: QueueNotifier | None = None
        if self.notifier is None:
            factory = ChannelFactory(KubeSecrets(self.kube, s.secrets_namespace), s.slack_base_url)
            self._delivery = QueueNotifier(
                factory,
                on_delivered=self.queue.put,
                on_error=lambda channel: self.metrics.notify_errors.labels(channel).inc(),
            )
            self.notifier = self._delivery
        self.mesh = MeshClient(self.kube, s.istio_version)
        self.elector: LeaderElector | None = None
        fence: Fence = AlwaysLeader()
        if s.leader_election:
            timing = LeaseTiming(s.lease_duration_s, s.renew_deadline_s, s.retry_period_s)
            self.elector = LeaderElector(
                self.kube, s.lease_namespace, s.lease_name, s.identity, timing
            )
            fence = self.elector
        self.reconciler = Reconciler(
            RolloutClient(self.kube),
            self.mesh,
            WorkloadClient(self.kube, self.mesh.version),
            EventRecorder(self.kube, s.identity),
            self.notifier,
            fence,
            self.clock,
        )
        self.keys: set[Key] = set()  # every Rollout the watches have shown us
        self.known: dict[Key, Known] = {}
        self.stopping = threading.Event()
        self.watchers: list[Watcher] = []
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._worker: threading.Thread | None = None

    # -- state ---------------------------------------------------------------------
    def leading(self) -> bool:
        return self.elector is None or self.elector.is_leader()

    def ready(self) -> bool:
        """Started, and every watch has listed once (the caches are warm)."""
        return bool(self.watchers) and all(w.relists > 0 for w in self.watchers)

    def healthy(self) -> bool:
        """The worker thread and the scheduler are alive (once started)."""
        if self._worker is None:
            return not self.stopping.is_set()  # still starting
        return self._worker.is_alive() and self.scheduler.running

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Controller:
        s = self.settings
        namespaces: list[str | None] = list(s.namespaces) or [None]
        version = self.mesh.version
        for ns in namespaces:
            self.watchers.append(
                Watcher(self.kube, ROLLOUTS, self._on_rollout, ns, s.watch_timeout_s).start()
            )
            for res in (virtual_services(version), destination_rules(version)):
                self.watchers.append(
                    Watcher(self.kube, res, self._on_mesh, ns, s.watch_timeout_s).start()
                )
        if self.elector is not None:
            self.elector.start(on_started=self._on_leading, on_stopped=self._on_stopped_leading)
        self.scheduler.add_job(
            self.tick, "interval", seconds=s.tick_s, max_instances=1, coalesce=True, id="evaluate"
        )
        self.scheduler.add_job(
            self.resync, "interval", seconds=s.resync_s, max_instances=1, coalesce=True, id="resync"
        )
        self.scheduler.start()
        self._worker = threading.Thread(target=self.work, name="worker", daemon=True)
        self._worker.start()
        if self._delivery is not None:
            self._delivery.start()
        log.info("controller started", identity=s.identity, namespaces=s.namespaces or "all")
        return self

    def stop(self) -> None:
        """Graceful: no new work, the reconcile in flight finishes, the lease is released."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self._delivery is not None:
            self._delivery.stop()
        if self.elector is not None:
            self.elector.stopping.set()
            self.elector.release()
        for watcher in self.watchers:
            watcher.stopping.set()
        log.info("controller stopped")

    def serve_health(self) -> HealthServer:
        s = self.settings
        return HealthServer(
            self.metrics, self.healthy, self.ready, s.metrics_host, s.metrics_port
        ).start()

    # -- events --------------------------------------------------------------------
    def _on_rollout(self, kind: str, obj: dict[str, Any]) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if kind == "DELETED":
            self.keys.discard(key)
            if self.known.pop(key, None) is not None:
                with contextlib.suppress(KeyError):
                    self.metrics.canary_weight.remove(*key)
            return
        self.keys.add(key)
        self.queue.put(key)

    def _on_mesh(self, kind: str, obj: dict[str, Any]) -> None:
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        for key, known in list(self.known.items()):
            located = known.result.located
            if key[0] == namespace and (
                located is None or name in (located.vs_name, located.dr_name)
            ):
                self.queue.put(key)

    def _on_leading(self) -> None:
        self.metrics.is_leader.set(1)
        log.info("leading", identity=self.settings.identity)
        self.resync()

    def resync(self) -> None:
        """Queue every known Rollout (on gaining the lease, and now and then as a safety net)."""
        if self.leading():
            for key in list(self.keys):
                self.queue.put(key)

    def _on_stopped_leading(self) -> None:
        self.metrics.is_leader.set(0)
        log.warning("stopped leading", identity=self.settings.identity)

    # -- evaluations -----------------------------------------------------------------
    def tick(self) -> None:
        """Evaluate every due rollout in one batch and queue the verdicts."""
        if not self.leading() or self.stopping.is_set():
            return
        now = self.clock()
        due: list[tuple[Key, Known, Ask]] = []
        for key, known in list(self.known.items()):
            ask = self._ask(key, known, now)
            if ask is not None:
                due.append((key, known, ask))
        if not due:
            return
        observed = self.source.observe([a for _, _, a in due], now)
        for key, known, ask in due:
            result = observed[ask.key]
            if isinstance(result, Unavailable):
                self.metrics.prometheus_errors.inc()
            spec, status = known.result.spec, known.result.status
            assert spec is not None
            assert status.stage is not None
            if spec.analysis.judge == "sequential":
                verdict = sequential_judge(
                    result,
                    spec.analysis,
                    status.stage,
                    status.evidence,
                    spec.analysis.alpha,
                    step_started_at=ask.step_started_at,
                    scrape_interval_s=self.settings.scrape_interval_s,
                )
            else:
                verdict = judge(result, spec.analysis, status.stage)
            self.metrics.verdicts.labels(verdict.outcome).inc()
            known.next_evaluation = now + timedelta(seconds=ask.window_s)
            self.queue.put(key, verdict)
        if isinstance(next(iter(observed.values())), Unavailable):
            log.warning("prometheus unavailable", rollouts=len(due))

    def _ask(self, key: Key, known: Known, now: datetime) -> Ask | None:
        result = known.result
        spec, status, located = result.spec, result.status, result.located
        if spec is None or located is None or status.phase not in EVALUATED:
            return None
        if status.pause_reason in ("drift", "regression") or status.step_started_at is None:
            return None
        if known.next_evaluation is not None and known.next_evaluation > now:
            return None
        interval = max(1, round(parse_duration(spec.analysis.interval).total_seconds()))
        service = spec.service.split(".")[0]
        checks = tuple(Check(c.name, c.query) for c in spec.analysis.custom_checks)
        return Ask(
            key=f"{key[0]}/{key[1]}",
            namespace=key[0],
            service=service,
            stable_version=located.stable_version,
            canary_version=located.canary_version,
            step_started_at=status.step_started_at,
            window_s=interval,
            requests_metric=spec.analysis.requests_metric,
            latency_metric=spec.analysis.latency_metric,
            checks=checks,
        )

    # -- the worker --------------------------------------------------------------------
    def work(self) -> None:
        while not self.stopping.is_set():
            item = self.queue.get(timeout=0.2)
            if item is None:
                continue
            key, verdict = item
            if not self.leading():
                continue
            self._reconcile(key, verdict)

    def _reconcile(self, key: Key, verdict: Verdict | None) -> None:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(rollout=f"{key[0]}/{key[1]}"):
            try:
                result = self.reconciler.reconcile(key[0], key[1], verdict)
            except Conflict:
                self.metrics.api_errors.labels("conflict").inc()
                self.queue.put(key, verdict)  # re-read, re-decide
                return
            except NotLeader:
                return
            except KubeError as error:
                self.metrics.api_errors.labels(type(error).__name__).inc()
                log.warning("reconcile failed", error=str(error))
                self.stopping.wait(0.5)
                self.queue.put(key, verdict)
                return
            except Exception:  # a bug must not kill the worker: log it, carry on
                log.exception("reconcile crashed")
                return
            finally:
                self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
            self._remember(key, result)

    def _remember(self, key: Key, result: Result | None) -> None:
        if result is None:
            self.known.pop(key, None)
            return
        old = self.known.get(key)
        status = result.status
        step_key = (status.run, status.step_index)
        known = Known(result)
        if old is not None and old.step_key == step_key:
            known.next_evaluation = old.next_evaluation
        elif result.spec is not None:
            # A new step: its first evaluation comes one interval in, when there is data.
            interval = parse_duration(result.spec.analysis.interval)
            known.next_evaluation = self.clock() + interval
        known.step_key = step_key
        if (
            old is not None
            and old.result.status.phase != "RolledBack"
            and (status.phase == "RolledBack")
        ):
            self.metrics.rollbacks.inc()
            log.warning("rolled back", reason=status.message)
        elif old is None or old.result.status.message != status.message:
            log.info(
                "decision",
                phase=status.phase,
                weight=status.canary_weight,
                step=status.step_index,
                reason=status.message,
            )
        self.known[key] = known
        self.metrics.canary_weight.labels(*key).set(status.canary_weight)
        phases: dict[str, int] = {}
        for k in self.known.values():
            phase = k.result.status.phase or "Pending"
            phases[phase] = phases.get(phase, 0) + 1
        for phase in ("Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed"):
            self.metrics.rollouts.labels(phase).set(phases.get(phase, 0))
