"""The long-running controller: watches, a schedule of evaluations, a few workers.

* Watches (Rollouts, VirtualServices, DestinationRules) put keys on a work
  queue, so spec edits, CLI commands and hand edits of the weights are acted
  on within a second.
* An APScheduler job ticks every ``tick_s``: it collects the rollouts whose
  evaluation is due (and those nearly due: ``controller.schedule``), asks
  Prometheus for all of them in one batch, and queues each observation for its
  rollout's reconcile, which judges it.
* Workers (``--workers``, 8 by default) take keys off the queue and reconcile them,
  never two workers the same rollout at once
  (``rollout.controller.reconcile``), only while this replica leads.
* SIGTERM: finish the reconcile in flight, stop, release the lease.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from rollout.analysis.judges import Evaluation
from rollout.analysis.observations import Unavailable
from rollout.analysis.queries import Ask
from rollout.controller.failures import EVALUATION_FAILED, FAILED_CONDITION
from rollout.controller.ports import (
    AlwaysLeader,
    Leader,
    NoWatches,
    Service,
    Source,
    Watch,
    Watches,
)
from rollout.controller.reconcile import Reconciler, Result
from rollout.controller.schedule import EVALUATED, Schedule, ask_for
from rollout.controller.settings import Settings
from rollout.controller.supervise import Backoff, Crash, Supervised
from rollout.controller.telemetry import HealthServer, Metrics
from rollout.controller.workqueue import WorkQueue
from rollout.engine.after import next_look
from rollout.kube import Conflict, Forbidden, Invalid, KubeError, NotLeader
from rollout.mesh import sends_to
from rollout.model import parse_duration

log = structlog.get_logger("meshrollout.controller")
Key = tuple[str, str]


@dataclass
class Known:
    """What the controller remembers of a rollout between reconciles."""

    result: Result

    @property
    def step_key(self) -> tuple[int, int | None]:
        return (self.result.status.run, self.result.status.step_index)


class Controller:
    """The schedule, the watches and the worker around one :class:`Reconciler`.

    Built from ports: ``rollout.controller.wiring.connect`` gives it the real
    adapters; tests give it the fakes of ``rollout.controller.fakes`` and drive
    :meth:`tick` and :meth:`work_once` by hand.
    """

    def __init__(
        self,
        settings: Settings,
        reconciler: Reconciler,
        source: Source,
        leader: Leader | None = None,
        watches: Watches | None = None,
        metrics: Metrics | None = None,
        queue: WorkQueue | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        delivery: Service | None = None,
    ) -> None:
        self.settings, self.reconciler, self.source = settings, reconciler, source
        self.leader: Leader = leader or AlwaysLeader()
        self.watches: Watches = watches or NoWatches()
        self.metrics = metrics or Metrics()
        self.queue = queue or WorkQueue()
        self.clock = clock
        self._delivery = delivery  # the notification queue's thread, started and watched here
        self.keys: set[Key] = set()  # every Rollout the watches have shown us
        self.known: dict[Key, Known] = {}
        self.stopping = threading.Event()
        self.watchers: list[Watch] = []
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.backoff = Backoff()  # reconciles
        self.evaluation_backoff = Backoff()
        self.delivery_backoff = Backoff()  # Events the API refused
        self._generations: dict[Key, Any] = {}
        # When each rollout's next evaluation is due. Kept apart from ``known``, which the
        # worker replaces at every reconcile while the tick runs on another thread.
        self.schedule = Schedule()
        self._workers: list[Supervised] = []

    # -- state ---------------------------------------------------------------------
    def leading(self) -> bool:
        return self.leader.is_leader()

    def ready(self) -> bool:
        """Started, and every watch has listed once (the caches are warm)."""
        return bool(self.watchers) and all(w.synced() for w in self.watchers)

    def healthy(self) -> bool:
        """Every long-lived loop is alive: worker, scheduler, watches, notifications."""
        if not self._workers:
            return not self.stopping.is_set()  # still starting
        loops = [*(w.alive() for w in self._workers), self.scheduler.running]
        loops += [w.alive() for w in self.watchers]
        if self._delivery is not None:
            loops.append(self._delivery.alive())
        return all(loops)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Controller:
        s = self.settings
        namespaces: list[str | None] = list(s.namespaces) or [None]
        for ns in namespaces:
            self.watchers.append(self.watches.watch("rollouts", self._on_rollout, ns))
            for kind in ("virtualservices", "destinationrules"):
                self.watchers.append(self.watches.watch(kind, self._on_mesh, ns))
        self.leader.begin(self._on_leading, self._on_stopped_leading)
        self.scheduler.add_job(
            self.tick, "interval", seconds=s.tick_s, max_instances=1, coalesce=True, id="evaluate"
        )
        self.scheduler.add_job(
            self.resync, "interval", seconds=s.resync_s, max_instances=1, coalesce=True, id="resync"
        )
        self.scheduler.start()
        self._workers = [
            Supervised(f"worker-{i}", self.work, self.stopping, self._loop_crashed).start()
            for i in range(s.workers)
        ]
        if self._delivery is not None:
            self._delivery.start()
        log.info("controller started", identity=s.identity, namespaces=s.namespaces or "all")
        return self

    def stop(self) -> None:
        """Graceful: no new work, the reconcile in flight finishes, the lease is released."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        for worker in self._workers:
            worker.join(timeout=30)
        if self._delivery is not None:
            self._delivery.stop()
        self.leader.end()
        for watcher in self.watchers:
            watcher.stop()
        log.info("controller stopped")

    def _loop_crashed(self, thread: str, crash: Crash) -> None:
        self.metrics.thread_restarts.labels(thread).inc()
        log.error("loop crashed, restarting it", thread=thread, error=str(crash))

    def serve_health(self) -> HealthServer:
        s = self.settings
        return HealthServer(
            self.metrics, self.healthy, self.ready, s.metrics_host, s.metrics_port
        ).start()

    # -- events --------------------------------------------------------------------
    def _on_rollout(self, kind: str, obj: dict[str, Any]) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        generation = obj["metadata"].get("generation")
        self._generations[key] = generation
        if kind == "DELETED":
            self.queue.release(key)
            self.schedule.forget(key)
            self.keys.discard(key)
            gone = self.known.pop(key, None)
            self._count(gone, None)
            if gone is not None:
                with contextlib.suppress(KeyError):
                    self.metrics.canary_weight.remove(*key)
            return
        self.keys.add(key)
        self.queue.put(key, generation=generation)

    def _hold(self, key: Key, delay: float) -> None:
        self.queue.hold(key, delay, self._generations.get(key))

    def _on_mesh(self, _kind: str, obj: dict[str, Any]) -> None:
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        for key, known in list(self.known.items()):
            located, spec = known.result.located, known.result.spec
            # Unnamed VirtualServices: a new one routing to the service joins at once.
            joins = (
                spec and not spec.virtual_service_names and sends_to(obj, spec.service, namespace)
            )
            ours = located is None or name in (*located.vs_names, located.dr_name)
            if key[0] == namespace and (ours or joins):
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
        """Observe every due rollout in one batch and queue each observation for its
        reconcile, which judges it (each rollout inside its own boundary: ``_asks``)."""
        if not self.leading() or self.stopping.is_set():
            return
        now = self.clock()
        mine = [key for key in list(self.known) if self.leader.owns(key)]  # sharded: our shards
        due = self._asks(self.schedule.due(mine, now), now)
        if not due:
            return
        # A batch is going anyway: rollouts nearly due join it (see controller.schedule).
        due += self._asks(self.schedule.nearly_due(self._intervals(set(mine)), now), now)
        try:
            observed = self.source.observe([a for _, _, a in due], now)
        except Exception as error:  # noqa: BLE001 the adapter's bug: every due rollout waits
            crash = Crash.of(error)
            self.metrics.rollout_failures.labels("observe", crash.kind).inc()
            log.error("observing failed", error=str(crash), rollouts=len(due))
            observed = {
                a.key: Unavailable(at=now, reason=f"observing failed: {crash.kind}")
                for _, _, a in due
            }
        for key, _known, ask in due:
            result = observed.get(ask.key) or Unavailable(at=now, reason="no answer")
            if isinstance(result, Unavailable):
                self.metrics.prometheus_errors.inc()
            interval = ask.window_s
            self.schedule.next_at(key, now + timedelta(seconds=interval), interval, nearest=True)
            # Judged by the reconcile, on the status it reads (see Reconciler.reconcile).
            self.queue.put(key, Evaluation(result, ask.step_started_at))
        unavailable = sum(isinstance(r, Unavailable) for r in observed.values())
        if unavailable:  # all of them: Prometheus is down; some: those rollouts' queries
            log.warning("prometheus unavailable", rollouts=unavailable, of=len(due))

    def _asks(self, keys: list[Key], now: datetime) -> list[tuple[Key, Known, Ask]]:
        """What to ask for these rollouts, each inside its own boundary: a rollout whose
        evaluation breaks the code is recorded and retried later."""
        out = []
        for key in keys:
            known = self.known.get(key)
            if known is None:
                continue
            try:
                ask = self._ask(key, known, now)
            except Exception as error:  # noqa: BLE001 the per-rollout boundary: it is counted and said
                self._evaluation_failed(key, now, error)
                continue
            if ask is not None:
                out.append((key, known, ask))
        return out

    def _intervals(self, keys: set[Key]) -> dict[Key, float]:
        """Each evaluated rollout's analysis interval, in seconds."""
        out = {}
        for key, known in list(self.known.items()):
            spec = known.result.spec
            if key in keys and spec is not None and known.result.status.phase in EVALUATED:
                out[key] = parse_duration(spec.analysis.interval).total_seconds()
        return out

    def _evaluation_failed(self, key: Key, now: datetime, error: Exception) -> None:
        """One rollout's evaluation broke: say so on it, try it again later, go on."""
        crash = Crash.of(error)
        self.metrics.rollout_failures.labels("evaluate", crash.kind).inc()
        delay = self.evaluation_backoff.failed(key)
        self.schedule.hold(key, now + timedelta(seconds=delay))
        log.error("evaluation failed", rollout=f"{key[0]}/{key[1]}", error=str(crash))
        self._record(key, f"evaluation failed: {crash}", EVALUATION_FAILED)

    def _record(self, key: Key, message: str, kind: str = FAILED_CONDITION) -> None:
        try:
            with self.leader.acting_on(key):
                self.reconciler.record_failure(key[0], key[1], message, kind)
        except Exception as error:  # noqa: BLE001 telling is best effort; the retry is what matters
            log.warning("could not record the failure", error=str(Crash.of(error)))

    def _ask(self, key: Key, known: Known, now: datetime) -> Ask | None:
        return ask_for(key, known.result, now)

    # -- the worker --------------------------------------------------------------------
    def work(self) -> None:
        while not self.stopping.is_set():
            self.work_once(timeout=0.2)

    def work_once(self, timeout: float = 0.0) -> bool:
        """Reconcile the next ready key, if one comes within ``timeout``; True if one did."""
        item = self.queue.get(timeout=timeout)
        if item is None:
            return False
        key, evaluation = item
        try:
            if self.leader.owns(key):
                with self.leader.acting_on(key):
                    self._reconcile(key, evaluation)
        finally:
            self.queue.done(key)
        return True

    def _reconcile(self, key: Key, evaluation: Evaluation | None) -> None:
        """Reconcile one rollout inside its boundary: whatever it raises stays with it."""
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(rollout=f"{key[0]}/{key[1]}"):
            try:
                result = self.reconciler.reconcile(key[0], key[1], evaluation)
                self._remember(key, result)
            except Conflict:
                self.metrics.api_errors.labels("conflict").inc()
                self.queue.put(key, evaluation)  # re-read, re-decide
                return
            except NotLeader:
                return
            except KubeError as error:
                self.metrics.api_errors.labels(type(error).__name__).inc()
                delay = self.backoff.failed(key)
                log.warning("reconcile failed", error=str(error), retry_s=delay)
                self._hold(key, delay)
                if isinstance(error, Invalid | Forbidden):  # a retry alone will not cure it
                    self._record(key, f"reconcile failed: {type(error).__name__} ({error.status})")
                self.queue.put(key, evaluation, after_s=delay)
                return
            except Exception as error:  # noqa: BLE001 a bug: keep it with this rollout, carry on
                crash = Crash.of(error)
                self.metrics.rollout_failures.labels("reconcile", crash.kind).inc()
                delay = self.backoff.failed(key)
                log.error("reconcile crashed", error=str(crash), retry_s=delay)
                self._hold(key, delay)
                self._record(key, f"reconcile failed: {crash}")
                self.queue.put(key, evaluation, after_s=delay)
                return
            finally:
                self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
            self.backoff.succeeded(key)
            self.queue.release(key)
            if result is not None and result.wrote_gateway:
                self.queue.put(key)  # no watch on HTTPRoutes (their CRD may be missing)

    def _remember(self, key: Key, result: Result | None) -> None:
        if result is None:
            self._count(self.known.pop(key, None), None)
            self.schedule.forget(key)
            return
        old = self.known.get(key)
        status = result.status
        known = Known(result)
        started = status.step_started_at
        moved = old is None or (old.step_key, old.result.status.step_started_at) != (
            known.step_key,
            started,
        )
        if result.spec is not None and moved:
            # A new step, or its clock started (the mesh carries its weight): the first
            # evaluation comes one interval into it, on the (finer) grid, when there is data.
            interval = parse_duration(result.spec.analysis.interval)
            first = max(started + interval if started else self.clock(), self.clock())
            self.schedule.first_at(key, first, interval.total_seconds())
        if result.evaluation_failure is not None:
            self.metrics.rollout_failures.labels("evaluate", "judge").inc()
            delay = self.evaluation_backoff.failed(key)
            self.schedule.hold(key, self.clock() + timedelta(seconds=delay))
            log.error("evaluation failed", error=result.evaluation_failure)
        elif result.verdict is not None:
            self.evaluation_backoff.succeeded(key)
            self.metrics.verdicts.labels(result.verdict.outcome).inc()
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
        look = next_look(status, self.clock())
        if look is not None:  # a scale-down coming due, an undo waiting for its pods
            self.queue.put(key, after_s=look)
        if result.undelivered:  # nothing else may come soon (a finished rollout): retry it
            self.queue.put(key, after_s=self.delivery_backoff.failed(key))
        else:
            self.delivery_backoff.succeeded(key)
        self.metrics.canary_weight.labels(*key).set(status.canary_weight)
        self._count(old, known)

    def _count(self, old: Known | None, new: Known | None) -> None:
        """Rollouts per phase, kept by the change (a recount at every reconcile would cost
        O(N) each, O(N²) a cycle at a thousand rollouts)."""
        before = None if old is None else old.result.status.phase or "Pending"
        after = None if new is None else new.result.status.phase or "Pending"
        if before != after:
            if before is not None:
                self.metrics.rollouts.labels(before).dec()
            if after is not None:
                self.metrics.rollouts.labels(after).inc()
