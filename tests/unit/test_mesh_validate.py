"""Validation of a VirtualService/DestinationRule pair: the broken-pair catalogue."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from rollout.mesh import MeshError, Target, subset_version, validate_pair
from tests.unit.istio import (
    HOST,
    Doc,
    dest,
    destination_rule,
    healthz,
    primary,
    seed_vs,
    virtual_service,
)

TARGET = Target(HOST, "v1", "v2", namespace="shop")


def edited(doc: Doc, change: Callable[[Doc], object]) -> Doc:
    out = copy.deepcopy(doc)
    change(out)
    return out


@pytest.mark.parametrize(
    ("vs", "dr"),
    [
        pytest.param(seed_vs(), destination_rule(), id="seed-v1beta1"),
        pytest.param(seed_vs("v1"), destination_rule(version="v1"), id="v1"),
        pytest.param(
            virtual_service(healthz(), primary(dest("v1", 90), dest("v2", 10))),
            destination_rule("v1", "v2", "v3"),
            id="mid-rollout",
        ),
        pytest.param(
            seed_vs(), destination_rule(host=f"{HOST}.shop.svc.cluster.local"), id="fqdn-rule"
        ),
        pytest.param(
            # Argo Rollouts' ingress example: a public host on a gateway, routing to the service.
            virtual_service(healthz(), primary(), hosts=["shop.example.com"]),
            destination_rule(),
            id="ingress-host",
        ),
    ],
)
def test_valid_pairs_return_the_managed_routes(vs: Doc, dr: Doc) -> None:
    """A sound pair validates and names the route the rollout will manage."""
    assert validate_pair(vs, dr, TARGET) == [1]


BROKEN_PAIRS = [
    pytest.param(
        edited(seed_vs(), lambda d: d.update(kind="Gateway")),
        destination_rule(),
        TARGET,
        ["VirtualService.kind"],
        "expected kind VirtualService",
        id="not-a-virtualservice",
    ),
    pytest.param(
        edited(seed_vs(), lambda d: d.update(apiVersion="networking.istio.io/v2")),
        destination_rule(),
        TARGET,
        ["VirtualService.apiVersion"],
        "v1beta1",
        id="unknown-api-version",
    ),
    pytest.param(
        seed_vs(),
        edited(destination_rule(), lambda d: d.update(apiVersion="apps/v1")),
        TARGET,
        ["DestinationRule.apiVersion"],
        "networking.istio.io",
        id="rule-wrong-group",
    ),
    pytest.param(
        virtual_service(primary(dest("v1", host="cart-service")), hosts=[HOST]),
        destination_rule(),
        TARGET,
        ["VirtualService.spec.http"],
        "sends traffic to ['cart-service'], not inventory-service",
        id="host-not-routed",
    ),
    pytest.param(
        seed_vs(),
        destination_rule(host="cart-service"),
        TARGET,
        ["DestinationRule.spec.host"],
        "is for 'cart-service'",
        id="rule-for-another-host",
    ),
    pytest.param(
        seed_vs(),
        destination_rule("v1"),
        TARGET,
        ["DestinationRule.spec.subsets"],
        "no canary subset 'v2' (it has: v1)",
        id="missing-canary-subset",
    ),
    pytest.param(
        seed_vs(),
        destination_rule("v2"),
        TARGET,
        ["DestinationRule.spec.subsets"],
        "no stable subset 'v1'",
        id="missing-stable-subset",
    ),
    pytest.param(
        virtual_service(healthz(), primary(dest("v1", 80), dest("v2", 10))),
        destination_rule(),
        TARGET,
        ["VirtualService.spec.http[1].route"],
        "add up to 90, not 100",
        id="weights-short-of-100",
    ),
    pytest.param(
        virtual_service(primary(dest("v1", 60), dest("v2", 60))),
        destination_rule(),
        TARGET,
        ["VirtualService.spec.http[0].route"],
        "add up to 120",
        id="weights-over-100",
    ),
    pytest.param(
        virtual_service(primary(dest("v1", 110), dest("v2", -10))),
        destination_rule(),
        TARGET,
        [
            "VirtualService.spec.http[0].route[0].weight",
            "VirtualService.spec.http[0].route[1].weight",
        ],
        "not a weight 0..100",
        id="weights-out-of-range",
    ),
    pytest.param(
        virtual_service(primary(dest("v1", 90), {"destination": {"subset": "v2"}, "weight": 10})),
        destination_rule(),
        Target(HOST, "v1", "v2", routes=("primary",)),
        ["VirtualService.spec.http[0].route[1].destination.host"],
        "is missing",
        id="destination-without-host",
    ),
    pytest.param(
        virtual_service(primary(dest("v3", host="cart"))),
        destination_rule(),
        Target(HOST, "v1", "v2", routes=("primary",)),
        ["VirtualService.spec.http[0].route"],
        "neither 'v1' nor 'v2'",
        id="named-route-to-other-service",
    ),
    pytest.param(
        virtual_service(),
        destination_rule(),
        TARGET,
        ["VirtualService.spec.http"],
        "has no HTTP routes",
        id="no-http-routes",
    ),
    pytest.param(
        virtual_service(healthz()),
        destination_rule(),
        TARGET,
        ["VirtualService.spec.http"],
        "found none",
        id="no-unmatched-route",
    ),
    pytest.param(
        seed_vs(),
        destination_rule(),
        Target(HOST, "v1", "v2", routes=("primary", "api")),
        ["Rollout.spec.routes[1]"],
        "no HTTP route named 'api'",
        id="named-route-missing",
    ),
    pytest.param(
        virtual_service(primary(name="a"), primary(name="b")),
        destination_rule("v1"),
        TARGET,
        ["DestinationRule.spec.subsets", "VirtualService.spec.http"],
        "found a, b",
        id="several-problems-at-once",
    ),
    pytest.param(
        seed_vs(),
        edited(destination_rule(), lambda d: d["spec"]["subsets"][1].update(labels={"app": "x"})),
        TARGET,
        ["DestinationRule.spec.subsets[1].labels"],
        "subset 'v2' has no version label",
        id="canary-without-version-label",
    ),
    pytest.param(
        seed_vs(),
        edited(
            destination_rule(), lambda d: d["spec"]["subsets"][1].update(labels={"version": "v1"})
        ),
        TARGET,
        ["DestinationRule.spec.subsets"],
        "both have version 'v1'",
        id="subsets-with-the-same-version",
    ),
]


@pytest.mark.parametrize(("vs", "dr", "target", "fields", "words"), BROKEN_PAIRS)
def test_broken_pairs_name_every_field(
    vs: Doc, dr: Doc, target: Target, fields: list[str], words: str
) -> None:
    """Each broken pair is refused, naming exactly the fields at fault."""
    with pytest.raises(MeshError) as caught:
        validate_pair(vs, dr, target)
    assert caught.value.fields == fields
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("labels", "version"),
    [
        ({"version": "v2"}, "v2"),
        ({"app.kubernetes.io/version": "2.0", "version": "v2"}, "2.0"),
        ({"service.istio.io/canonical-revision": "r2", "version": "v2"}, "r2"),
        ({"app": "inventory"}, None),
    ],
)
def test_a_subsets_version_is_read_as_istio_reports_it(
    labels: dict[str, str], version: str | None
) -> None:
    """destination_version comes from the canonical-revision label, then the recommended
    version label, then ``version``; none of them means it cannot be measured."""
    dr = edited(destination_rule(), lambda d: d["spec"]["subsets"][1].update(labels=labels))
    assert subset_version(dr, "v2") == version


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["spec"].update(hosts="inventory-service"), "VirtualService.spec.hosts"),
        (lambda d: d["spec"]["http"].append(None), "VirtualService.spec.http[2]"),
        (
            lambda d: d["spec"]["http"][1].update(route={"a": 1}),
            "VirtualService.spec.http[1].route",
        ),
        (
            lambda d: d["spec"]["http"][1]["route"][0].update(destination="v1"),
            "VirtualService.spec.http[1].route[0].destination",
        ),
        (lambda d: d["metadata"].update(annotations=[]), "VirtualService.metadata.annotations"),
        (lambda d: d["spec"]["http"][1].update(name=7), "VirtualService.spec.http[1].name"),
    ],
)
def test_a_badly_shaped_virtual_service_is_refused_naming_the_field(
    change: Callable[[Doc], object], field: str
) -> None:
    """Types the transforms rely on are checked first: a MeshError naming the field, never a
    TypeError from deep inside a transform (found by the mesh fuzzer)."""
    with pytest.raises(MeshError) as caught:
        validate_pair(edited(seed_vs(), change), destination_rule(), TARGET)
    assert caught.value.fields == [field]
