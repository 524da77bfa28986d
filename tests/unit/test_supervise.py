"""One rollout's failure stays with it: the work queue, backoff, crash descriptions,
supervised loops, and the failure recorded on the Rollout."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from rollout.analysis.judges import Evaluation
from rollout.analysis.observations import Observation, VersionCounts
from rollout.controller.failures import EVALUATION_FAILED, FAILED_CONDITION
from rollout.controller.fakes import (
    FakeCluster,
    FakeEvents,
    FakeFence,
    FakeMesh,
    FakeNotifier,
    FakeRollouts,
    FakeWorkloads,
)
from rollout.controller.fakes import evaluation as fake_evaluation
from rollout.controller.reconcile import Reconciler
from rollout.controller.supervise import Backoff, Crash, Supervised
from rollout.controller.workqueue import WorkQueue
from rollout.model import parse_status
from tests.unit.istio import destination_rule, seed_vs

T0 = datetime(2026, 11, 25, tzinfo=UTC)
KEY = ("shop", "inventory")
OTHER = ("shop", "payments")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def answer(seconds: int) -> Evaluation:
    return fake_evaluation("pass", T0 + timedelta(seconds=seconds), T0)


def test_a_retry_never_replays_an_older_evaluation_over_a_newer_one() -> None:
    """An evaluation put back after a failed reconcile loses to the newer one already queued."""
    queue = WorkQueue()
    queue.put(KEY, answer(20))
    queue.put(KEY, answer(10))  # the retry of an older evaluation
    item = queue.get(timeout=0)
    assert item is not None
    assert item[1] == answer(20)


def test_a_delayed_key_waits_and_does_not_hold_up_others() -> None:
    """A key put back with a delay is handed out after it; other keys go first."""
    clock = Clock()
    queue = WorkQueue(clock)
    queue.put(KEY, after_s=5)
    queue.put(("other", "a"))
    first = queue.get(timeout=0)
    assert first is not None
    assert first[0] == ("other", "a")
    assert queue.get(timeout=0) is None
    clock.t += 5
    later = queue.get(timeout=0)
    assert later is not None
    assert later[0] == KEY


def test_news_about_a_delayed_key_brings_it_forward() -> None:
    """Putting a waiting key again without delay makes it ready at once."""
    clock = Clock()
    queue = WorkQueue(clock)
    queue.put(KEY, after_s=60)
    queue.put(KEY)
    assert len(queue) == 1
    item = queue.get(timeout=0)
    assert item is not None
    assert item[0] == KEY


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (10, 256.0), (11, 300.0), (100, 300.0)],
)
def test_backoff_doubles_up_to_its_limit(failures: int, delay: float) -> None:
    """Each failure doubles the wait (0.5 s first), never past five minutes."""
    backoff = Backoff()
    delays = [backoff.failed(KEY) for _ in range(failures)]
    assert delays[-1] == delay
    backoff.succeeded(KEY)
    assert backoff.failed(KEY) == 0.5


def test_a_crash_is_described_by_type_and_place_never_its_text() -> None:
    """The description keeps what helps a developer and drops what may be a secret."""

    def leak() -> None:
        raise ValueError("unknown url type: 'xoxb-1234-secret'")

    with pytest.raises(ValueError, match="unknown url type") as caught:
        leak()
    text = str(Crash.of(caught.value))
    assert text.startswith("ValueError in leak (test_supervise.py:")
    assert "xoxb" not in text


def test_a_supervised_loop_that_raises_is_restarted_and_counted() -> None:
    """A loop that crashes twice runs a third time; each crash is reported; it stays alive."""
    stopping = threading.Event()
    runs: list[int] = []
    crashes: list[str] = []
    done = threading.Event()

    def loop() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        done.set()
        stopping.wait()

    loop_thread = Supervised("worker", loop, stopping, lambda n, c: crashes.append(str(c)), 0.0)
    loop_thread.start()
    assert done.wait(5)
    assert loop_thread.alive()
    assert loop_thread.crashes == 2
    assert all(c.startswith("RuntimeError in loop") for c in crashes)
    stopping.set()
    loop_thread.join(5)


def _reconciler(cluster: FakeCluster) -> tuple[Reconciler, FakeEvents]:
    events = FakeEvents(cluster)
    reconciler = Reconciler(
        FakeRollouts(cluster),
        FakeMesh(cluster),
        FakeWorkloads(),
        events,
        FakeNotifier(cluster),
        FakeFence(),
        lambda: T0,
    )
    return reconciler, events


def _cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.put("VirtualService", seed_vs())
    cluster.put("DestinationRule", destination_rule())
    spec = {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"}
    cluster.put("Rollout", {"metadata": {"name": "inventory", "generation": 1}, "spec": spec})
    return cluster


def test_a_failure_is_recorded_once_on_the_rollout_and_cleared_by_the_next_success() -> None:
    """A ReconcileFailed condition and one Warning Event; the same failure again writes
    nothing (no watch event, no busy loop); a good reconcile drops the condition."""
    cluster = _cluster()
    reconciler, events = _reconciler(cluster)
    reconciler.record_failure("shop", "inventory", "reconcile failed: KeyError in f (x.py:1)")
    writes = len(cluster.writes)
    reconciler.record_failure("shop", "inventory", "reconcile failed: KeyError in f (x.py:1)")
    assert len(cluster.writes) == writes
    status = parse_status(cluster.get("Rollout", "inventory")["status"])
    failed = status.condition(FAILED_CONDITION)
    assert failed is not None
    assert (failed.status, failed.message) == ("True", "reconcile failed: KeyError in f (x.py:1)")
    assert [reason for reason, _ in events.recorded.values()] == [FAILED_CONDITION]
    reconciler.reconcile("shop", "inventory")
    status = parse_status(cluster.get("Rollout", "inventory")["status"])
    assert status.condition(FAILED_CONDITION) is None
    assert status.phase == "Progressing"


def test_an_evaluation_failure_lasts_until_an_evaluation_succeeds() -> None:
    """EvaluationFailed stays through reconciles without a verdict (watch events) and goes
    with the first reconcile that brings one."""
    cluster = _cluster()
    reconciler, _ = _reconciler(cluster)
    reconciler.reconcile("shop", "inventory")
    reconciler.record_failure("shop", "inventory", "evaluation failed: X", EVALUATION_FAILED)
    reconciler.reconcile("shop", "inventory")
    status = parse_status(cluster.get("Rollout", "inventory")["status"])
    assert status.condition(EVALUATION_FAILED) is not None
    started = parse_status(cluster.get("Rollout", "inventory")["status"]).step_started_at
    assert started is not None
    nothing = Observation(at=T0, stable=VersionCounts(), canary=VersionCounts())
    reconciler.reconcile("shop", "inventory", Evaluation(nothing, started))
    status = parse_status(cluster.get("Rollout", "inventory")["status"])
    assert status.condition(EVALUATION_FAILED) is None


def test_a_key_is_never_handed_to_two_workers_at_once() -> None:
    """Put again while a worker holds it, a key waits until that worker is done."""
    queue = WorkQueue(Clock())
    queue.put(KEY)
    queue.put(OTHER)
    assert queue.get(timeout=0) == (KEY, None)
    queue.put(KEY)
    assert queue.get(timeout=0) == (OTHER, None)  # KEY is still being worked on
    assert queue.get(timeout=0) is None
    queue.done(KEY)
    assert queue.get(timeout=0) == (KEY, None)


def test_a_held_key_waits_whoever_puts_it_until_a_new_generation() -> None:
    """A failing rollout's hold outlasts watch events, ticks and notifications; a new
    generation of its spec (a fix) is tried at once; a release ends the hold."""
    clock = Clock()
    queue = WorkQueue(clock)
    queue.hold(KEY, 30, generation=1)
    queue.put(KEY)
    queue.put(KEY, generation=1)
    assert queue.get(timeout=0) is None
    queue.put(KEY, generation=2)
    assert queue.get(timeout=0) is not None
    queue.done(KEY)
    queue.hold(KEY, 30, generation=2)
    queue.release(KEY)
    queue.put(KEY)
    assert queue.get(timeout=0) is not None
