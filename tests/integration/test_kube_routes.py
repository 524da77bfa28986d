"""The Kubernetes adapter with every route to a service (mesh + ingress VirtualServices) over
real HTTP: found by the routes' destinations, moved with preconditions, a concurrent edit of
either never overwritten. Runs on the emulator, or a real cluster when configured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollout.actions import SetWeights
from rollout.kube import KubeClient, NotFound, RoutingClient
from rollout.kube.resources import destination_rules, virtual_services
from rollout.mesh import Target
from rollout.mesh.istio import Routing
from rollout.mesh.routeset import apply_routing
from tests.integration.conftest import Cluster
from tests.unit.istio import HOST, destination_rule, in_namespace, seed_vs, weights
from tests.unit.test_mesh_routeset import ingress


def seed(cluster: Cluster, kube: KubeClient) -> RoutingClient:
    """The seed's mesh VirtualService, an ingress one for shop.example.com, the rule."""
    mesh = RoutingClient(kube)
    for doc in (seed_vs(), ingress()):
        kube.create(
            virtual_services(mesh.version), cluster.namespace, in_namespace(doc, cluster.namespace)
        )
    kube.create(
        destination_rules(mesh.version),
        cluster.namespace,
        in_namespace(destination_rule(), cluster.namespace),
    )
    return mesh


def to_weight(t: Target, weight: int) -> Callable[[Routing], Routing]:
    return lambda r: apply_routing(r, t, [SetWeights(weight)]).routing


def test_finds_every_virtual_service_routing_to_the_host(cluster: Cluster) -> None:
    """Unnamed: every VirtualService whose routes go to the host, whatever its hosts;
    named: exactly those; none: NotFound."""
    mesh = seed(cluster, cluster.kube())
    found = mesh.find_virtual_services(cluster.namespace, HOST)
    assert [d["metadata"]["name"] for d in found] == ["inventory-public", "inventory-route"]
    named = mesh.find_virtual_services(cluster.namespace, HOST, ["inventory-route"])
    assert [d["metadata"]["name"] for d in named] == ["inventory-route"]
    with pytest.raises(NotFound, match="no VirtualService"):
        mesh.find_virtual_services(cluster.namespace, "cart-service")


def test_update_all_moves_both_and_survives_a_concurrent_edit(cluster: Cluster) -> None:
    """A person edits the ingress between our read and write: its patch gets 409, both are
    read again and each written once; the person's edit stays."""
    mesh = seed(cluster, cluster.kube("writer"))
    person = RoutingClient(cluster.kube("person"))
    t = Target(HOST, "v1", "v2", namespace=cluster.namespace)
    move = to_weight(t, 25)
    calls: list[str] = []

    def transform(docs: Routing) -> Routing:
        public = docs.virtual_services[0]
        if not calls:  # the person strikes after our read
            spec = {**public["spec"], "http": [*public["spec"]["http"]]}
            spec["http"][2] = spec["http"][2] | {"timeout": "9s"}
            person.write(public, {**public, "spec": spec})
        calls.append(public["metadata"]["resourceVersion"])
        return move(docs)

    names = ["inventory-public", "inventory-route"]
    done = mesh.update_all(cluster.namespace, names, "inventory-dr", transform)
    assert len(calls) == 2
    public, route = done.virtual_services
    assert public["spec"]["http"][2]["timeout"] == "9s"
    assert weights(public, "public") == weights(route) == [("v1", 75), ("v2", 25)]
    if cluster.api is not None:
        patches = [e for e in cluster.writes(user="writer") if e.verb == "patch"]
        assert [(e.resource, e.code) for e in patches] == [
            ("virtualservices.networking.istio.io", 409),
            ("virtualservices.networking.istio.io", 200),
            ("virtualservices.networking.istio.io", 200),
        ]
