"""End to end, every route to a service: the mesh's VirtualService and an ingress one for a
public host, found by the CLI, moved together by the controller (emulator, real Prometheus,
simulated traffic); and Argo Rollouts' own ingress example, which used to fail."""

from __future__ import annotations

import copy
from typing import Any

from meshlab.seed import NS, seed_ingress
from tests.e2e.harness import Stack

FAST = ("--step-duration", "2s", "--interval", "1s", "--min-requests", "10")
VS = ("networking.istio.io", "v1", "virtualservices")


def public(stack: Stack) -> dict[str, Any]:
    return stack.api.get(*VS, NS, "inventory-public")


def subsets(vs: dict[str, Any], route: str) -> dict[str, int]:
    entries = next(r for r in vs["spec"]["http"] if r.get("name") == route)["route"]
    return {
        e["destination"]["subset"]: int(e.get("weight", 100 if len(entries) == 1 else 0))
        for e in entries
    }


def both(stack: Stack) -> tuple[dict[str, int], dict[str, int]]:
    return subsets(stack.virtual_service(), "primary"), subsets(public(stack), "public")


def test_mesh_and_ingress_move_together_to_success(stack: Stack) -> None:
    """`rollout start inventory v2` lists both VirtualServices before writing, names both in
    the spec; every step moves both; both end on v2 alone; the ingress's other route and
    its filters are untouched; the status says both carry the step."""
    seed_ingress(stack.api)
    before = public(stack)
    stack.traffic.set_health("v2")
    stack.start_controller()
    started = stack.cli("start", "inventory", "v2", *FAST)
    assert started.returncode == 0, started.stderr
    assert "inventory-public (hosts shop.example.com; gateways istio-system/public-gateway)" in (
        started.stderr
    )
    assert "inventory-route (hosts inventory-service)" in started.stderr
    assert stack.rollout()["spec"]["virtualServices"] == ["inventory-public", "inventory-route"]
    seen: set[tuple[int, int]] = set()

    def done() -> bool:
        mesh, ingress = both(stack)
        seen.add((mesh.get("v2", 0), ingress.get("v2", 0)))
        return stack.phase() == "Succeeded"

    stack.wait_for(done, timeout=120, what="success")
    assert {(5, 5), (25, 25), (50, 50)} <= seen
    stack.wait_for(
        lambda: both(stack) == ({"v2": 100}, {"v2": 100}), timeout=10, what="v2 alone on both"
    )
    after = public(stack)["spec"]["http"]
    assert after[0] == before["spec"]["http"][0]
    assert {k: v for k, v in after[1].items() if k != "route"} == {
        k: v for k, v in before["spec"]["http"][1].items() if k != "route"
    }
    # The status is written before the mesh moves and again after it: the second write,
    # which says both carry the step, may come a moment after the VirtualServices.
    stack.wait_for(
        lambda: (
            [(v["name"], v["inStep"]) for v in stack.status()["virtualServices"]]
            == [("inventory-public", True), ("inventory-route", True)]
        ),
        timeout=10,
        what="the status to say both carry the step",
    )


def test_a_regression_rolls_both_back(stack: Stack) -> None:
    """v2 fails: both VirtualServices back on v1 alone, outlier detection tightened."""
    seed_ingress(stack.api)
    stack.traffic.set_health("v2", error_rate=0.3)
    stack.start_controller()
    assert stack.cli("start", "inventory", "v2", *FAST).returncode == 0
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=60, what="rollback")
    stack.wait_for(
        lambda: both(stack) == ({"v1": 100}, {"v1": 100}), timeout=10, what="v1 alone on both"
    )
    subset = next(s for s in stack.destination_rule()["spec"]["subsets"] if s["name"] == "v2")
    assert subset["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 1


def test_a_hand_edit_of_the_ingress_is_reverted(stack: Stack) -> None:
    """Someone sets the ingress to 50/50 mid-step: drift, put back to the step's weight."""
    seed_ingress(stack.api)
    stack.traffic.set_health("v2")
    stack.start_controller()
    assert stack.cli("start", "inventory", "v2", "--step-duration", "10m").returncode == 0
    stack.wait_for(lambda: both(stack)[1].get("v2") == 5, timeout=30, what="5% on the ingress")
    t = stack.api.registry.find(*VS)
    assert t is not None

    def half(doc: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(doc)
        route = out["spec"]["http"][1]["route"]
        route[0]["weight"], route[1]["weight"] = 50, 50
        return out

    stack.api.store.update(t, NS, "inventory-public", half)
    stack.wait_for(lambda: both(stack)[1] == {"v1": 95, "v2": 5}, timeout=20, what="drift reverted")
    assert both(stack)[0] == {"v1": 95, "v2": 5}
    assert stack.phase() == "Progressing"


def argo_documents(stack: Stack) -> None:
    """Argo Rollouts' Istio host-split example as a team would have it: the
    ``istio-rollout`` DestinationRule's subsets, the ingress VirtualService ``vs2`` on
    ``istio-rollout-gateway`` for ``istio-rollout.local``, and ready Deployments."""

    def create(group: str, version: str, plural: str, body: dict[str, Any]) -> None:
        t = stack.api.registry.find(group, version, plural)
        assert t is not None
        stack.api.store.create(t, NS, body)

    route = [
        {"destination": {"host": "istio-rollout", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "istio-rollout", "subset": "canary"}, "weight": 0},
    ]
    create(
        *VS,
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "VirtualService",
            "metadata": {"name": "vs2"},
            "spec": {
                "gateways": ["istio-rollout-gateway"],
                "hosts": ["istio-rollout.local"],
                "http": [{"name": "primary", "route": route}],
            },
        },
    )
    create(
        "networking.istio.io",
        "v1",
        "destinationrules",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "istio-rollout-destrule"},
            "spec": {
                "host": "istio-rollout",
                "subsets": [
                    {"name": s, "labels": {"app": "istio-rollout", "version": s}}
                    for s in ("stable", "canary")
                ],
            },
        },
    )
    t = stack.api.registry.find("apps", "v1", "deployments")
    assert t is not None
    for s in ("stable", "canary"):
        labels = {"app": "istio-rollout", "version": s}
        create(
            "apps",
            "v1",
            "deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"istio-rollout-{s}"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}},
                },
            },
        )
        stack.api.store.update(
            t,
            NS,
            f"istio-rollout-{s}",
            lambda d: {
                **d,
                "status": {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "readyReplicas": 1,
                },
            },
            subresource="status",
        )


