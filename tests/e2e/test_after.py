"""After the release, end to end on the emulator (issue #17): the controller and the CLI
as subprocesses, a stand-in Deployment controller whose pods become ready after a delay.

A monitor checks, every 50 ms, the invariants the issue names: the managed route's
weights sum to 100, and no Deployment at zero ready pods carries traffic.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from meshlab.kubeapi.deployments import DeploymentController
from meshlab.seed import NS
from tests.e2e.harness import Stack

FAST = ("--steps", "50,100", "--step-duration", "2s", "--interval", "1s", "--min-requests", "10")
READY_AFTER_S = 2.0


class Monitor:
    """Watches the route and the Deployments; records every broken invariant."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.broken = stack, list[str]()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def deployment(self, version: str) -> dict[str, Any]:
        return self.stack.api.get("apps", "v1", "deployments", NS, f"inventory-{version}")

    def _run(self) -> None:
        while not self.stopping.wait(0.05):
            route = next(
                r for r in self.stack.virtual_service()["spec"]["http"] if r["name"] == "primary"
            )["route"]
            weights = {
                e["destination"]["subset"]: int(e.get("weight", 100 if len(route) == 1 else 0))
                for e in route
            }
            if sum(weights.values()) != 100:
                self.broken.append(f"weights {weights} do not sum to 100")
            for version, weight in weights.items():
                ready = int((self.deployment(version).get("status") or {}).get("readyReplicas", 0))
                if weight > 0 and ready == 0:
                    self.broken.append(f"{version} gets {weight}% with no ready pod")

    def __enter__(self) -> Monitor:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


@pytest.fixture
def pods(stack: Stack) -> Iterator[DeploymentController]:
    controller = DeploymentController(stack.api, ready_after_s=READY_AFTER_S).start()
    try:
        yield controller
    finally:
        controller.stop()


def release(stack: Stack, scale_down_after: str) -> None:
    """v1 → v2 to success, with the old version's scale-down after ``scale_down_after``."""
    stack.traffic.set_health("v2")
    assert stack.cli("start", "inventory", "v2", *FAST).returncode == 0
    t = stack.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert t is not None
    stack.api.store.update(
        t,
        NS,
        "inventory",
        lambda d: {
            **d,
            "spec": {**d["spec"], "afterSuccess": {"scaleDown": {"after": scale_down_after}}},
        },
    )
    stack.wait_for(lambda: stack.phase() == "Succeeded", 90, "the release to succeed")


def replicas(stack: Stack, version: str) -> int:
    d = stack.api.get("apps", "v1", "deployments", NS, f"inventory-{version}")
    return int(d["spec"]["replicas"])


def scaled_down(stack: Stack) -> bool:
    return bool((stack.status().get("previous") or {}).get("scaledDown"))


def test_scale_down_after_the_delay_then_undo_scales_up_waits_and_switches(
    stack: Stack, pods: DeploymentController
) -> None:
    """v1 goes to zero after the delay with its size recorded; undo brings it back, waits
    for its pods (the CLI shows progress), then moves traffic; nothing ever breaks."""
    stack.start_controller()
    with Monitor(stack) as monitor:
        release(stack, "3s")
        assert replicas(stack, "v1") == 1  # inside the delay: still there
        stack.wait_for(lambda: replicas(stack, "v1") == 0, 30, "v1 scaled down")
        recorded = stack.status()["previous"]["deployments"]
        assert recorded == [{"name": "inventory-v1", "replicas": 1}]
        shown = stack.cli("status", "inventory")
        assert "rollout undo: scale v1 back" in shown.stdout
        asked = time.monotonic()
        undo = stack.cli("undo", "inventory", "--timeout", "60s")
        took = time.monotonic() - asked
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert "undone by" in undo.stdout
        assert "scaling v1 back: 0/1 pods ready" in undo.stdout  # progress, line by line
        assert took >= READY_AFTER_S  # it waited for the pods
        assert stack.phase() == "Undone"
        assert replicas(stack, "v1") == 1
        weights = {
            e["destination"]["subset"] for e in stack.virtual_service()["spec"]["http"][1]["route"]
        }
        assert weights == {"v1"}
        history = stack.cli("history", "inventory").stdout
        assert "undone" in history
    assert monitor.broken == []


def test_undo_in_the_window_switches_at_once(stack: Stack, pods: DeploymentController) -> None:
    """With the old version still running, undo moves all traffic back within seconds."""
    stack.start_controller()
    with Monitor(stack) as monitor:
        release(stack, "never")
        shown = stack.cli("status", "inventory")
        assert "v1 kept (scaleDown: never)" in shown.stdout
        asked = time.monotonic()
        undo = stack.cli("undo", "inventory")
        assert undo.returncode == 0, undo.stdout + undo.stderr
        stack.wait_for(
            lambda: "v1" in str(stack.virtual_service()["spec"]["http"][1]["route"]), 10, "switch"
        )
        assert time.monotonic() - asked < 10  # the CLI's own start-up included
        again = stack.cli("undo", "inventory")
        assert again.returncode == 2  # already undone: nothing written
    assert monitor.broken == []


def test_a_deployment_shared_with_another_route_is_never_scaled_down(
    stack: Stack, pods: DeploymentController
) -> None:
    """Another service's DestinationRule selects v1's pods: refused, with an Event."""
    stack.api.store.create(
        stack.api.registry.find("networking.istio.io", "v1", "destinationrules"),  # type: ignore[arg-type]
        NS,
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "reports-dr"},
            "spec": {
                "host": "reports",
                "subsets": [{"name": "old", "labels": {"app": "inventory", "version": "v1"}}],
            },
        },
    )
    stack.start_controller()
    release(stack, "1s")
    stack.wait_for(lambda: (stack.status().get("previous") or {}).get("refused"), 30, "the refusal")
    assert "reports-dr" in stack.status()["previous"]["refused"]
    time.sleep(2)
    assert replicas(stack, "v1") == 1
    events = stack.api.store.list(
        stack.api.registry.find("events.k8s.io", "v1", "events"),  # type: ignore[arg-type]
        NS,
        lambda e: e.get("reason") == "ScaleDownRefused",
    )[0]
    assert len(events) == 1


def test_sigkill_during_scale_down_and_undo_converges(
    stack: Stack, pods: DeploymentController
) -> None:
    """The controller killed at random moments through scale-down and undo: it converges,
    no Deployment at zero serves, the weights always sum to 100, one "undone" Event."""
    rng = random.Random(17)
    proc = stack.start_controller()
    with Monitor(stack) as monitor:
        release(stack, "2s")
        for _ in range(3):  # kills around the scale-down
            time.sleep(rng.uniform(0.2, 1.5))
            stack.kill(proc)
            proc = stack.start_controller()
        stack.wait_for(lambda: scaled_down(stack) and replicas(stack, "v1") == 0, 60, "scale-down")
        undo = stack.cli("undo", "inventory", "--timeout", "2s")  # answered, then still undoing
        assert "undo requested" in undo.stdout
        for _ in range(3):  # kills while undoing
            time.sleep(rng.uniform(0.2, 1.0))
            stack.kill(proc)
            proc = stack.start_controller()
        stack.wait_for(lambda: stack.phase() == "Undone", 60, "the undo")
        stack.wait_for(lambda: not stack.status().get("outbox"), 30, "the outbox to drain")
    assert monitor.broken == []
    assert replicas(stack, "v1") == 1
    events = stack.api.store.list(
        stack.api.registry.find("events.k8s.io", "v1", "events"),  # type: ignore[arg-type]
        NS,
        lambda e: e.get("reason") == "Undone",
    )[0]
    assert len(events) == 1
