"""How `rollout start NAME VERSION` finds the VirtualService, the stable subset and the spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.cli.discover import (
    BadInput,
    current_stable,
    find_virtual_services,
    listing,
    parse_steps,
    start_spec,
)
from tests.unit.istio import dest, healthz, primary, seed_vs, virtual_service


def named(vs: dict[str, Any], name: str) -> dict[str, Any]:
    return {**vs, "metadata": {**vs["metadata"], "name": name}}


CART = named(virtual_service(primary(dest("v1", host="cart")), hosts=["cart"]), "cart")


def ingress(name: str = "inventory-public", *http: dict[str, Any]) -> dict[str, Any]:
    """A VirtualService bound to an ingress gateway for a public host, routing to the service."""
    vs = named(virtual_service(*(http or (primary(),)), hosts=["shop.example.com"]), name)
    vs["spec"]["gateways"] = ["istio-system/public-gateway"]
    return vs


def argo_ingress() -> dict[str, Any]:
    """The ingress VirtualService of Argo Rollouts' Istio end-to-end suite (vs2)."""
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


@pytest.mark.parametrize(
    ("items", "name", "service", "expected"),
    [
        pytest.param(
            [seed_vs(), CART],
            "inventory",
            None,
            ["inventory-route"],
            id="seed-by-host-name-service",
        ),
        pytest.param(
            [
                named(
                    virtual_service(primary(dest("v1", host="inventory")), hosts=["inventory"]), "x"
                ),
                CART,
            ],
            "inventory",
            None,
            ["x"],
            id="by-host-name",
        ),
        pytest.param(
            [named(virtual_service(primary(), hosts=["stock.shop.svc"]), "inventory"), CART],
            "inventory",
            None,
            ["inventory"],
            id="by-vs-name",
        ),
        pytest.param([seed_vs(), CART], "anything", "cart", ["cart"], id="by-service-flag"),
        pytest.param(
            [seed_vs(), CART, ingress()],
            "inventory",
            None,
            ["inventory-route", "inventory-public"],
            id="mesh-and-ingress",
        ),
        pytest.param([CART, ingress()], "inventory", None, ["inventory-public"], id="ingress-only"),
        pytest.param(
            [seed_vs(), named(seed_vs(), "inventory-copy")],
            "inventory",
            None,
            ["inventory-route", "inventory-copy"],
            id="two-for-the-mesh-host",
        ),
        pytest.param(
            [argo_ingress(), CART], "istio-rollout", None, ["istio-host-split-vsvc"], id="argo-vs2"
        ),
        pytest.param(
            [ingress(), seed_vs()],
            "x",
            "inventory-service.shop.svc.cluster.local",
            ["inventory-public", "inventory-route"],
            id="qualified-service-flag",
        ),
    ],
)
def test_finds_every_virtual_service_routing_to_the_service(
    items: list[dict[str, Any]], name: str, service: str | None, expected: list[str]
) -> None:
    """NAME matches a host's first label (NAME or NAME-service), routed or routed to, or a
    VirtualService's name; then every VirtualService sending traffic to that service is
    found, whatever its hosts and gateways."""
    assert find_virtual_services(items, name, service, "shop").names == expected


def test_the_host_written_is_the_mesh_one() -> None:
    """The rollout's service is written as a VirtualService routes it (the mesh's host)."""
    found = find_virtual_services([ingress(), seed_vs()], "inventory", None, "shop")
    assert found.host == "inventory-service"
    assert find_virtual_services([argo_ingress()], "istio-rollout", None).host == "istio-rollout"


