"""Several VirtualServices moved as one (mesh + ingress): validation, actions, sync, drift."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.actions import SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.mesh import MeshError, Target
from rollout.mesh.istio import Routing, sends_to
from rollout.mesh.routeset import (
    apply_routing,
    carried_weight,
    drifted,
    out_of_sync,
    routing_in_sync,
    target_in,
    validate_routing,
)
from tests.unit.istio import HOST, Doc, dest, destination_rule, healthz, primary, seed_vs, weights

TARGET = Target(HOST, "v1", "v2", namespace="shop")


def ingress(*http: Doc, name: str = "inventory-public") -> Doc:
    """An ingress VirtualService for a public host: an API prefix rewritten to the service
    (named ``api``), a route to another service, and the unmatched public route."""
    routes = list(http) or [
        {
            "name": "api",
            "match": [{"uri": {"prefix": "/api/inventory"}}],
            "rewrite": {"uri": "/"},
            "route": [dest("v1")],
            "headers": {"response": {"add": {"x-served-by": "public"}}},
        },
        {
            "name": "cart",
            "match": [{"uri": {"prefix": "/cart"}}],
            "route": [dest("v1", host="cart")],
        },
        {"name": "public", "route": [dest("v1")], "timeout": "3s"},
    ]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "3"},
        "spec": {
            "hosts": ["shop.example.com"],
            "gateways": ["istio-system/public-gateway"],
            "http": routes,
        },
    }


def argo_vs2() -> Doc:
    """Argo Rollouts' Istio e2e ingress VirtualService: a gateway, a public host, and routes
    to the ``istio-rollout`` subsets (the issue's failing example)."""
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "istio-host-split-vsvc", "namespace": "shop"},
        "spec": {
            "gateways": ["istio-rollout-gateway"],
            "hosts": ["istio-rollout.local"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {
                            "destination": {"host": "istio-rollout", "subset": "stable"},
                            "weight": 100,
                        },
                        {"destination": {"host": "istio-rollout", "subset": "canary"}, "weight": 0},
                    ],
                }
            ],
        },
    }


def both() -> Routing:
    return Routing((seed_vs(), ingress()), destination_rule())


def test_an_ingress_virtual_service_is_ours_by_its_routes_not_its_hosts() -> None:
    """Routes that send traffic to the service make a VirtualService ours, whatever its
    hosts and gateways say; one that only routes elsewhere is not."""
    assert sends_to(ingress(), HOST, "shop")
    assert not sends_to(ingress({"route": [dest("v1", host="cart")]}), HOST, "shop")


def test_argo_rollouts_ingress_example_validates() -> None:
    """The issue's example: an ingress VirtualService for istio-rollout.local is accepted."""
    dr = destination_rule("stable", "canary", host="istio-rollout")
    target = Target("istio-rollout", "stable", "canary", namespace="shop")
    assert validate_routing(Routing((argo_vs2(),), dr), target) == {"istio-host-split-vsvc": [0]}
    moved = apply_routing(Routing((argo_vs2(),), dr), target, [SetWeights(25)])
    assert weights(moved.routing.virtual_services[0]) == [("stable", 75), ("canary", 25)]


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param((), {"inventory-route": [1], "inventory-public": [2]}, id="unnamed"),
        pytest.param(
            ("primary", "api"), {"inventory-route": [1], "inventory-public": [0]}, id="named-across"
        ),
        pytest.param(
            ("primary",), {"inventory-route": [1], "inventory-public": [2]}, id="named-in-one"
        ),
    ],
)
def test_managed_routes_per_virtual_service(routes: tuple[str, ...], expected: Any) -> None:
    """Names apply where they exist; a VirtualService with none of them manages its one
    unmatched route to the pair."""
    target = Target(HOST, "v1", "v2", namespace="shop", routes=routes)
    assert validate_routing(both(), target) == expected


@pytest.mark.parametrize(
    ("routing", "target", "fields"),
    [
        pytest.param(
            Routing((seed_vs(), ingress()), destination_rule()),
            Target(HOST, "v1", "v2", namespace="shop", routes=("primary", "nope")),
            ["Rollout.spec.routes[1]"],
            id="name-in-none",
        ),
        pytest.param(
            Routing((seed_vs(), ingress(healthz())), destination_rule()),
            TARGET,
            ["VirtualService/inventory-public.spec.http"],
            id="ingress-without-a-route-to-manage",
        ),
        pytest.param(
            Routing((seed_vs(), ingress({"route": [dest("v1", host="cart")]})), destination_rule()),
            TARGET,
            ["VirtualService/inventory-public.spec.http"],
            id="ingress-not-routing-the-service",
        ),
        pytest.param(
            Routing((seed_vs(), ingress()), destination_rule("v1")),
            TARGET,
            ["DestinationRule.spec.subsets"],
            id="rule-problem-said-once",
        ),
        pytest.param(
            Routing((), destination_rule()), TARGET, ["Rollout.spec.virtualServices"], id="none"
        ),
    ],
)
def test_problems_name_the_virtual_service(
    routing: Routing, target: Target, fields: list[str]
) -> None:
    """Every problem of every document, each VirtualService named when there are several."""
    with pytest.raises(MeshError) as caught:
        validate_routing(routing, target)
    assert caught.value.fields == fields


