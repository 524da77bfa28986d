"""What the Kubernetes adapter reports of a subset's Deployments (rollout.kube.scaling):
sizes, readiness, the HPA that targets each, and what else selects their pods."""

from __future__ import annotations

from typing import Any

from rollout.kube.scaling import views
from rollout.model.workloads import Autoscaler
from tests.unit.istio import destination_rule

Doc = dict[str, Any]


def deployment(name: str, labels: dict[str, str], replicas: int = 3, ready: int = 3) -> Doc:
    return {
        "metadata": {"name": name, "generation": 2},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}}},
        "status": {"observedGeneration": 2, "updatedReplicas": ready, "readyReplicas": ready},
    }


def hpa(name: str, target: str, low: int = 2, high: int = 10) -> Doc:
    return {
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": low,
            "maxReplicas": high,
        },
    }


def other_dr(name: str, host: str, labels: dict[str, str]) -> Doc:
    return {
        "metadata": {"name": name},
        "spec": {"host": host, "subsets": [{"name": "main", "labels": labels}]},
    }


V1 = {"app": "inventory", "version": "v1"}
V2 = {"app": "inventory", "version": "v2"}


def test_a_subsets_deployments_with_size_readiness_and_autoscaler() -> None:
    """Only the Deployments whose pod labels the subset selects; the HPA that targets each."""
    seen = views(
        [deployment("inventory-v1", V1), deployment("inventory-v2", V2, 2, 1)],
        [hpa("inventory-v2", "inventory-v2"), hpa("unrelated", "cart")],
        destination_rule(),
        [],
        ["v1", "v2", "v9"],
    )
    (v1,) = seen["v1"]
    assert (v1.name, v1.replicas, v1.ready, v1.shared_with, v1.autoscaler) == (
        "inventory-v1",
        3,
        True,
        (),
        None,
    )
    (v2,) = seen["v2"]
    assert (v2.ready, v2.ready_replicas) == (False, 1)
    assert v2.autoscaler == Autoscaler("inventory-v2", 2, 10)
    assert seen["v9"] == ()


def test_a_deployment_selected_by_another_subset_or_service_is_shared() -> None:
    """Pods that our other subset, or another DestinationRule's subset, also selects."""
    both = {"app": "inventory", "version": "v1", "track": "v2"}
    dr = destination_rule()
    dr["spec"]["subsets"][1]["labels"] = {"track": "v2"}
    seen = views(
        [deployment("inventory-both", both), deployment("inventory-v1", V1)],
        [],
        dr,
        [dr, other_dr("reports-dr", "reports", {"app": "inventory"})],
        ["v1"],
    )
    shared = {d.name: d.shared_with for d in seen["v1"]}
    assert shared["inventory-both"] == (
        "subset v2 of inventory-dr",
        "subset main of reports-dr (reports)",
    )
    assert shared["inventory-v1"] == ("subset main of reports-dr (reports)",)


def test_a_deployment_at_zero_is_not_ready() -> None:
    """Scaled to zero, a Deployment cannot take traffic: not ready, whatever its status."""
    seen = views([deployment("inventory-v1", V1, 0, 0)], [], destination_rule(), [], ["v1"])
    assert not seen["v1"][0].ready
