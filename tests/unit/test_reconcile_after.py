"""The reconciler after a release (issue #17), on fakes: the old version scaled to zero
after the delay with its size recorded first, undo in the window and after scale-down,
undo --to an older version, and crashes between the writes of each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rollout.controller.fakes import Crash, FakeDeployment, FakeScaling
from rollout.controller.reconcile import Reconciler
from rollout.model.workloads import Autoscaler
from tests.unit.istio import destination_rule
from tests.unit.test_reconcile import World


class After(World):
    """The reconcile test world with Deployments for v0, v1 (3 pods) and v2."""

    def __init__(self, **spec: Any) -> None:
        super().__init__(**spec)
        self.cluster.put("DestinationRule", destination_rule("v0", "v1", "v2"))
        self.scaling = FakeScaling(
            self.cluster,
            {
                "inventory-v0": FakeDeployment("v0", 2, 2),
                "inventory-v1": FakeDeployment("v1", 3, 3),
                "inventory-v2": FakeDeployment("v2", 3, 3),
            },
        )
        r = self.reconciler
        self.reconciler = Reconciler(
            r.rollouts,
            r.mesh,
            r.workloads,
            r.events,
            r.notifier,
            r.fence,
            r.clock,
            scaling=self.scaling,
        )

    def command(self, name: str, id_: str, **more: str) -> None:
        doc = self.cluster.get("Rollout", "inventory")
        doc["spec"]["command"] = {"name": name, "id": id_, **more}
        doc["metadata"]["generation"] += 1
        self.cluster.put("Rollout", doc)

    def succeed(self) -> None:
        """Start, then promote to 100% by command: a release that succeeded now."""
        self.run()
        self.command("promoteFull", "p1")
        self.run()
        assert self.status().phase == "Succeeded"
        assert self.weights() == [("v2", 100)]

    def size(self, name: str) -> int:
        return self.scaling.deployments[name].replicas


def test_the_old_version_goes_to_zero_after_the_delay_its_size_recorded_first() -> None:
    """Inside the delay v1 keeps its pods; after it, the status records 3, then v1 is at 0."""
    w = After(afterSuccess={"scaleDown": {"after": "10m"}})
    w.succeed()
    w.tick(9 * 60)
    w.run()
    assert w.size("inventory-v1") == 3
    w.tick(61)
    w.cluster.crashes.arm("scale")  # killed between the status write and the scale
    with pytest.raises(Crash):
        w.run()
    previous = w.status().previous
    assert previous is not None
    assert previous.scaled_down
    assert [(d.name, d.replicas) for d in previous.deployments] == [("inventory-v1", 3)]
    assert w.size("inventory-v1") == 3
    w.run()  # the restarted controller
    assert w.size("inventory-v1") == 0
    assert w.size("inventory-v2") == 3
    assert "ScaledDown" in [reason for reason, _ in w.events.recorded.values()]
    w.run()
    assert w.scaling.scaled == [("inventory-v1", 0)]  # kept at zero without rewriting it


def test_a_shared_deployment_is_never_scaled_down() -> None:
    """A Deployment whose pods another subset also selects stays; a Warning says why."""
    w = After(afterSuccess={"scaleDown": {"after": "1m"}})
    w.scaling.deployments["inventory-v1"].shared_with = ("subset v1 of cart-dr (cart)",)
    w.succeed()
    w.tick(120)
    w.run()
    assert w.scaling.scaled == []
    previous = w.status().previous
    assert previous is not None
    assert previous.refused is not None
    assert "cart-dr" in previous.refused
    assert "ScaleDownRefused" in [reason for reason, _ in w.events.recorded.values()]


def test_undo_in_the_window_switches_at_once_and_tells_the_thread() -> None:
    """v1 still runs: 100% back to it in the same reconcile, one "undone" notification."""
    w = After()
    w.succeed()
    w.command("undo", "u1", by="alice via CLI")
    w.run()
    assert w.status().phase == "Undone"
    assert w.weights() == [("v1", 100)]
    assert w.scaling.scaled == []
    undone = [e for e in w.notifier.sent if e.event == "undone"]
    assert len(undone) == 1
    assert undone[0].message.startswith("undone by alice via CLI")
    w.run()  # the same command again: carried out once
    assert len([e for e in w.notifier.sent if e.event == "undone"]) == 1


@pytest.mark.parametrize("crash_at", ["scale", "write_status", "mesh_update", "notify"])
def test_undo_after_scale_down_scales_up_waits_then_switches(crash_at: str) -> None:
    """After scale-down, undo brings v1 back to 3 first; traffic stays on v2 until its pods
    are ready, then moves; a crash at any write on the way converges, v1 never at 0% serving."""
    w = After(afterSuccess={"scaleDown": {"after": "1m"}})
    w.succeed()
    w.tick(120)
    w.run()
    assert w.size("inventory-v1") == 0
    w.scaling.pods_wait = True
    w.command("undo", "u1", by="bob via CLI")
    w.cluster.crashes.arm(crash_at)
    for _ in range(3):
        try:
            w.run()
        except Crash:
            continue
    assert w.status().phase == "Undoing"
    assert w.size("inventory-v1") == 3
    assert w.weights() == [("v2", 100)]  # no traffic to pods that are not ready
    w.scaling.pods_ready()
    for _ in range(3):
        try:
            w.run()
        except Crash:
            continue
    assert w.status().phase == "Undone"
    assert w.weights() == [("v1", 100)]
    assert w.status().outbox == []
    assert [e.event for e in w.notifier.sent].count("undone") == 1


def test_undo_to_an_older_version_whose_deployments_run() -> None:
    """undo --to v0 sends everything to v0 (neither of the spec's subsets)."""
    w = After()
    w.succeed()
    w.command("undo", "u1", to="v0", by="carol via CLI")
    w.run()
    assert w.status().phase == "Undone"
    assert w.weights() == [("v0", 100)]
    w.tick(timedelta(hours=1).total_seconds())
    w.run()  # stays there: the pair in force is the undo's
    assert w.weights() == [("v0", 100)]


@pytest.mark.parametrize("with_hpa", [True, False])
def test_the_preflight_looks_for_the_canarys_autoscaler(with_hpa: bool) -> None:
    """maxEjectionPercent 80 without targetAutoscales: the rollout starts when an HPA
    targets the canary's Deployment, and fails naming it (nothing moved) when none does."""
    w = After(onRegression={"outlierDetection": {"maxEjectionPercent": 80}})
    if with_hpa:
        w.scaling.deployments["inventory-v2"].autoscaler = Autoscaler("inventory-v2", 2, 6)
    w.run()
    status = w.status()
    if with_hpa:
        assert status.phase == "Progressing"
        assert w.weights() == [("v1", 95), ("v2", 5)]
    else:
        assert status.phase == "Failed"
        assert "no HorizontalPodAutoscaler (autoscaling/v2) targets Deployment inventory-v2" in (
            status.message
        )
        assert w.weights() == [("v1", None)]  # the seed route, untouched


def test_the_next_release_inside_the_window_scales_the_old_version_down() -> None:
    """v1 → v2, then v2 → v3 five minutes later: v1 goes to zero during the v3 run (its
    window closed with the new release), v2 and v3 keep their pods."""
    w = After(afterSuccess={"scaleDown": {"after": "10m"}})
    w.cluster.put("DestinationRule", destination_rule("v0", "v1", "v2", "v3"))
    w.scaling.deployments["inventory-v3"] = FakeDeployment("v3", 2, 2)
    w.succeed()
    w.tick(5 * 60)
    doc = w.cluster.get("Rollout", "inventory")
    doc["spec"] = {**doc["spec"], "stableSubset": "v2", "canarySubset": "v3", "command": None}
    w.cluster.put("Rollout", doc)
    w.run()
    w.run()  # the watch event of its own write: the carried scale-down is due
    assert w.status().phase == "Progressing"
    assert w.size("inventory-v1") == 0
    assert (w.size("inventory-v2"), w.size("inventory-v3")) == (3, 2)
    assert w.weights() == [("v2", 95), ("v3", 5)]