def test_every_virtual_service_moves_and_nothing_else_changes() -> None:
    """A step moves the managed route of each; other routes and fields stay byte for byte."""
    before = both()
    result = apply_routing(before, TARGET, [SetWeights(25), SetHeaderRoute("x-canary", "1")])
    mesh, public = result.routing.virtual_services
    assert weights(mesh) == [("v1", 75), ("v2", 25)]
    assert weights(public, "public") == [("v1", 75), ("v2", 25)]
    assert result.changed == ("inventory-route", "inventory-public")
    assert not result.dr_changed
    kept = [r for r in public["spec"]["http"] if r["name"] in ("api", "cart")]
    assert kept == ingress()["spec"]["http"][:2]
    assert public["spec"]["hosts"] == ["shop.example.com"]
    assert [r["name"] for r in public["spec"]["http"]] == [
        "api",
        "cart",
        "public-meshrollout-canary",
        "public",
    ]
    assert routing_in_sync(
        result.routing, TARGET, [SetWeights(25), SetHeaderRoute("x-canary", "1")]
    )


def test_out_of_sync_names_the_documents_behind() -> None:
    """Half moved (as after a crash between two writes): the one behind is named."""
    half = Routing(
        (apply_routing(both(), TARGET, [SetWeights(25)]).routing.virtual_services[0], ingress()),
        destination_rule(),
    )
    assert out_of_sync(half, TARGET, [SetWeights(25)]) == ["inventory-public"]
    assert [carried_weight(vs, TARGET) for vs in half.virtual_services] == [25, 0]
    tighten = [SetOutlierDetection(True, {"consecutive5xxErrors": 1})]
    assert out_of_sync(half, TARGET, tighten) == ["DestinationRule"]


def test_a_hand_edit_of_any_is_drift() -> None:
    """Weights changed by hand on the ingress only: that one drifted."""
    moved = apply_routing(both(), TARGET, [SetWeights(25)]).routing
    edited = copy.deepcopy(moved.virtual_services[1])
    route = edited["spec"]["http"][2]["route"]
    route[0]["weight"], route[1]["weight"] = 50, 50
    assert drifted(moved, TARGET) == []
    assert drifted(
        Routing((moved.virtual_services[0], edited), moved.destination_rule), TARGET
    ) == ["inventory-public"]


def test_rollback_and_success_leave_one_destination_in_each() -> None:
    """Rolled back: every VirtualService back to stable alone; succeeded: canary alone."""
    moved = apply_routing(both(), TARGET, [SetWeights(50)]).routing
    back = apply_routing(moved, TARGET, [SetHeaderRoute(), SetWeights(0, drop_unused=True)])
    assert [
        weights(vs, n)
        for vs, n in zip(back.routing.virtual_services, ("primary", "public"), strict=True)
    ] == [
        [("v1", 100)],
        [("v1", 100)],
    ]
    done = apply_routing(moved, TARGET, [SetWeights(100, drop_unused=True)])
    assert [
        weights(vs, n)
        for vs, n in zip(done.routing.virtual_services, ("primary", "public"), strict=True)
    ] == [
        [("v2", 100)],
        [("v2", 100)],
    ]


def test_header_routes_are_not_taken_for_named_routes() -> None:
    """A header route we added is never a user's route name in target_in."""
    target = Target(HOST, "v1", "v2", namespace="shop", routes=("primary-meshrollout-canary",))
    with_header = apply_routing(
        Routing((seed_vs(),), destination_rule()), TARGET, [SetHeaderRoute("x-canary", "1")]
    ).routing.virtual_services[0]
    assert target_in(with_header, target).routes == ()


def test_busy_mesh_virtual_service_alongside() -> None:
    """The seed's busy mesh route (retries, fault, mirror) and the ingress move as one."""
    mesh = copy.deepcopy(seed_vs())
    mesh["spec"]["http"].insert(0, primary(dest("v0", host="legacy"), name="legacy"))
    mesh["spec"]["http"][0]["match"] = [{"uri": {"prefix": "/v0"}}]
    result = apply_routing(Routing((mesh, ingress()), destination_rule()), TARGET, [SetWeights(5)])
    assert result.routing.virtual_services[0]["spec"]["http"][0] == mesh["spec"]["http"][0]
    assert weights(result.routing.virtual_services[0]) == [("v1", 95), ("v2", 5)]
