"""Pure VirtualService transforms: which routes are managed, weights, the header route."""

from __future__ import annotations

import copy

import pytest

from rollout.mesh import (
    APPLIED_ANNOTATION,
    HEADER_ROUTE_SUFFIX,
    MeshError,
    Target,
    managed_routes,
    remove_header_route,
    set_header_route,
    set_weights,
    weight_drift,
)
from tests.unit.istio import (
    HOST,
    Doc,
    busy_vs,
    dest,
    healthz,
    primary,
    seed_vs,
    virtual_service,
    weights,
)

TARGET = Target(HOST, "v1", "v2", namespace="shop")


def without_route(vs: Doc, name: str) -> list[Doc]:
    return [r for r in vs["spec"]["http"] if r.get("name") != name]


@pytest.mark.parametrize(
    ("vs", "target", "expected"),
    [
        pytest.param(seed_vs(), TARGET, [1], id="unmatched-route-beside-healthz"),
        pytest.param(seed_vs("v1"), TARGET, [1], id="networking-v1"),
        pytest.param(busy_vs(), TARGET, [2], id="header-matched-route-left-alone"),
        pytest.param(
            virtual_service(primary(name=None), healthz()), TARGET, [0], id="unnamed-route-first"
        ),
        pytest.param(
            virtual_service(healthz(), primary(dest("v1", 90), dest("v2", 10))),
            TARGET,
            [1],
            id="canary-already-present",
        ),
        pytest.param(
            virtual_service(healthz(), primary(dest("v2", 100))),
            TARGET,
            [1],
            id="only-canary-left-after-success",
        ),
        pytest.param(
            virtual_service(healthz(), primary(dest("v1", host=f"{HOST}.shop.svc.cluster.local"))),
            TARGET,
            [1],
            id="fully-qualified-host",
        ),
        pytest.param(
            seed_vs(),
            Target(HOST, "v1", "v2", namespace="shop", routes=("healthz",)),
            [0],
            id="matched-route-when-named",
        ),
        pytest.param(
            seed_vs(),
            Target(HOST, "v1", "v2", namespace="shop", routes=("primary", "healthz")),
            [0, 1],
            id="several-named",
        ),
    ],
)
def test_managed_routes(vs: Doc, target: Target, expected: list[int]) -> None:
    """The unmatched route to stable is found; matched routes only when named."""
    assert managed_routes(vs, target) == expected


@pytest.mark.parametrize(
    ("vs", "target", "field", "words"),
    [
        pytest.param(
            virtual_service(healthz()),
            TARGET,
            "VirtualService.spec.http",
            "found none",
            id="only-matched-routes",
        ),
        pytest.param(
            virtual_service(primary(name="a"), primary(name="b")),
            TARGET,
            "VirtualService.spec.http",
            "found a, b",
            id="two-candidates",
        ),
        pytest.param(
            virtual_service(primary(dest("v1", 80), dest("v3", 20))),
            TARGET,
            "VirtualService.spec.http",
            "found none",
            id="third-subset-needs-naming",
        ),
        pytest.param(
            virtual_service(primary(dest("v1", host="cart"))),
            TARGET,
            "VirtualService.spec.http",
            "found none",
            id="other-host",
        ),
        pytest.param(
            seed_vs(),
            Target(HOST, "v1", "v2", routes=("main",)),
            "Rollout.spec.routes[0]",
            "no HTTP route named 'main' (it has: healthz, primary)",
            id="named-route-missing",
        ),
    ],
)
def test_managed_routes_errors_list_what_was_found(
    vs: Doc, target: Target, field: str, words: str
) -> None:
    """No candidate or several is an error naming the field and listing the routes."""
    with pytest.raises(MeshError) as caught:
        managed_routes(vs, target)
    assert caught.value.fields == [field]
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("route", "weight", "expected"),
    [
        pytest.param([dest("v1")], 5, [("v1", 95), ("v2", 5)], id="adds-canary-at-5"),
        pytest.param([dest("v1")], 0, [("v1", 100), ("v2", 0)], id="adds-canary-at-0"),
        pytest.param(
            [dest("v1", 75), dest("v2", 25)], 50, [("v1", 50), ("v2", 50)], id="moves-to-50"
        ),
        pytest.param([dest("v1", 50), dest("v2", 50)], 100, [("v1", 0), ("v2", 100)], id="to-100"),
        pytest.param(
            [dest("v2", 100), dest("v1", 0)], 25, [("v2", 25), ("v1", 75)], id="order-kept"
        ),
        pytest.param(
            [dest("v1", 80), dest("v3", 20)],
            50,
            [("v1", 40), ("v2", 40), ("v3", 20)],
            id="third-destination-keeps-its-share",
        ),
        pytest.param(
            [dest("v1", 70), dest("v3", 30)],
            5,
            [("v1", 66), ("v2", 4), ("v3", 30)],
            id="share-of-the-pool-rounded",
        ),
    ],
)
def test_set_weights(route: list[Doc], weight: int, expected: list[tuple[str, int]]) -> None:
    """Weights go to the pair only, sum to 100, and other destinations keep theirs."""
    target = Target(HOST, "v1", "v2", namespace="shop", routes=("primary",))
    vs = virtual_service(healthz(), primary(*route))
    out = set_weights(vs, target, weight)
    assert weights(out) == expected
    assert sum(w or 0 for _, w in expected) == 100


