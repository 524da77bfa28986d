"""What the preflight needs to know about the cluster: is the canary workload
ready, do the service's pods require mutual TLS (read here, judged in
``rollout.mesh.mtls``), and which data plane serves the service (its namespace's and
its own labels, judged in ``rollout.mesh.ambient``).

Reads only; the decision (block, warn) is the controller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Forbidden, NotFound
from rollout.kube.resources import DEPLOYMENTS, NAMESPACES, SERVICES, peer_authentications
from rollout.mesh.ambient import DATAPLANE_LABEL, WAYPOINT_LABEL, DataPlane, data_plane
from rollout.mesh.mtls import MtlsReport, Workload, assess


@dataclass(frozen=True)
class Readiness:
    """Whether a subset's Deployments can take traffic, and why not."""

    ready: bool
    message: str


def _subset_labels(destination_rule: dict[str, Any], subset: str) -> dict[str, str]:
    for entry in (destination_rule.get("spec") or {}).get("subsets") or []:
        if entry.get("name") == subset:
            return dict(entry.get("labels") or {})
    raise NotFound(f"DestinationRule has no subset {subset!r}")


def _deployment_ready(d: dict[str, Any]) -> bool:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    generation = int(d["metadata"].get("generation", 0))
    return (
        wanted >= 1
        and int(status.get("observedGeneration", 0)) >= generation
        and int(status.get("updatedReplicas", 0)) >= wanted
        and int(status.get("readyReplicas", 0)) >= wanted
    )


class WorkloadClient:
    """Deployments behind a DestinationRule subset, and what mTLS their pods require."""

    def __init__(self, kube: KubeClient, istio_version: str = "v1beta1") -> None:
        self.kube = kube
        self.istio_version = istio_version

    def subset_readiness(
        self, namespace: str, destination_rule: dict[str, Any], subset: str
    ) -> Readiness:
        labels = _subset_labels(destination_rule, subset)
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        items, _ = self.kube.list(DEPLOYMENTS, namespace)
        chosen = [
            d
            for d in items
            if labels.items()
            <= (
                (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
                or {}
            ).items()
        ]
        if not chosen:
            return Readiness(False, f"no Deployment in {namespace} has pod labels {selector}")
        waiting = [d["metadata"]["name"] for d in chosen if not _deployment_ready(d)]
        if waiting:
            return Readiness(False, f"Deployment {', '.join(waiting)} is not ready")
        names = ", ".join(d["metadata"]["name"] for d in chosen)
        return Readiness(True, f"Deployment {names} ready")

    def mtls_report(
        self,
        namespace: str,
        destination_rule: dict[str, Any],
        subsets: Sequence[str],
        root_namespace: str = "istio-system",
    ) -> MtlsReport:
        """What peers may send the pods behind ``subsets`` of ``destination_rule``: the
        PeerAuthentications of the namespace, of the mesh (``root_namespace``, when
        readable) and of the pods' own labels, with port-level exceptions on their ports."""
        resource = peer_authentications(self.istio_version)
        try:
            policies, _ = self.kube.list(resource, namespace)
        except (NotFound, Forbidden) as error:
            why = "not served" if isinstance(error, NotFound) else "not readable"
            return MtlsReport(
                None, False, (f"PeerAuthentications in namespace {namespace} are {why}",)
            )
        root: list[dict[str, Any]] | None = policies
        if root_namespace != namespace:
            try:
                root, _ = self.kube.list(resource, root_namespace)
            except (NotFound, Forbidden):
                root = None
        return assess(
            namespace,
            policies,
            root_namespace,
            root,
            self._workloads(namespace, destination_rule, subsets),
        )

    def data_plane(self, namespace: str, service: str) -> tuple[DataPlane | None, str]:
        """The service's data plane, or None and why it cannot be told. Reads the
        Namespace (one GET), and the namespace's Services only when it is in ambient mode."""
        try:
            ns = self.kube.get(NAMESPACES, None, namespace)
        except (NotFound, Forbidden) as error:
            why = "not found" if isinstance(error, NotFound) else "not readable"
            return None, f"Namespace {namespace} is {why}"
        ns_labels = dict((ns.get("metadata") or {}).get("labels") or {})
        if ns_labels.get(DATAPLANE_LABEL) != "ambient":
            return data_plane(ns_labels, {}, ()), ""
        try:
            services, _ = self.kube.list(SERVICES, namespace)
        except (NotFound, Forbidden):
            return None, f"the Services of namespace {namespace} are not readable"
        mine = next((s for s in services if s["metadata"].get("name") == service), {})
        labels = dict((mine.get("metadata") or {}).get("labels") or {})
        # The waypoint named by the label is taken as installed (istioctl waypoint apply
        # --enroll-namespace sets it): reading Gateways would widen the RBAC for little.
        named = labels.get(WAYPOINT_LABEL) or ns_labels.get(WAYPOINT_LABEL)
        return data_plane(ns_labels, labels, (named,) if named else ()), ""

    def _workloads(
        self, namespace: str, destination_rule: dict[str, Any], subsets: Sequence[str]
    ) -> list[Workload]:
        """The Deployments behind the subsets, by pod labels, with their container ports."""
        wanted = []
        for subset in subsets:
            try:
                wanted.append(_subset_labels(destination_rule, subset))
            except NotFound:
                continue
        items, _ = self.kube.list(DEPLOYMENTS, namespace)
        found = []
        for d in items:
            template = (d.get("spec") or {}).get("template") or {}
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            if not any(w.items() <= labels.items() for w in wanted):
                continue
            containers = (template.get("spec") or {}).get("containers") or []
            ports = frozenset(
                int(p["containerPort"])
                for c in containers
                for p in c.get("ports") or []
                if isinstance(p.get("containerPort"), int)
            )
            found.append(Workload(d["metadata"]["name"], labels, ports))
        return found
