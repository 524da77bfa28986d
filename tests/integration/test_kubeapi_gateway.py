"""The emulator serves the Gateway API's HTTPRoutes like a cluster with its CRDs: over real
HTTP through the ``kubernetes`` client, with the upstream's defaults and bounds, and the
HTTPRoute transforms' output patched back and read unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.kube import Invalid
from rollout.kube.client import Resource
from rollout.kube.routing import merge_diff
from rollout.mesh.httproute import Backends, set_header_route, set_weights, validate_route
from tests.integration.conftest import Cluster
from tests.unit.test_mesh_httproute import busy_route

HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes")
BETA = Resource("gateway.networking.k8s.io", "v1beta1", "httproutes")
SERVICES = ("inventory-v1", "inventory-v2", "inventory-v3", "legacy")


def created(cluster: Cluster) -> dict[str, Any]:
    route = busy_route()
    route["metadata"] = {"name": "inventory-route"}
    return cluster.kube().create(HTTPROUTES, cluster.namespace, route)


def test_httproutes_are_served_with_the_upstream_defaults(cluster: Cluster) -> None:
    """A backendRef's weight defaults to 1, a rule without matches gets the PathPrefix /
    match; v1beta1 serves the same object; the route is still one the transforms manage."""
    route = created(cluster)
    main = route["spec"]["rules"][2]
    assert main["backendRefs"][0]["weight"] == 1
    assert main["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    again = cluster.kube().get(BETA, cluster.namespace, "inventory-route")
    assert again["spec"] == route["spec"]
    b = Backends("inventory-v1", "inventory-v2", namespace=cluster.namespace)
    assert validate_route(route, b, SERVICES) == [2]


def test_a_bad_weight_is_refused_with_the_field(cluster: Cluster) -> None:
    """422 naming the field, as the real CRD's schema does."""
    route = busy_route()
    route["metadata"] = {"name": "bad"}
    route["spec"]["rules"][2]["backendRefs"][0]["weight"] = -1
    if cluster.api is None:
        pytest.skip("the emulator's schema; a real cluster's CRD answers the same way")
    with pytest.raises(Invalid, match=r"backendRefs\[0\]\.weight"):
        cluster.kube().create(HTTPROUTES, cluster.namespace, route)


def test_transformed_routes_round_trip(cluster: Cluster) -> None:
    """Weights and the header rule patched in (merge patch, resourceVersion precondition)
    come back exactly as the transforms wrote them."""
    kube = cluster.kube()
    route = created(cluster)
    b = Backends("inventory-v1", "inventory-v2", namespace=cluster.namespace)
    wanted = set_header_route(set_weights(route, b, 25), b, "x-canary", "true")
    patch = merge_diff(route, wanted)
    patch["metadata"]["resourceVersion"] = route["metadata"]["resourceVersion"]
    written = kube.patch(HTTPROUTES, cluster.namespace, "inventory-route", patch)
    assert written["spec"] == wanted["spec"]
    assert written["metadata"]["annotations"] == wanted["metadata"]["annotations"]
