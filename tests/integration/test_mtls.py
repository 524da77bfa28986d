"""The mTLS preflight's reading over real HTTP: ``WorkloadClient.mtls_report`` lists the
PeerAuthentications of the namespace and the mesh root and the Deployments behind the
DestinationRule's subsets, and says what peers may send the service's pods. Runs on the
emulator, or a real cluster when configured (the mesh-root case only on the emulator)."""

from __future__ import annotations

import uuid
from typing import Any

from rollout.kube import KubeClient, WorkloadClient
from rollout.kube.resources import DEPLOYMENTS, peer_authentications
from tests.integration.conftest import Cluster
from tests.unit.istio import destination_rule

PA = peer_authentications("v1beta1")
SUBSETS = ("v1", "v2")


def policy(
    name: str,
    mode: str,
    selector: dict[str, str] | None = None,
    ports: dict[int, str] | None = None,
) -> dict[str, Any]:
    """A PeerAuthentication to create."""
    spec: dict[str, Any] = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(p): {"mode": m} for p, m in ports.items()}
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name},
        "spec": spec,
    }


def deployment(version: str, port: int = 8080) -> dict[str, Any]:
    """The Deployment behind subset ``version``, serving ``port``."""
    labels = {"app": "inventory", "version": version}
    container = {"name": "app", "image": "inventory", "ports": [{"containerPort": port}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"inventory-{version}"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def setup(cluster: Cluster) -> tuple[KubeClient, WorkloadClient]:
    kube = cluster.kube()
    for version in SUBSETS:
        kube.create(DEPLOYMENTS, cluster.namespace, deployment(version))
    return kube, WorkloadClient(kube)


def test_namespace_without_policy_is_not_strict(cluster: Cluster) -> None:
    """No PeerAuthentication: not STRICT, and the reason says Istio's default is PERMISSIVE."""
    _, workloads = setup(cluster)
    report = workloads.mtls_report(
        cluster.namespace, destination_rule(), SUBSETS, root_namespace=cluster.namespace
    )
    assert (report.mode, report.strict) == (None, False)
    assert report.reasons == (
        f"namespace {cluster.namespace} has no PeerAuthentication (Istio's default is PERMISSIVE)",
    )


def test_port_level_exception_on_the_service_port_is_not_strict(cluster: Cluster) -> None:
    """A STRICT namespace with a workload policy that allows PERMISSIVE on the pods' port
    8080 is not STRICT; an exception on a port the pods do not serve does not count."""
    kube, workloads = setup(cluster)
    ns = cluster.namespace

    def report() -> Any:
        return workloads.mtls_report(ns, destination_rule(), SUBSETS, root_namespace=ns)

    kube.create(PA, ns, policy("default", "STRICT"))
    assert report().strict
    kube.create(PA, ns, policy("metrics", "UNSET", {"app": "inventory"}, {9090: "DISABLE"}))
    assert report().strict
    kube.delete(PA, ns, "metrics")
    kube.create(PA, ns, policy("legacy", "UNSET", {"app": "inventory"}, {8080: "PERMISSIVE"}))
    seen = report()
    assert (seen.mode, seen.strict) == ("PERMISSIVE", False)
    assert f"PeerAuthentication {ns}/legacy allows PERMISSIVE on port 8080" in seen.reasons


def test_workload_policy_of_one_subset_counts(cluster: Cluster) -> None:
    """A DISABLE policy selecting only the stable pods makes the service not STRICT, and
    names the Deployment; one selecting other pods does not matter."""
    kube, workloads = setup(cluster)
    ns = cluster.namespace
    kube.create(PA, ns, policy("default", "STRICT"))
    kube.create(PA, ns, policy("cart", "DISABLE", {"app": "cart"}))
    assert workloads.mtls_report(ns, destination_rule(), SUBSETS, root_namespace=ns).strict
    kube.create(PA, ns, policy("old", "DISABLE", {"version": "v1"}))
    seen = workloads.mtls_report(ns, destination_rule(), SUBSETS, root_namespace=ns)
    assert (seen.mode, seen.strict) == ("DISABLE", False)
    assert (
        seen.reasons[0] == f"PeerAuthentication {ns}/old sets DISABLE for Deployment inventory-v1"
    )


def test_mesh_wide_policy_in_the_root_namespace(cluster: Cluster) -> None:
    """With no namespace policy, the root namespace's mesh-wide STRICT applies; a
    namespace-wide PERMISSIVE overrides it."""
    cluster.require_emulator("the mesh root namespace of a real cluster is shared")
    kube, workloads = setup(cluster)
    ns, root = cluster.namespace, f"root-{uuid.uuid4().hex[:8]}"
    kube.create(PA, root, policy("default", "STRICT"))
    seen = workloads.mtls_report(ns, destination_rule(), SUBSETS, root_namespace=root)
    assert (seen.mode, seen.strict) == ("STRICT", True)
    assert f"the mesh-wide PeerAuthentication {root}/default sets STRICT" in seen.message
    kube.create(PA, ns, policy("default", "PERMISSIVE"))
    seen = workloads.mtls_report(ns, destination_rule(), SUBSETS, root_namespace=root)
    assert (seen.mode, seen.strict) == ("PERMISSIVE", False)
