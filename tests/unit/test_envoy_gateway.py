"""The lab's translation of an HTTPRoute into Envoy: precedence, filters, weights, outliers."""

from __future__ import annotations

from meshlab.envoygateway import clusters, route_configuration, routes
from rollout.mesh.hostrule import tighten_host
from rollout.mesh.httproute import Backends, set_header_route, set_weights
from rollout.model import OnRegression
from tests.unit.test_mesh_httproute import busy_route

VERSIONS = {"inventory-v1": "v1", "inventory-v2": "v2", "inventory-v3": "v3", "legacy": "v0"}
B = Backends("inventory-v1", "inventory-v2", namespace="shop")


def test_matches_follow_the_gateway_api_precedence() -> None:
    """The tester's header rule beats the catch-all whatever the order of rules; a longer
    prefix beats a shorter one; header matches beat none."""
    route = set_header_route(set_weights(busy_route(), B, 25), B, "x-canary", "true")
    names = [r["name"] for r in routes(route, "shop", VERSIONS)]
    assert names == ["api", "beta", "main-meshrollout-canary", "main"]
    first = routes(route, "shop", VERSIONS)[0]["match"]
    assert first == {"path_separated_prefix": "/api/v0"}


def test_filters_timeouts_and_weights_are_translated() -> None:
    """URL rewrite, header modifiers, the request timeout and each backend's weight."""
    by_name = {r["name"]: r for r in routes(set_weights(busy_route(), B, 25), "shop", VERSIONS)}
    api = by_name["api"]
    assert api["route"]["prefix_rewrite"] == "/"
    assert api["route"]["timeout"] == "2s"
    assert api["request_headers_to_add"] == [
        {"header": {"key": "x-api", "value": "v0"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
    ]
    assert [(c["name"], c["weight"]) for c in api["route"]["weighted_clusters"]["clusters"]] == [
        ("legacy|shop|v0", 10),
        ("inventory-v1|shop|v1", 80),
        ("inventory-v3|shop|v3", 10),
    ]
    main = by_name["main"]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in main] == [
        ("inventory-v1|shop|v1", 75),
        ("inventory-v2|shop|v2", 25),
    ]
    config = route_configuration(busy_route(), "shop", VERSIONS)
    assert config["virtual_hosts"][0]["domains"] == ["*"]


def test_the_canary_services_host_rule_sets_its_outlier_detection() -> None:
    """Tightened for inventory-v2's host: only that cluster ejects outliers."""
    rule = tighten_host(None, "inventory-v2", "shop", OnRegression().outlier_detection.wire())
    found = {c["name"]: c for c in clusters(VERSIONS, "shop", {"v2": [1234]}, [rule])}
    assert found["inventory-v2|shop|v2"]["outlier_detection"]["consecutive_5xx"] == 1
    assert found["inventory-v2|shop|v2"]["outlier_detection"]["max_ejection_percent"] == 50
    assert "outlier_detection" not in found["inventory-v1|shop|v1"]
