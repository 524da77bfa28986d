"""The Deployments behind a version, their autoscalers, and their size: read and set.

What a succeeded release's rules need (``rollout.engine.after``): for each subset
asked about, the Deployments whose pod labels it selects (as readiness does in
``rollout.kube.workloads``), how many replicas they ask for and have ready, the
HorizontalPodAutoscaler (``autoscaling/v2``) that targets each, and what else
routes to their pods: another subset of the same DestinationRule, or a subset of
another DestinationRule in the namespace. The adapter reports these facts; it
never decides whether to scale.

An HPA is read, never written: Kubernetes' HPA controller leaves a target whose
``spec.replicas`` is 0 alone (condition ScalingActive False, reason ScalingDisabled,
while ``minReplicas`` is not 0), so a Deployment scaled to zero stays there, and
autoscaling resumes once an undo brings it back to at least ``minReplicas`` (its
bounds are recorded in the status for that; ``rollout.engine.after``).

Scaling is a merge patch of ``spec.replicas`` (RBAC: ``deployments`` ``patch``):
the value is a desired state the engine re-asks on every reconcile, so a lost
answer or a crash is cured by the next one, without preconditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Forbidden, NotFound
from rollout.kube.resources import AUTOSCALERS, DEPLOYMENTS, destination_rules
from rollout.model.workloads import Autoscaler, DeploymentView, Versions

Doc = dict[str, Any]


def pod_labels(deployment: Doc) -> dict[str, str]:
    template = (deployment.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def subset_labels(destination_rule: Doc) -> dict[str, dict[str, str]]:
    """Each subset's labels, by subset name."""
    subsets = (destination_rule.get("spec") or {}).get("subsets") or []
    return {str(s.get("name")): dict(s.get("labels") or {}) for s in subsets if s.get("name")}


def is_ready(deployment: Doc) -> bool:
    """Its controller has seen the current spec; at least one pod, all updated and ready."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    generation = int(deployment["metadata"].get("generation", 0))
    return (
        wanted >= 1
        and int(status.get("observedGeneration", 0)) >= generation
        and int(status.get("updatedReplicas", 0)) >= wanted
        and int(status.get("readyReplicas", 0)) >= wanted
    )


def autoscaler_of(name: str, autoscalers: Sequence[Doc]) -> Autoscaler | None:
    """The HPA whose scaleTargetRef is Deployment ``name`` (the first, by name)."""
    for hpa in sorted(autoscalers, key=lambda h: str(h["metadata"]["name"])):
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name") == name:
            return Autoscaler(
                str(hpa["metadata"]["name"]),
                int(spec.get("minReplicas", 1)),
                int(spec.get("maxReplicas", 1)),
            )
    return None


def views(
    deployments: Sequence[Doc],
    autoscalers: Sequence[Doc],
    destination_rule: Doc,
    others: Sequence[Doc],
    subsets: Sequence[str],
) -> Versions:
    """For each of ``subsets`` of ``destination_rule``, its Deployments as seen, each naming
    what else selects its pods (another of our subsets; a subset of ``others``)."""
    ours = subset_labels(destination_rule)
    dr_name = str(destination_rule["metadata"]["name"])
    selectors = [(f"subset {s} of {dr_name}", s, labels) for s, labels in ours.items()]
    for other in others:
        name = str(other["metadata"]["name"])
        if name == dr_name:
            continue
        host = (other.get("spec") or {}).get("host")
        for s, labels in subset_labels(other).items():
            selectors.append((f"subset {s} of {name} ({host})", "", labels))
    found: Versions = {}
    for subset in subsets:
        wanted = ours.get(subset)
        if wanted is None:
            found[subset] = ()
            continue
        seen = []
        for d in sorted(deployments, key=lambda d: str(d["metadata"]["name"])):
            labels = pod_labels(d)
            if not wanted.items() <= labels.items():
                continue
            shared = tuple(
                what for what, s, sel in selectors if s != subset and sel.items() <= labels.items()
            )
            name = str(d["metadata"]["name"])
            seen.append(
                DeploymentView(
                    name=name,
                    replicas=int((d.get("spec") or {}).get("replicas", 1)),
                    ready_replicas=int((d.get("status") or {}).get("readyReplicas", 0)),
                    ready=is_ready(d),
                    shared_with=shared,
                    autoscaler=autoscaler_of(name, autoscalers),
                )
            )
        found[subset] = tuple(seen)
    return found


class ScalingClient:
    """Reads the Deployments behind subsets (with HPAs and sharing) and sets their size."""

    def __init__(self, kube: KubeClient, istio_version: str = "v1beta1") -> None:
        self.kube = kube
        self.istio_version = istio_version

    def versions(self, namespace: str, destination_rule: Doc, subsets: Sequence[str]) -> Versions:
        deployments, _ = self.kube.list(DEPLOYMENTS, namespace)
        others, _ = self.kube.list(destination_rules(self.istio_version), namespace)
        return views(deployments, self.autoscalers(namespace), destination_rule, others, subsets)

    def autoscalers(self, namespace: str) -> list[Doc]:
        """The namespace's HPAs; none when autoscaling/v2 is not served or not granted."""
        try:
            items, _ = self.kube.list(AUTOSCALERS, namespace)
        except (NotFound, Forbidden):
            return []
        return items

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.kube.patch(DEPLOYMENTS, namespace, name, {"spec": {"replicas": replicas}})