def test_argo_rollouts_ingress_example_starts(stack: Stack) -> None:
    """The issue's report: with Argo Rollouts' ingress VirtualService the Rollout went
    Failed ("routes ['istio-rollout.local'], not istio-rollout"). Now the CLI finds vs2 by
    the host it routes to, and the controller moves it."""
    argo_documents(stack)
    stack.start_controller()
    started = stack.cli("start", "istio-rollout", "canary", "--step-duration", "10m")
    assert started.returncode == 0, started.stderr
    spec = stack.rollout("istio-rollout")["spec"]
    assert (spec["service"], spec["virtualServices"], spec["stableSubset"]) == (
        "istio-rollout",
        ["vs2"],
        "stable",
    )
    vs2 = ("networking.istio.io", "v1", "virtualservices", NS, "vs2")
    stack.wait_for(
        lambda: subsets(stack.api.get(*vs2), "primary") == {"stable": 95, "canary": 5},
        timeout=30,
        what="5% on vs2",
    )
    assert stack.phase("istio-rollout") == "Progressing"


def test_bad_input_for_several_routes(stack: Stack) -> None:
    """Two services NAME may mean, or an ingress with no route the rollout can manage:
    exit 2, one line, nothing written."""
    seed_ingress(stack.api)
    t = stack.api.registry.find(*VS)
    assert t is not None
    only_paths = copy.deepcopy(public(stack))
    only_paths["metadata"] = {"name": "inventory-paths"}
    only_paths["spec"]["http"] = [
        {**only_paths["spec"]["http"][1], "name": "api", "match": [{"uri": {"prefix": "/api"}}]}
    ]
    stack.api.store.create(t, NS, only_paths)
    refused = stack.cli("start", "inventory", "v2")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: VirtualService/inventory-paths.spec.http:")
    assert len(refused.stderr.strip().splitlines()) == 1
    # Naming the route to manage in each is the way out.
    assert "Name the routes to manage in spec.routes" in refused.stderr


def test_httproute_discovery_and_bad_input(stack: Stack) -> None:
    """Without a VirtualService, `start` finds the HTTPRoute by its parent Service; a
    missing version Service, an unknown NAME or a canary that is already stable exit 2 with
    one line, writing nothing; a good start names the route and both backends."""
    from meshlab.seed import seed_httproute

    seed_httproute(stack.api, only=True)
    before = len(stack.api.audit.entries())
    for args, words in (
        (("start", "inventory", "v9"), "no Service inventory-v9"),
        (("start", "nothing", "v2"), "no VirtualService routes nothing"),
        (("start", "inventory", "v1"), "inventory-v1 already serves inventory"),
    ):
        refused = stack.cli(*args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr.startswith("error: ")
        assert words in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert [e for e in stack.api.audit.entries()[before:] if e.user == "cli" and
            e.verb in ("create", "patch", "update", "delete")] == []  # fmt: skip
    started = stack.cli("start", "inventory", "v2")
    assert started.returncode == 0, started.stderr
    spec = stack.rollout()["spec"]
    assert (spec["service"], spec["stableSubset"], spec["canarySubset"]) == (
        "inventory-service",
        "v1",
        "v2",
    )
    assert spec["httpRoute"]["canaryService"] == "inventory-v2"
    assert "virtualServices" not in spec