def test_set_weights_keeps_everything_else() -> None:
    """Only the pair's weights change: other routes, retries, headers and ports are kept."""
    vs = seed_vs()
    before = copy.deepcopy(vs)
    out = set_weights(vs, TARGET, 25)
    assert vs == before, "the input document must not be mutated"
    assert without_route(out, "primary") == without_route(before, "primary")
    new, old = out["spec"]["http"][1], before["spec"]["http"][1]
    assert {k: v for k, v in new.items() if k != "route"} == {
        k: v for k, v in old.items() if k != "route"
    }
    assert new["route"][1]["destination"] == {
        "host": HOST,
        "subset": "v2",
        "port": {"number": 8080},
    }
    assert {k: v for k, v in out.items() if k not in ("spec", "metadata")} == {
        k: v for k, v in before.items() if k not in ("spec", "metadata")
    }
    assert out["metadata"]["annotations"] == {APPLIED_ANNOTATION: "v2=25"}


def test_weights_and_header_route_on_a_busy_virtual_service() -> None:
    """With several routes, only the managed one changes; the header route slots in before it."""
    vs = busy_vs()
    out = set_header_route(set_weights(vs, TARGET, 50), TARGET, "x-canary", "true")
    names = [r.get("name") for r in out["spec"]["http"]]
    assert names == ["healthz", "beta", f"primary{HEADER_ROUTE_SUFFIX}", "primary", "legacy"]
    for name in ("healthz", "beta", "legacy"):
        assert next(r for r in out["spec"]["http"] if r["name"] == name) == next(
            r for r in vs["spec"]["http"] if r["name"] == name
        )
    assert weights(out) == [("v1", 50), ("v2", 50)]
    header = out["spec"]["http"][2]
    assert (header["fault"], header["mirror"]) == (
        vs["spec"]["http"][2]["fault"],
        {"host": "inventory-shadow"},
    )
    assert remove_header_route(set_weights(out, TARGET, 0, drop_unused=True)) == set_weights(
        vs, TARGET, 0, drop_unused=True
    )


@pytest.mark.parametrize(
    ("route", "weight", "expected"),
    [
        pytest.param(
            [dest("v1", 75), dest("v2", 25)], 0, [("v1", 100)], id="rollback-drops-canary"
        ),
        pytest.param(
            [dest("v1", 50), dest("v2", 50)], 100, [("v2", 100)], id="success-drops-stable"
        ),
        pytest.param([dest("v2", 100)], 100, [("v2", 100)], id="already-done"),
        pytest.param(
            [dest("v1", 60), dest("v2", 20), dest("v3", 20)],
            0,
            [("v1", 80), ("v3", 20)],
            id="third-destination-stays",
        ),
    ],
)
def test_drop_unused_member(route: list[Doc], weight: int, expected: list[tuple[str, int]]) -> None:
    """At the end the pair member at 0% leaves the route; the rest is untouched."""
    target = Target(HOST, "v1", "v2", namespace="shop", routes=("primary",))
    out = set_weights(virtual_service(primary(*route)), target, weight, drop_unused=True)
    assert weights(out) == expected


def test_weight_out_of_range_is_refused() -> None:
    """A weight outside 0..100 is a programming error, refused before anything changes."""
    with pytest.raises(ValueError, match="outside"):
        set_weights(seed_vs(), TARGET, 101)