@pytest.mark.parametrize(
    ("items", "name", "words"),
    [
        pytest.param([CART], "inventory", "no VirtualService routes inventory", id="none"),
        pytest.param(
            [
                seed_vs(),
                named(
                    virtual_service(primary(dest("v1", host="inventory")), hosts=["inventory"]), "x"
                ),
            ],
            "inventory",
            "several services match inventory: inventory-service.default.svc.cluster.local "
            "(inventory-route); inventory.default.svc.cluster.local (x); use --service",
            id="two-services",
        ),
        pytest.param(
            [
                named(
                    virtual_service(
                        primary(dest("v1", host="stock")),
                        primary(dest("v1", host="cart"), name="c"),
                    ),
                    "inventory",
                )
            ],
            "inventory",
            "inventory routes to several hosts",
            id="vs-name-with-two-hosts",
        ),
    ],
)
def test_zero_or_several_matches_list_the_candidates(
    items: list[dict[str, Any]], name: str, words: str
) -> None:
    """No service, or several that NAME may mean, is refused with the candidates named."""
    with pytest.raises(BadInput) as caught:
        find_virtual_services(items, name, None)
    assert words in str(caught.value)


def test_listing_names_every_virtual_service_with_hosts_and_gateways() -> None:
    """What start prints before writing: each VirtualService, its hosts and gateways."""
    text = listing(find_virtual_services([seed_vs(), ingress()], "inventory", None, "shop"))
    assert text.splitlines() == [
        "VirtualServices routing to inventory-service (all will move together):",
        "  inventory-route (hosts inventory-service; gateways mesh)",
        "  inventory-public (hosts shop.example.com; gateways istio-system/public-gateway)",
    ]


def test_current_stable_across_virtual_services() -> None:
    """Every VirtualService with an unmatched route to the service must agree on stable;
    one with only matched routes says nothing."""
    only_paths = ingress("paths", {**healthz(), "name": "h"})
    assert current_stable([seed_vs(), ingress(), only_paths], "inventory-service") == "v1"
    assert current_stable([argo_ingress()], "istio-rollout") == "stable"
    moved = ingress("moved", primary(dest("v2")))
    with pytest.raises(BadInput, match="disagree"):
        current_stable([seed_vs(), moved], "inventory-service")


def test_current_stable_is_the_subset_at_100() -> None:
    """The stable subset is the one serving 100% on the unmatched route."""
    assert current_stable(seed_vs(), "inventory-service") == "v1"
    mid = virtual_service(healthz(), primary(dest("v1", 75), dest("v2", 25)))
    with pytest.raises(BadInput, match="pass --stable"):
        current_stable(mid, "inventory-service")


def test_start_spec_checks_subsets() -> None:
    """A missing subset or a canary that is already stable is refused."""
    spec = start_spec(
        "inventory-service",
        ["inventory-route"],
        "inventory-dr",
        "v1",
        "v2",
        [10, 100],
        ["v1", "v2"],
    )
    assert spec["strategy"] == {"steps": [10, 100]}
    with pytest.raises(BadInput, match="no canary subset 'v9' \\(it has: v1, v2\\)"):
        start_spec("s", ["vs"], "inventory-dr", "v1", "v9", None, ["v1", "v2"])
    with pytest.raises(BadInput, match="already serves"):
        start_spec("s", ["vs"], "dr", "v1", "v1", None, ["v1", "v2"])


def test_parse_steps() -> None:
    """--steps is a comma list of whole numbers."""
    assert parse_steps("5, 25,50,100") == [5, 25, 50, 100]
    assert parse_steps(None) is None
    with pytest.raises(BadInput, match="whole numbers"):
        parse_steps("5,a")


def test_a_host_in_another_namespace_is_not_the_service() -> None:
    """The CLI matches hosts by Istio's rule (qualified in the namespace), not by first label:
    a VirtualService routing to inventory-service.other is not a route of the service in shop."""
    other = copy.deepcopy(seed_vs())
    other["metadata"]["name"] = "other-route"
    other["spec"]["hosts"] = ["inventory-service.other.svc.cluster.local"]
    for route in other["spec"]["http"]:
        for entry in route["route"]:
            entry["destination"]["host"] = "inventory-service.other.svc.cluster.local"
    found = find_virtual_services([other, seed_vs()], "x", "inventory-service", "shop")
    assert found.names == ["inventory-route"]
    with pytest.raises(BadInput, match="inventory-service"):
        find_virtual_services([other], "x", "inventory-service", "shop")
