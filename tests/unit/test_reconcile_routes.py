"""The reconciler with every route to the service (mesh + ingress VirtualServices) on fakes:
each step moves all of them, crash-safe as one; rollback moves all; a hand edit of any is drift."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.controller.fakes import Crash
from tests.unit.istio import weights
from tests.unit.test_mesh_routeset import ingress
from tests.unit.test_reconcile import World

PUBLIC = "inventory-public"


def world(**spec: Any) -> World:
    """The seed's mesh VirtualService and an ingress one, both routing to inventory-service."""
    w = World(**spec)
    w.cluster.put("VirtualService", ingress())
    return w


def public(w: World, route: str = "public") -> list[tuple[str, int | None]]:
    return weights(w.cluster.get("VirtualService", PUBLIC), route)


def routed(w: World) -> list[tuple[str, int | None, bool]]:
    return [(v.name, v.canary_weight, v.in_step) for v in w.status().virtual_services]


def test_every_step_moves_every_virtual_service() -> None:
    """Found by their routes (nothing named), both carry each step's weight; the status
    lists them; the canary ends stable in both."""
    w = world()
    w.run()
    assert (w.weights(), public(w)) == ([("v1", 95), ("v2", 5)], [("v1", 95), ("v2", 5)])
    assert routed(w) == [(PUBLIC, 5, True), ("inventory-route", 5, True)]
    for expected in (25, 50, 100):
        w.tick()
        w.run("pass")
        assert w.weights() == public(w) == [("v1", 100 - expected), ("v2", expected)]
    w.tick()
    w.run("pass")
    assert w.status().phase == "Succeeded"
    assert w.weights() == public(w) == [("v2", 100)]
    kept = w.cluster.get("VirtualService", PUBLIC)["spec"]["http"][:2]
    assert kept == ingress()["spec"]["http"][:2]


def test_named_virtual_services_are_the_only_ones_moved() -> None:
    """spec.virtualServices names what moves: an unnamed one is left alone."""
    w = world(virtualServices=[PUBLIC])
    w.run()
    assert public(w) == [("v1", 95), ("v2", 5)]
    assert w.weights() == [("v1", None)]
    assert routed(w) == [(PUBLIC, 5, True)]


def test_a_crash_between_two_virtual_services_finishes_and_the_clock_waits() -> None:
    """Killed after the ingress VirtualService moved and before the mesh one did: the status
    already says step 25 (never above it anywhere); the next reconcile moves the other,
    and the step's clock starts only then, when all carry the step's weight."""
    w = world()
    w.run()
    w.tick()
    w.cluster.crashes.arm("mesh_write:inventory-route")
    with pytest.raises(Crash):
        w.run("pass")
    status = w.status()
    assert (status.step_index, status.canary_weight, status.step_started_at) == (1, 25, None)
    assert (public(w), w.weights()) == ([("v1", 75), ("v2", 25)], [("v1", 95), ("v2", 5)])
    w.tick(30)
    w.reconciler.reconcile("shop", "inventory", None)  # the restarted controller
    assert w.weights() == [("v1", 75), ("v2", 25)]
    assert w.status().step_started_at is None  # observed out of step: not yet
    w.reconciler.reconcile("shop", "inventory", None)  # the watch on what it just wrote
    assert w.status().step_started_at == w.now
    assert routed(w) == [(PUBLIC, 25, True), ("inventory-route", 25, True)]


def test_a_status_written_before_the_mesh_says_which_are_behind() -> None:
    """The intent written first says which VirtualServices do not carry the new step yet."""
    w = world()
    w.run()
    w.tick()
    w.cluster.crashes.arm("mesh_update")
    with pytest.raises(Crash):
        w.run("pass")
    assert routed(w) == [(PUBLIC, 5, False), ("inventory-route", 5, False)]