def test_header_route_goes_before_the_managed_route() -> None:
    """Testers' header route precedes the managed route and copies its policies."""
    out = set_header_route(seed_vs(), TARGET, "x-canary", "true")
    names = [r.get("name") for r in out["spec"]["http"]]
    assert names == ["healthz", f"primary{HEADER_ROUTE_SUFFIX}", "primary"]
    header = out["spec"]["http"][1]
    assert header["match"] == [{"headers": {"x-canary": {"exact": "true"}}}]
    assert header["route"] == [
        {"destination": {"host": HOST, "subset": "v2", "port": {"number": 8080}}, "weight": 100}
    ]
    assert header["retries"] == seed_vs()["spec"]["http"][1]["retries"]
    assert header["timeout"] == "5s"


def test_header_route_combines_with_existing_matches() -> None:
    """A named route with matches gets the header added to each of its match clauses."""
    target = Target(HOST, "v1", "v2", routes=("healthz",))
    out = set_header_route(seed_vs(), target, "x-qa", "yes")
    header = out["spec"]["http"][0]
    assert header["name"] == f"healthz{HEADER_ROUTE_SUFFIX}"
    assert header["match"] == [
        {"uri": {"exact": "/healthz"}, "headers": {"x-qa": {"exact": "yes"}}}
    ]


def test_header_route_is_idempotent_and_removable() -> None:
    """Adding twice equals adding once; removing gives back the original document."""
    vs = seed_vs()
    once = set_header_route(vs, TARGET, "x-canary", "true")
    assert set_header_route(once, TARGET, "x-canary", "true") == once
    assert remove_header_route(once) == vs
    assert remove_header_route(vs) == vs


def test_unnamed_managed_route_gets_a_stable_header_route_name() -> None:
    """An unnamed route is referred to by its index, before the header route shifts it."""
    vs = virtual_service(healthz(), primary(name=None))
    once = set_header_route(vs, TARGET, "x-canary", "true")
    assert once["spec"]["http"][1]["name"] == f"http[1]{HEADER_ROUTE_SUFFIX}"
    assert set_header_route(once, TARGET, "x-canary", "true") == once
    assert managed_routes(once, TARGET) == [2]


def test_weight_drift_tells_hand_edits_from_our_own_changes() -> None:
    """Our last weights are recorded; a hand edit shows as drift, our pending change does not."""
    untouched = seed_vs()
    assert not weight_drift(untouched, TARGET)
    ours = set_weights(untouched, TARGET, 25)
    assert not weight_drift(ours, TARGET)
    edited = copy.deepcopy(ours)
    edited["spec"]["http"][1]["route"][0]["weight"] = 50
    edited["spec"]["http"][1]["route"][1]["weight"] = 50
    assert weight_drift(edited, TARGET)
    assert not weight_drift(set_weights(edited, TARGET, 50), TARGET)


def test_no_drift_after_a_member_was_dropped() -> None:
    """A route left with only stable after a rollback matches the 0% on record."""
    rolled_back = set_weights(set_weights(seed_vs(), TARGET, 25), TARGET, 0, drop_unused=True)
    assert weights(rolled_back) == [("v1", 100)]
    assert not weight_drift(rolled_back, TARGET)


def test_a_users_route_named_like_ours_is_kept() -> None:
    """A route of the user's whose name ends like a header route is neither removed nor
    mistaken for ours: only routes the VirtualService's annotation lists are the controller's."""
    mine = {
        "name": f"beta{HEADER_ROUTE_SUFFIX}",
        "match": [{"headers": {"x-beta": {"exact": "1"}}}],
        "route": [{"destination": {"host": HOST, "subset": "v1"}}],
    }
    vs = virtual_service(healthz(), mine, primary())
    assert remove_header_route(vs) == vs
    once = set_header_route(vs, TARGET, "x-canary", "true")
    names = [r["name"] for r in once["spec"]["http"]]
    assert names == [
        "healthz",
        f"beta{HEADER_ROUTE_SUFFIX}",
        f"primary{HEADER_ROUTE_SUFFIX}",
        "primary",
    ]
    assert remove_header_route(once) == vs


@pytest.mark.parametrize("metadata", [None, {"name": "inventory-route", "annotations": None}])
def test_null_metadata_or_annotations_take_our_annotation(metadata: Doc | None) -> None:
    """``metadata: null`` and ``annotations: null`` are valid YAML a person may write
    (the fuzz test found the first): the weights and our annotation are still set."""
    target = Target(HOST, "v1", "v2", namespace="shop", routes=("primary",))
    vs = {**seed_vs(), "metadata": metadata}
    out = set_weights(vs, target, 25)
    assert out["metadata"]["annotations"][APPLIED_ANNOTATION] == "v2=25"
    out = set_header_route({**seed_vs(), "metadata": metadata}, target, "x-canary", "true")
    assert out["metadata"]["annotations"]
