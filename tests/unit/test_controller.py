"""The controller's loop on the shipped fakes: the tick observes what is due and the
worker's reconcile judges it; stale answers are dropped; one rollout's crash waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.queries import Ask
from rollout.controller.fakes import (
    FakeCluster,
    FakeEvents,
    FakeFence,
    FakeMesh,
    FakeNotifier,
    FakeRollouts,
    FakeWorkloads,
    evaluation,
)
from rollout.controller.loop import Controller
from rollout.controller.reconcile import Reconciler
from rollout.controller.settings import Settings
from rollout.kube import Unavailable as ApiUnavailable
from rollout.model import parse_status
from tests.unit.istio import destination_rule, seed_vs

T0 = datetime(2026, 11, 25, tzinfo=UTC)


class FakeSource:
    """Prometheus that answers every ask with a healthy canary, and remembers the asks."""

    def __init__(self) -> None:
        self.asked: list[list[Ask]] = []

    def observe(self, asks: list[Ask], at: datetime) -> dict[str, Observation | Unavailable]:
        self.asked.append(asks)
        return {a.key: evaluation("pass", at, a.step_started_at).observed for a in asks}


class World:
    """One Rollout on a fake cluster, a controller around it, a clock moved by hand."""

    def __init__(self) -> None:
        self.now = T0
        self.cluster = FakeCluster()
        self.cluster.put("VirtualService", seed_vs())
        self.cluster.put("DestinationRule", destination_rule())
        spec = {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": {"stepDuration": "30s"},
            "analysis": {"interval": "10s", "minRequests": 10},
        }
        self.cluster.put(
            "Rollout", {"metadata": {"name": "inventory", "generation": 1}, "spec": spec}
        )
        self.reconciler = Reconciler(
            FakeRollouts(self.cluster),
            FakeMesh(self.cluster),
            FakeWorkloads(),
            FakeEvents(self.cluster),
            FakeNotifier(self.cluster),
            FakeFence(),
            lambda: self.now,
        )
        self.source = FakeSource()
        settings = Settings(leader_election=False, metrics_port=0)
        self.controller = Controller(settings, self.reconciler, self.source, clock=lambda: self.now)

    def status(self) -> Any:
        return parse_status(self.cluster.get("Rollout", "inventory")["status"])

    def drain(self) -> None:
        while self.controller.work_once():
            pass

    def reconcile_after_mesh_write(self) -> None:
        """What the watch on the VirtualService does after each write."""
        self.controller.queue.put(("shop", "inventory"))
        self.drain()


def test_the_tick_observes_what_is_due_and_the_reconcile_judges_it() -> None:
    """Started, then one interval at the step's weight: the tick asks once, the worker's
    reconcile judges the answer on the status it reads, and after the step's time promotes."""
    w = World()
    w.controller.queue.put(("shop", "inventory"))
    w.drain()
    w.reconcile_after_mesh_write()
    assert w.status().step_started_at == T0
    w.controller.tick()
    assert w.source.asked == []  # not one interval in yet
    for _ in range(3):
        w.now += timedelta(seconds=11)
        w.controller.tick()
        w.drain()
    assert len(w.source.asked) == 3
    (ask,) = w.source.asked[0]
    assert (ask.key, ask.service, ask.canary_version, ask.window_s) == (
        "shop/inventory",
        "inventory-service",
        "v2",
        10,
    )
    status = w.status()
    assert (status.step_index, status.canary_weight) == (1, 25)
    assert status.last_verdict is not None
    assert status.last_verdict.outcome == "pass"


def test_an_answer_for_another_step_is_dropped() -> None:
    """An observation asked for a step that has since ended is not judged at all."""
    w = World()
    w.controller.queue.put(("shop", "inventory"))
    w.drain()
    w.reconcile_after_mesh_write()
    w.now += timedelta(minutes=5)
    stale = evaluation("fail", w.now, T0 - timedelta(minutes=1))
    w.controller.queue.put(("shop", "inventory"), stale)
    w.drain()
    status = w.status()
    assert (status.phase, status.last_verdict) == ("Progressing", None)


def test_a_crashing_reconcile_waits_with_backoff() -> None:
    """A reconcile that raises is put back with a delay, not retried at once."""
    w = World()

    def crash(namespace: str, name: str, evaluation: Any = None) -> Any:
        raise RuntimeError("bug")

    w.reconciler.reconcile = crash  # type: ignore[method-assign]
    w.controller.queue.put(("shop", "inventory"))
    assert w.controller.work_once()
    assert not w.controller.work_once()  # waiting: nothing ready
    assert len(w.controller.queue) == 1
    assert (
        w.controller.metrics.rollout_failures.labels("reconcile", "RuntimeError")._value.get() == 1
    )


def test_a_source_that_raises_leaves_every_rollout_waiting_not_the_tick_dead() -> None:
    """The Prometheus adapter's own bug: the tick survives, each due rollout gets an
    Unavailable answer (no data, never a pass), and the failure is counted."""
    w = World()
    w.controller.queue.put(("shop", "inventory"))
    w.drain()
    w.reconcile_after_mesh_write()

    def broken(asks: list[Ask], at: datetime) -> dict[str, Observation | Unavailable]:
        raise ValueError("could not convert string to float: 'x'")

    w.source.observe = broken  # type: ignore[method-assign]
    w.now += timedelta(seconds=11)
    w.controller.tick()
    w.drain()
    status = w.status()
    assert status.last_verdict is not None
    assert (status.last_verdict.outcome, status.last_verdict.no_data) == ("inconclusive", True)
    assert w.controller.metrics.rollout_failures.labels("observe", "ValueError")._value.get() == 1


def test_an_event_the_api_refused_is_retried_by_the_loop_itself() -> None:
    """The API refuses the start's Event (a 503): it stays in the outbox, and the loop
    tries again on its own, with backoff: a finished rollout has no evaluation or watch
    event coming to bring it back (only the 30 s resync did)."""
    w = World()
    events = w.reconciler.events
    assert isinstance(events, FakeEvents)
    refusals = [ApiUnavailable("events: 503", status=503)]
    record = events.record

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if refusals:
            raise refusals.pop()
        return record(*args, **kwargs)

    events.record = flaky  # type: ignore[method-assign]
    w.controller.queue.put(("shop", "inventory"))
    w.drain()
    assert [e.kind for e in w.status().outbox] == ["event"]
    assert len(w.controller.queue) == 1  # put back, not ready yet (backoff)
    assert w.controller.work_once(timeout=2.0)
    assert w.status().outbox == []
    assert len(events.recorded) == 1
