"""Undo on the local mesh (issue #17): real Envoy, real backend processes that follow their
Deployment's replicas, real Prometheus, the controller.

Inside the window an undo moves Envoy's traffic back within a second of the controller's
decision with no failed client request; after scale-down (the old version's processes
stopped) an undo starts them again and moves no traffic until they answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from meshlab.seed import NS
from meshlab.stack import BACKENDS, QUICK, LocalStack
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(tmp_path_factory.mktemp("lab-undo"), rps=100).up()
    yield mesh
    mesh.down()


def failures(lab: LocalStack) -> int:
    return sum(n for (_, status), n in lab.seen().items() if status != 200)


def release(lab: LocalStack, scale_down_after: str) -> None:
    assert lab.cli("start", "inventory", "v2", *QUICK).returncode == 0
    assert lab.api is not None
    t = lab.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert t is not None
    lab.api.store.update(
        t,
        NS,
        "inventory",
        lambda d: {
            **d,
            "spec": {**d["spec"], "afterSuccess": {"scaleDown": {"after": scale_down_after}}},
        },
    )
    # The default judge waits for evidence at the step before 100% (about a minute here,
    # alone; up to four when the suite's other files share the 2 cores).
    wait(lambda: lab.status().get("phase") == "Succeeded", 480, "the release", lab=lab)
    wait(lambda: lab.envoy_weights() == {"v2": 100}, 5, "Envoy on v2")


def test_undo_in_the_window_moves_envoy_back_at_once_without_errors(lab: LocalStack) -> None:
    """v1's processes still run: Envoy routes 100% to v1 within a second of the decision,
    and no client request fails."""
    release(lab, "10m")
    before = failures(lab)
    answer: dict[str, Any] = {}
    cli = threading.Thread(target=lambda: answer.update(undo=lab.cli("undo", "inventory")))
    cli.start()
    wait(lambda: lab.envoy_weights() == {"v1": 100}, 30, "Envoy back on v1")
    switched = datetime.now(UTC)
    cli.join(timeout=60)
    undo = answer["undo"]
    assert undo.returncode == 0, undo.stdout + undo.stderr
    # From the controller's decision (the reconcile's clock, before it wrote anything) to
    # Envoy's live config: status write, VirtualService patch, the lab's sync, Envoy's reload.
    decided = datetime.fromisoformat(lab.status()["finishedAt"].replace("Z", "+00:00"))
    lag = (switched - decided).total_seconds()
    print(f"Envoy switched {lag:.2f}s after the controller decided")
    assert lag < 1.0
    time.sleep(2)  # requests in flight through the switch, and after it
    assert failures(lab) == before
    assert lab.seen()[("v1", 200)] > 0


def test_undo_after_scale_down_brings_the_processes_back_before_traffic(lab: LocalStack) -> None:
    """Scaled down: v1's processes stop. Undo starts them; Envoy sends v1 nothing until
    they answer; no client request fails."""
    assert lab.pods is not None
    pods = lab.pods
    release(lab, "2s")
    wait(lambda: pods.ports("v1") == [], 30, "v1's processes stopped")
    violations: list[str] = []
    stopping = threading.Event()

    def watch() -> None:
        while not stopping.wait(0.05):
            weights = lab.envoy_weights()
            if weights.get("v1", 0) > 0 and not pods.endpoints().get("v1"):
                violations.append(f"Envoy sends v1 {weights['v1']}% with no backend up")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    before = failures(lab)
    try:
        undo = lab.cli("undo", "inventory", "--timeout", "60s")
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert "undone by" in undo.stdout
        wait(lambda: lab.envoy_weights() == {"v1": 100}, 2, "Envoy on v1")
        time.sleep(2)
    finally:
        stopping.set()
        watcher.join(timeout=5)
    assert violations == []
    assert len(pods.ports("v1")) == BACKENDS
    assert failures(lab) == before
