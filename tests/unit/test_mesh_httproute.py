"""The HTTPRoute transforms on busy routes: tables of what is managed and refused, and
properties: weights as asked, idempotent, nothing else in the route touched."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.mesh import MeshError
from rollout.mesh.httproute import (
    Backends,
    managed_rules,
    parent_services,
    remove_header_route,
    set_header_route,
    set_weights,
    validate_route,
    weight_drift,
)

Doc = dict[str, Any]
B = Backends("inventory-v1", "inventory-v2", namespace="shop")
SERVICES = ("inventory-service", "inventory-v1", "inventory-v2", "inventory-v3", "legacy")


def ref(name: str, weight: int | None = None, port: int = 8080) -> Doc:
    out: Doc = {"name": name, "port": port}
    if weight is not None:
        out["weight"] = weight
    return out


def busy_route(*main_refs: Doc, parent: str = "inventory-service") -> Doc:
    """Several rules: a header match pinned to v1, a path match with a URL rewrite and
    header filters, three backendRefs on a legacy rule, timeouts, and the catch-all rule."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "inventory-route", "namespace": "shop"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": parent, "port": 8080}],
            "rules": [
                {
                    "name": "beta",
                    "matches": [{"headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]}],
                    "backendRefs": [ref("inventory-v1")],
                },
                {
                    "name": "api",
                    "matches": [{"path": {"type": "PathPrefix", "value": "/api/v0"}}],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                            },
                        },
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"set": [{"name": "x-api", "value": "v0"}]},
                        },
                    ],
                    "backendRefs": [
                        ref("legacy", 10),
                        ref("inventory-v1", 80),
                        ref("inventory-v3", 10),
                    ],
                    "timeouts": {"request": "2s"},
                },
                {
                    "name": "main",
                    "filters": [
                        {
                            "type": "ResponseHeaderModifier",
                            "responseHeaderModifier": {"add": [{"name": "x-main", "value": "1"}]},
                        },
                        {
                            "type": "ExtensionRef",
                            "extensionRef": {"group": "x.io", "kind": "Retry", "name": "three"},
                        },
                    ],
                    "backendRefs": list(main_refs) or [ref("inventory-v1")],
                    "timeouts": {"request": "5s", "backendRequest": "2s"},
                },
            ],
        },
    }


def refs_of(route: Doc, rule: str = "main") -> list[tuple[str, int | None]]:
    found = next(r for r in route["spec"]["rules"] if r.get("name") == rule)
    return [(r["name"], r.get("weight")) for r in found["backendRefs"]]


def test_the_catch_all_rule_is_managed_and_weights_move() -> None:
    """The rule without a match to our two Services; weights in percent; v1 alone to start."""
    route = busy_route()
    assert validate_route(route, B, SERVICES) == [2]
    moved = set_weights(route, B, 25)
    assert refs_of(moved) == [("inventory-v1", 75), ("inventory-v2", 25)]
    assert moved["spec"]["rules"][2]["backendRefs"][1]["port"] == 8080  # copied from stable
    done = set_weights(moved, B, 100, drop_unused=True)
    assert refs_of(done) == [("inventory-v2", 100)]
    back = set_weights(moved, B, 0, drop_unused=True)
    assert refs_of(back) == [("inventory-v1", 100)]


def test_a_named_rule_beside_other_backends_keeps_their_share() -> None:
    """Named ``api`` with legacy 10 and v3 10 beside v1 80: the pair shares its 80 only."""
    b = Backends("inventory-v1", "inventory-v2", namespace="shop", rules=("api",))
    moved = set_weights(busy_route(), b, 25)
    assert refs_of(moved, "api") == [
        ("legacy", 10),
        ("inventory-v1", 60),
        ("inventory-v2", 20),
        ("inventory-v3", 10),
    ]
    assert not weight_drift(moved, b)


