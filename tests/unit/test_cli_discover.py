"""How `rollout start NAME VERSION` finds the VirtualService, the stable subset and the spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.cli.discover import (
    BadInput,
    current_stable,
    find_virtual_service,
    parse_steps,
    start_spec,
)
from tests.unit.istio import dest, healthz, primary, seed_vs, virtual_service


def named(vs: dict[str, Any], name: str) -> dict[str, Any]:
    return {**vs, "metadata": {**vs["metadata"], "name": name}}


CART = named(virtual_service(primary(dest("v1", host="cart")), hosts=["cart"]), "cart")


@pytest.mark.parametrize(
    ("items", "name", "service", "expected"),
    [
        pytest.param(
            [seed_vs(), CART], "inventory", None, "inventory-route", id="seed-by-host-name-service"
        ),
        pytest.param(
            [named(virtual_service(primary(), hosts=["inventory"]), "x"), CART],
            "inventory",
            None,
            "x",
            id="by-host-name",
        ),
        pytest.param(
            [named(virtual_service(primary(), hosts=["stock.shop.svc"]), "inventory"), CART],
            "inventory",
            None,
            "inventory",
            id="by-vs-name",
        ),
        pytest.param([seed_vs(), CART], "anything", "cart", "cart", id="by-service-flag"),
    ],
)
def test_finds_the_one_virtual_service(
    items: list[dict[str, Any]], name: str, service: str | None, expected: str
) -> None:
    """NAME matches a host's first label (NAME or NAME-service) or a VirtualService name."""
    assert (
        find_virtual_service(items, name, service).virtual_service["metadata"]["name"] == expected
    )


@pytest.mark.parametrize(
    ("items", "name", "words"),
    [
        pytest.param([CART], "inventory", "no VirtualService routes inventory", id="none"),
        pytest.param(
            [seed_vs(), named(seed_vs(), "inventory-copy")],
            "inventory",
            "inventory-route (inventory-service), inventory-copy",
            id="several",
        ),
    ],
)
def test_zero_or_several_matches_list_the_candidates(
    items: list[dict[str, Any]], name: str, words: str
) -> None:
    """Ambiguity is refused with the candidates named."""
    with pytest.raises(BadInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        find_virtual_service(items, name, None)


def test_current_stable_is_the_subset_at_100() -> None:
    """The stable subset is the one serving 100% on the unmatched route."""
    assert current_stable(seed_vs(), "inventory-service") == "v1"
    mid = virtual_service(healthz(), primary(dest("v1", 75), dest("v2", 25)))
    with pytest.raises(BadInput, match="pass --stable"):
        current_stable(mid, "inventory-service")


def test_start_spec_checks_subsets() -> None:
    """A missing subset or a canary that is already stable is refused."""
    spec = start_spec(
        "inventory-service", "inventory-route", "inventory-dr", "v1", "v2", [10, 100], ["v1", "v2"]
    )
    assert spec["strategy"] == {"steps": [10, 100]}
    with pytest.raises(BadInput, match="no canary subset 'v9' \\(it has: v1, v2\\)"):
        start_spec("s", "vs", "inventory-dr", "v1", "v9", None, ["v1", "v2"])
    with pytest.raises(BadInput, match="already serves"):
        start_spec("s", "vs", "dr", "v1", "v1", None, ["v1", "v2"])


def test_parse_steps() -> None:
    """--steps is a comma list of whole numbers."""
    assert parse_steps("5, 25,50,100") == [5, 25, 50, 100]
    assert parse_steps(None) is None
    with pytest.raises(BadInput, match="whole numbers"):
        parse_steps("5,a")


def test_a_host_in_another_namespace_is_not_the_service() -> None:
    """The CLI matches hosts by Istio's rule (qualified in the namespace), not by first label:
    a VirtualService for inventory-service.other is not the service in shop."""
    other = copy.deepcopy(seed_vs())
    other["metadata"]["name"] = "other-route"
    other["spec"]["hosts"] = ["inventory-service.other.svc.cluster.local"]
    found = find_virtual_service([other, seed_vs()], "x", "inventory-service", "shop")
    assert found.virtual_service["metadata"]["name"] == "inventory-route"
    with pytest.raises(BadInput, match="inventory-service"):
        find_virtual_service([other], "x", "inventory-service", "shop")
