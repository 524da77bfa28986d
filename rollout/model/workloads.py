"""What a reconcile sees of a version's Deployments (and the autoscalers on them).

Plain, immutable data: the Kubernetes adapter fills it from the cluster
(``rollout.kube.scaling``), the engine reads it to decide a scale-down or an undo
(``rollout.engine.after``). Nothing here talks to a cluster or decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Autoscaler:
    """A HorizontalPodAutoscaler (autoscaling/v2) whose scale target is a Deployment."""

    name: str
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class DeploymentView:
    """One Deployment behind a subset, as read.

    ``replicas`` is what its spec asks for; ``ready`` says the Deployment has seen
    its current spec and has at least one pod and all it asks for updated and ready.
    ``shared_with`` names what else routes to its pods (another subset of the
    DestinationRule, another service's DestinationRule): such a Deployment is never
    scaled down. ``autoscaler`` is the HPA that targets it, if any.
    """

    name: str
    replicas: int
    ready_replicas: int = 0
    ready: bool = False
    shared_with: tuple[str, ...] = ()
    autoscaler: Autoscaler | None = None


Versions = dict[str, tuple[DeploymentView, ...]]
"""The Deployments behind each subset asked about (an empty tuple: none found)."""
