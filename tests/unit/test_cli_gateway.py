"""How `rollout start NAME VERSION` would find an HTTPRoute and its backend Services."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.cli.discover import BadInput
from rollout.cli.gateway import find_http_route
from tests.unit.test_mesh_httproute import busy_route, ref

SERVICES = ("inventory-service", "inventory-v1", "inventory-v2", "legacy")


def named(route: dict[str, Any], name: str, parent: str | None = None) -> dict[str, Any]:
    out = {**route, "metadata": {"name": name, "namespace": "shop"}}
    if parent is not None:
        out["spec"] = {**route["spec"], "parentRefs": [{"kind": "Service", "name": parent}]}
    return out


CART = named(busy_route(), "cart-route", parent="cart")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([busy_route(), CART], "inventory-route", id="parent-name-service"),
        pytest.param([named(busy_route(), "x", parent="inventory"), CART], "x", id="parent-name"),
        pytest.param(
            [named(busy_route(), "inventory-route", parent="stock"), CART],
            "inventory-route",
            id="route-name",
        ),
    ],
)
def test_finds_the_route_and_its_backends(items: list[dict[str, Any]], expected: str) -> None:
    """By its parent Service (NAME, NAME-service) or its name; canary NAME-VERSION; stable
    the Service with all the catch-all rule's weight."""
    found = find_http_route(items, "inventory", "v2", SERVICES, "shop")
    assert (found.route["metadata"]["name"], found.stable, found.canary) == (
        expected,
        "inventory-v1",
        "inventory-v2",
    )


@pytest.mark.parametrize(
    ("items", "version", "flags", "words"),
    [
        pytest.param([CART], "v2", {}, "no HTTPRoute has the Service inventory", id="none"),
        pytest.param(
            [busy_route(), named(busy_route(), "inventory")],
            "v2",
            {},
            "several HTTPRoutes match inventory: inventory-route, inventory",
            id="several",
        ),
        pytest.param([busy_route()], "v9", {}, "no Service inventory-v9", id="no-canary-service"),
        pytest.param(
            [busy_route(ref("inventory-v1", 50), ref("inventory-v2", 50))],
            "v2",
            {},
            "pass --stable",
            id="mid-rollout",
        ),
        pytest.param(
            [busy_route()], "v1", {}, "inventory-v1 already serves inventory", id="already-stable"
        ),
    ],
)
def test_bad_input_is_refused_with_the_candidates(
    items: list[dict[str, Any]], version: str, flags: dict[str, str], words: str
) -> None:
    """Each refusal says what was found and which flag helps."""
    with pytest.raises(BadInput) as caught:
        find_http_route(items, "inventory", version, SERVICES, "shop", **flags)
    assert words in str(caught.value)


def test_flags_name_the_backends() -> None:
    """--stable and --canary-service override what would be found."""
    mid = busy_route(ref("inventory-v1", 50), ref("inventory-v2", 50))
    found = find_http_route([mid], "inventory", "v3", SERVICES, "shop", "inventory-v1", "legacy")
    assert (found.stable, found.canary) == ("inventory-v1", "legacy")
