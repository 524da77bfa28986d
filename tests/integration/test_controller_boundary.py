"""The controller in process, on the API emulator: one rollout's crash stays with it.

Two teams release ``inventory`` in two namespaces at once. A bug is injected
into one team's reconcile or evaluation (the code path raises for that
namespace only); the other team's rollout is promoted on time all the same,
the failing one says so in a condition and an Event, the failure is counted,
and every loop of the controller stays alive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from meshlab.kubeapi import KubeAPI
from meshlab.seed import seed_documents
from rollout.analysis.observations import Counts, Observation, VersionCounts
from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.queries import Ask
from rollout.controller.failures import EVALUATION_FAILED, FAILED_CONDITION
from rollout.controller.loop import Controller
from rollout.controller.ports import NoNotifier
from rollout.controller.reconcile import Reconciler
from rollout.controller.settings import Settings
from rollout.controller.wiring import connect
from rollout.kube import KubeClient
from rollout.kube.resources import EVENTS, ROLLOUTS

GOOD, BAD = "team-good", "team-bad"
HEALTHY = Counts(
    requests=100_000,
    errors=100,
    buckets=((25.0, 99_000.0), (50.0, 100_000.0), (math.inf, 100_000.0)),
)  # enough for the default judge to prove "fine for 100%" at once


class SteadySource:
    """Stands in for Prometheus: every version healthy, plenty of requests."""

    def observe(self, asks: list[Ask], at: datetime) -> dict[str, Observation]:
        counts = VersionCounts(step=HEALTHY)
        return {a.key: Observation(at=at, stable=counts, canary=counts) for a in asks}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[KubeAPI, KubeClient]]:
    api = KubeAPI.start()
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", GOOD)
    kube = KubeClient.connect(str(kubeconfig), identity="test")
    for namespace in (GOOD, BAD):
        seed_documents(api, namespace)
        body = {
            "apiVersion": "meshrollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "inventory", "namespace": namespace},
            "spec": {
                "service": "inventory-service",
                "stableSubset": "v1",
                "canarySubset": "v2",
                "strategy": {"steps": [50, 100], "stepDuration": "1s"},
                "analysis": {"interval": "1s", "minRequests": 10},
            },
        }
        kube.create(ROLLOUTS, namespace, body)
    yield api, kube
    api.stop()


def _controller(kube: KubeClient) -> Controller:
    settings = Settings(leader_election=False, tick_s=0.1, resync_s=1, metrics_port=0)
    source = cast(PrometheusSource, SteadySource())
    return connect(settings, kube, source, notifier=NoNotifier()).start()


def _status(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return kube.get(ROLLOUTS, namespace, "inventory").get("status") or {}


def _wait(what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _failed_condition(kube: KubeClient, kind: str) -> dict[str, Any] | None:
    conditions = _status(kube, BAD).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


@pytest.mark.parametrize("where", ["reconcile", "evaluate"])
def test_a_crashing_rollout_does_not_stop_the_others(
    world: tuple[KubeAPI, KubeClient], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A bug in one team's reconcile (or evaluation) leaves the other team's release on
    time, is recorded on the failing rollout without its text, and kills no loop."""
    _, kube = world
    secret = "xoxb-not-to-be-seen"
    if where == "reconcile":
        real = Reconciler.reconcile

        def reconcile(self: Reconciler, namespace: str, name: str, verdict: Any = None) -> Any:
            if namespace == BAD:
                raise KeyError(secret)
            return real(self, namespace, name, verdict)

        monkeypatch.setattr(Reconciler, "reconcile", reconcile)
    else:

        def ask(self: Controller, key: Any, known: Any, now: datetime) -> Any:
            if key[0] == BAD:
                raise OverflowError(secret)
            return real_ask(self, key, known, now)

        real_ask = Controller._ask
        monkeypatch.setattr(Controller, "_ask", ask)
    controller = _controller(kube)
    started = time.monotonic()
    try:
        _wait("the good team's release", lambda: _status(kube, GOOD).get("phase") == "Succeeded")
        kind = FAILED_CONDITION if where == "reconcile" else EVALUATION_FAILED
        _wait("the failure on the bad team's rollout", lambda: _failed_condition(kube, kind))
        time.sleep(1)  # later reconciles keep saying it while it lasts
        condition = _failed_condition(kube, kind)
        assert condition is not None
        error = "KeyError" if where == "reconcile" else "OverflowError"
        assert condition["message"].startswith(f"{where if where == 'reconcile' else 'evaluation'}")
        assert error in condition["message"]
        assert secret not in condition["message"]
        events, _ = kube.list(EVENTS, BAD)
        assert any(e["reason"] == kind for e in events)
        assert all(secret not in (e.get("note") or "") for e in events)
        stage = "reconcile" if where == "reconcile" else "evaluate"
        failures = controller.metrics.rollout_failures.labels(stage, error)._value.get()
        elapsed = time.monotonic() - started
        # Retried with backoff (0.5 s, doubling), not at every 0.1 s tick or event.
        assert 1 <= failures <= 2 + math.log2(1 + elapsed / 0.5), (failures, elapsed)
        assert controller.healthy()
        if where == "evaluate":  # the rollout is reconciled, just never judged
            assert _status(kube, BAD).get("phase") == "Progressing"
    finally:
        controller.stop()
