"""Effects as data: what the engine wants done, applied once by the controller.

Mesh actions describe the *desired* state of the VirtualService and
DestinationRule for the current status; they are idempotent, and the engine
emits them on every call so a controller that crashed half-way converges on
its next reconcile. Effects (notifications and Kubernetes Events) happen once
per transition and carry a structured identity within their rollout (``run``,
``decision``, and the event or reason); the controller joins the rollout's
namespace, name and uid to it, and the notifiers deduplicate on the whole.

Produced by ``rollout.engine``; mesh actions are applied by ``rollout.mesh.apply``,
Deployment sizes (``ScaleDeployment``) and effects by the notifiers and the
Kubernetes adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rollout.model import PendingEffect, Verdict


@dataclass(frozen=True)
class SetWeights:
    """The canary's share, in percent, of the traffic the stable/canary pair receives.

    ``drop_unused`` removes the member of the pair left at 0% once a rollout is
    over, so the route ends as a plain single-destination route.
    """

    canary_weight: int
    drop_unused: bool = False


@dataclass(frozen=True)
class SetHeaderRoute:
    """Route requests with ``header: value`` to the canary; ``header=None`` removes the route."""

    header: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class SetOutlierDetection:
    """Tighten the canary subset's outlier detection, or restore what it replaced."""

    tightened: bool
    settings: dict[str, Any] = field(default_factory=dict)


MeshAction = SetWeights | SetHeaderRoute | SetOutlierDetection


@dataclass(frozen=True)
class ScaleDeployment:
    """Set a Deployment's ``spec.replicas`` (a desired state, like the mesh actions)."""

    name: str
    replicas: int


NotifyEvent = Literal[
    "started",
    "step-promoted",
    "paused",
    "resumed",
    "rolled-back",
    "succeeded",
    "failed",
    "undoing",
    "undone",
]


def notify(
    run: int,
    decision: int,
    event: NotifyEvent,
    message: str,
    canary_weight: int,
    step_index: int | None,
    verdict: Verdict | None = None,
    outlier_detection: dict[str, Any] | None = None,
) -> PendingEffect:
    """Tell people (Slack, webhook): unique per rollout by (``run``, ``decision``, ``event``)."""
    return PendingEffect(
        id=f"r{run}.{decision}.{event}",
        kind="notify",
        run=run,
        decision=decision,
        event=event,
        message=message,
        canary_weight=canary_weight,
        step_index=step_index,
        verdict=verdict,
        outlier_detection=outlier_detection,
    )


def record_event(
    run: int,
    decision: int,
    reason: str,
    message: str,
    type_: Literal["Normal", "Warning"] = "Normal",
) -> PendingEffect:
    """A Kubernetes Event on the Rollout: unique per rollout by run, decision and reason."""
    return PendingEffect(
        id=f"r{run}.{decision}.{reason}",
        kind="event",
        run=run,
        decision=decision,
        reason=reason,
        message=message,
        type=type_,
    )


Effect = PendingEffect
"""One type from the engine to the outbox to the notifiers: the status's own."""
Action = MeshAction | ScaleDeployment | Effect