def test_rollback_moves_every_virtual_service_at_once() -> None:
    """A regression sends both back to stable in the same reconcile, outliers tightened:
    the status first, then every document."""
    w = world()
    w.run()
    w.cluster.writes.clear()
    w.run("fail")
    assert w.status().phase == "RolledBack"
    assert w.weights() == public(w) == [("v1", 100)]
    kinds = [(kind, name) for kind, name, _ in w.cluster.writes]
    assert kinds[0][0] == "Rollout"
    assert kinds[1:4] == [
        ("VirtualService", PUBLIC),
        ("VirtualService", "inventory-route"),
        ("DestinationRule", "inventory-dr"),
    ]


@pytest.mark.parametrize("on_drift", ["revert", "pause"])
def test_a_hand_edit_of_the_ingress_is_drift(on_drift: str) -> None:
    """Weights edited by hand on the ingress only: reverted on both, or paused."""
    w = world(onDrift=on_drift)
    w.run()
    edited = w.cluster.get("VirtualService", PUBLIC)
    route = edited["spec"]["http"][2]["route"]
    route[0]["weight"], route[1]["weight"] = 40, 60
    w.cluster.replace("VirtualService", copy.deepcopy(edited))
    w.run()
    if on_drift == "revert":
        assert public(w) == [("v1", 95), ("v2", 5)]
        assert "DriftReverted" in [r for r, _ in w.events.recorded.values()]
    else:
        assert (w.status().phase, w.status().pause_reason) == ("Paused", "drift")
        assert public(w) == [("v1", 40), ("v2", 60)]


def test_a_virtual_service_that_cannot_be_moved_fails_the_rollout_untouched() -> None:
    """An ingress routing the service only through matched routes, nothing named: Failed,
    the VirtualService named, and no document written."""
    w = World()
    only_paths = ingress({"name": "api", "match": [{"uri": {"prefix": "/api"}}], "route": []})
    only_paths["spec"]["http"][0]["route"] = copy.deepcopy(
        w.cluster.get("VirtualService", "inventory-route")["spec"]["http"][0]["route"]
    )
    w.cluster.put("VirtualService", only_paths)
    w.run()
    assert w.status().phase == "Failed"
    assert f"VirtualService/{PUBLIC}.spec.http" in w.status().message
    assert all(kind == "Rollout" for kind, _, _ in w.cluster.writes)


def test_status_shows_what_each_virtual_service_carries() -> None:
    """`rollout status` lists every VirtualService with its weight, and which are moving."""
    from rich.console import Console

    from rollout.cli.view import status_panel

    w = world()
    w.run()
    w.tick()
    w.cluster.crashes.arm("mesh_update")
    with pytest.raises(Crash):
        w.run("pass")
    console = Console(width=200, record=True)
    console.print(status_panel(w.cluster.get("Rollout", "inventory")))
    text = console.export_text()
    assert "routes: inventory-public 5% (moving)   inventory-route 5% (moving)" in text


def test_a_virtual_service_added_mid_run_joins_at_once() -> None:
    """Unnamed spec: an ingress VirtualService created mid-rollout is reconciled on its watch
    event (not at the next resync) and carries the step's weight; another service's is
    ignored."""
    from rollout.controller.loop import Controller
    from rollout.controller.settings import Settings
    from tests.unit.test_controller import FakeSource

    w = World()
    controller = Controller(
        Settings(leader_election=False, metrics_port=0),
        w.reconciler,
        FakeSource(),
        clock=lambda: w.now,
    )

    def drain() -> None:
        while controller.work_once():
            pass

    controller.queue.put(("shop", "inventory"))
    drain()
    controller.queue.put(("shop", "inventory"))  # the watch on what it wrote
    drain()
    started = w.status().step_started_at
    assert started is not None
    added = w.cluster.put("VirtualService", ingress())
    controller._on_mesh("virtualservices", added)  # the watch event
    drain()
    assert public(w) == [("v1", 95), ("v2", 5)]
    assert [v.name for v in w.status().virtual_services] == [PUBLIC, "inventory-route"]
    unrelated = ingress(name="cart-public")
    unrelated["spec"]["http"] = [{"route": [{"destination": {"host": "cart"}}]}]
    controller._on_mesh("virtualservices", w.cluster.put("VirtualService", unrelated))
    assert not controller.work_once()  # another service's: nothing to do
