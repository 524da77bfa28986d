"""What the engine is given and what it gives back: :class:`Observed` and :class:`Decision`.

Pure data; the reconciler builds an ``Observed`` from what it read, calls
``decide`` once, and applies the ``Decision``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rollout.actions import (
    Action,
    Effect,
    MeshAction,
    ScaleDeployment,
    SetHeaderRoute,
    SetOutlierDetection,
    SetWeights,
)
from rollout.model import PendingEffect, RolloutStatus, Verdict
from rollout.model.workloads import Versions

MESH_ACTIONS = (SetWeights, SetHeaderRoute, SetOutlierDetection)


@dataclass(frozen=True)
class Decision:
    """The engine's answer: the status to write, then the actions to apply."""

    status: RolloutStatus
    actions: tuple[Action, ...] = ()

    @property
    def mesh(self) -> list[MeshAction]:
        return [a for a in self.actions if isinstance(a, MESH_ACTIONS)]

    @property
    def scale(self) -> list[ScaleDeployment]:
        return [a for a in self.actions if isinstance(a, ScaleDeployment)]

    @property
    def effects(self) -> list[Effect]:
        return [a for a in self.actions if isinstance(a, PendingEffect)]


@dataclass(frozen=True)
class Observed:
    """Everything the reconcile saw before deciding, in one value.

    ``verdict``: the judge's answer on this step (None when the call comes from a
    watch event, not an evaluation). ``canary_ready``: the canary workload can take
    traffic. ``problem``: what is wrong with the mesh documents (the rollout stops
    without touching them, see :func:`invalid`); ``spec_problem``: why the spec
    does not validate (with ``spec`` None). ``generation``: the resource's.
    ``drift``: someone changed the managed weights by hand since we set them.
    ``mesh_in_sync``: the mesh, as read, is what the status asks for
    (:func:`desired_mesh`): a step's clock starts only then (:func:`_clock_step`).
    ``refused``: why the resource's spec is not followed (:func:`spec_in_force`;
    ``spec`` is then the run's own, and the canary is held and still judged).
    ``warning``: what the preflight found worth telling but not blocking.
    ``versions``: the Deployments behind the subsets a succeeded release's rules asked
    to see (``after.subsets_to_see``): the previous version, an undo's target.
    """

    verdict: Verdict | None = None
    canary_ready: bool = True
    problem: str | None = None
    spec_problem: str | None = None
    generation: int | None = None
    drift: bool = False
    mesh_in_sync: bool = True
    refused: str | None = None
    warning: str | None = None
    versions: Versions = field(default_factory=dict)


NOTHING_NEW = Observed()
