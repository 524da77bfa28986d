"""What the preflight needs to know about the cluster: is the canary workload
ready, and does the namespace require mutual TLS.

Reads only; the decision (block, warn) is the controller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Forbidden, NotFound
from rollout.kube.resources import DEPLOYMENTS, peer_authentications


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
    """Deployments behind a DestinationRule subset, and the namespace's mTLS mode."""

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

    def mtls_mode(self, namespace: str, root_namespace: str = "istio-system") -> str | None:
        """STRICT, PERMISSIVE or DISABLE from the namespace-wide PeerAuthentication, else the
        mesh-wide one in ``root_namespace``; None when neither sets it (Istio: PERMISSIVE)."""
        for ns in (namespace, root_namespace):
            try:
                items, _ = self.kube.list(peer_authentications(self.istio_version), ns)
            except (NotFound, Forbidden):
                continue
            for policy in items:
                spec = policy.get("spec") or {}
                if not spec.get("selector"):
                    mode = (spec.get("mtls") or {}).get("mode")
                    if mode and mode != "UNSET":
                        return str(mode)
        return None
