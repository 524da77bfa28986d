"""The scaling adapter over real HTTP (issue #17): a subset's Deployments with the HPA
(autoscaling/v2) that targets them, scaled by a merge patch of spec.replicas; and the
emulator's stand-in Deployment controller, whose status follows the spec."""

from __future__ import annotations

import time
from typing import Any

from meshlab.kubeapi.deployments import DeploymentController
from rollout.kube.resources import AUTOSCALERS, DEPLOYMENTS
from rollout.kube.scaling import ScalingClient
from rollout.model.workloads import Autoscaler
from tests.integration.conftest import Cluster
from tests.unit.istio import destination_rule


def deployment(name: str, version: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "inventory", "version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]},
            },
        },
    }


def autoscaler(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
    }


def test_versions_name_the_autoscaler_and_scale_sets_the_size(cluster: Cluster) -> None:
    """The v1 Deployment with its HPA's bounds; scaling to 0 and back writes spec.replicas."""
    kube = cluster.kube()
    ns = cluster.namespace
    kube.create(DEPLOYMENTS, ns, deployment("inventory-v1", "v1", 3))
    kube.create(DEPLOYMENTS, ns, deployment("inventory-v2", "v2", 1))
    kube.create(AUTOSCALERS, ns, autoscaler("inventory-v1", "inventory-v1"))
    scaling = ScalingClient(kube)
    seen = scaling.versions(ns, destination_rule(), ["v1"])
    (v1,) = seen["v1"]
    assert (v1.name, v1.replicas, v1.autoscaler) == (
        "inventory-v1",
        3,
        Autoscaler("inventory-v1", 2, 6),
    )
    scaling.scale(ns, "inventory-v1", 0)
    assert kube.get(DEPLOYMENTS, ns, "inventory-v1")["spec"]["replicas"] == 0
    scaling.scale(ns, "inventory-v1", 3)
    assert kube.get(DEPLOYMENTS, ns, "inventory-v1")["spec"]["replicas"] == 3


def test_the_emulators_deployments_become_ready_after_a_scale_up(cluster: Cluster) -> None:
    """Scaled to zero: not ready at once; scaled up: ready only after the pods' delay."""
    api = cluster.require_emulator("the emulator's stand-in Deployment controller")
    kube = cluster.kube()
    ns = cluster.namespace
    kube.create(DEPLOYMENTS, ns, deployment("inventory-v1", "v1", 2))
    pods = DeploymentController(api, ready_after_s=0.5).start()
    try:
        scaling = ScalingClient(kube)

        def v1() -> Any:
            return scaling.versions(ns, destination_rule(), ["v1"])["v1"][0]

        _wait(lambda: v1().ready)
        scaling.scale(ns, "inventory-v1", 0)
        _wait(lambda: v1().ready_replicas == 0)
        assert not v1().ready
        scaling.scale(ns, "inventory-v1", 2)
        asked = time.monotonic()
        _wait(lambda: v1().ready)
        assert time.monotonic() - asked >= 0.4
    finally:
        pods.stop()


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