@pytest.mark.parametrize(
    ("route", "b", "fields"),
    [
        pytest.param(
            {**busy_route(), "kind": "VirtualService"}, B, ["HTTPRoute.kind"], id="not-a-route"
        ),
        pytest.param(
            {**busy_route(), "apiVersion": "gateway.networking.k8s.io/v2"},
            B,
            ["HTTPRoute.apiVersion"],
            id="unknown-version",
        ),
        pytest.param(
            busy_route(),
            Backends("inventory-v1", "inventory-v9", namespace="shop"),
            ["HTTPRoute.spec.rules"],
            id="canary-service-missing",
        ),
        pytest.param(
            busy_route(ref("inventory-v1"), ref("legacy")),
            B,
            ["HTTPRoute.spec.rules"],
            id="no-catch-all-to-the-pair",
        ),
        pytest.param(
            busy_route(ref("inventory-v1", 0)),
            B,
            ["HTTPRoute.spec.rules[2].backendRefs"],
            id="zero",
        ),
        pytest.param(
            busy_route(ref("inventory-v1", -3)),
            B,
            ["HTTPRoute.spec.rules[2].backendRefs[0].weight"],
            id="negative-weight",
        ),
        pytest.param(
            busy_route(),
            Backends("inventory-v1", "inventory-v2", namespace="shop", rules=("nope",)),
            ["Rollout.spec.routes[0]"],
            id="named-rule-missing",
        ),
    ],
)
def test_bad_routes_are_refused_naming_the_field(
    route: Doc, b: Backends, fields: list[str]
) -> None:
    """Each bad route is refused, naming exactly the fields at fault."""
    with pytest.raises(MeshError) as caught:
        validate_route(route, b, SERVICES)
    assert caught.value.fields == fields


def test_header_rule_for_testers() -> None:
    """A copy of the main rule (filters, timeouts) that also requires the header and goes
    to the canary; twice equals once; removing it gives the route back exactly."""
    route = set_weights(busy_route(), B, 0)
    with_header = set_header_route(route, B, "x-canary", "true")
    assert set_header_route(with_header, B, "x-canary", "true") == with_header
    rules = with_header["spec"]["rules"]
    added = rules[2]
    assert added["name"] == "main-meshrollout-canary"
    assert added["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "x-canary", "value": "true"}],
        }
    ]
    assert added["backendRefs"] == [{"name": "inventory-v2", "port": 8080, "weight": 1}]
    assert added["filters"] == rules[3]["filters"]
    assert added["timeouts"] == rules[3]["timeouts"]
    assert managed_rules(with_header, B) == [3]
    assert remove_header_route(with_header) == route


def test_a_hand_edit_is_drift() -> None:
    """Weights edited after we set them are drift; our own are not."""
    moved = set_weights(busy_route(), B, 25)
    assert not weight_drift(moved, B)
    edited = copy.deepcopy(moved)
    edited["spec"]["rules"][2]["backendRefs"][1]["weight"] = 50
    assert weight_drift(edited, B)
    assert not weight_drift(busy_route(), B)  # never touched: not ours to judge


def test_parent_services_are_the_mesh_parents() -> None:
    """GAMMA parents (Services in the namespace) are told apart from Gateways."""
    route = busy_route()
    route["spec"]["parentRefs"].append({"kind": "Gateway", "name": "public", "namespace": "gw"})
    assert parent_services(route, "shop") == ["inventory-service"]


MAIN_REFS = st.lists(
    st.sampled_from(
        [
            ref("inventory-v1"),
            ref("inventory-v1", 100),
            ref("inventory-v1", 70),
            ref("inventory-v2", 30),
            ref("inventory-v2", 0),
            ref("inventory-v2", 100),
        ]
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda r: r["name"],
)


@settings(max_examples=200, deadline=None)
@given(MAIN_REFS, st.integers(0, 100), st.booleans(), st.booleans())
def test_only_the_pair_on_the_managed_rule_changes(
    main: list[Doc], weight: int, drop: bool, header: bool
) -> None:
    """Whatever the starting weights: the canary gets its share of the pair, applying
    twice equals once, and every other rule, filter, timeout, parent and backendRef
    (other than the pair's weights) is kept byte for byte."""
    route = busy_route(*main)
    if sum(r.get("weight", 1) for r in main) == 0:
        return
    out = set_weights(route, B, weight, drop_unused=drop)
    if header:
        out = set_header_route(out, B, "x-canary", "true")
        out = remove_header_route(out)
    assert set_weights(out, B, weight, drop_unused=drop) == out
    assert out["spec"]["rules"][:2] == route["spec"]["rules"][:2]
    assert out["spec"]["parentRefs"] == route["spec"]["parentRefs"]
    main_out = out["spec"]["rules"][2]
    assert {k: v for k, v in main_out.items() if k != "backendRefs"} == {
        k: v for k, v in route["spec"]["rules"][2].items() if k != "backendRefs"
    }
    weights = dict(refs_of(out))
    total = sum(w or 0 for w in weights.values())
    assert total == 100
    assert weights.get("inventory-v2", 0) == weight
    assert not weight_drift(out, B)
