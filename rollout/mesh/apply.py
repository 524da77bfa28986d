"""Apply the engine's mesh actions to a VirtualService and DestinationRule, purely.

The controller reads both documents, calls :func:`apply_actions`, and patches
only the documents whose ``changed`` flag is set. Every action describes a
desired state, so applying the same actions twice gives the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rollout.actions import Action, SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.mesh.outlier import replaced_outlier_detection, restore, tighten
from rollout.mesh.routes import remove_header_route, set_header_route, set_weights
from rollout.mesh.target import Doc, Target


@dataclass(frozen=True)
class MeshResult:
    """The documents after the actions, and what tightening replaced (for the status)."""

    virtual_service: Doc
    destination_rule: Doc
    vs_changed: bool
    dr_changed: bool
    replaced_outlier_detection: dict[str, Any] | None


def apply_actions(vs: Doc, dr: Doc, target: Target, actions: Iterable[Action]) -> MeshResult:
    """Apply the mesh actions among ``actions`` in order; other effects are ignored."""
    new_vs, new_dr = vs, dr
    for action in actions:
        if isinstance(action, SetWeights):
            new_vs = set_weights(new_vs, target, action.canary_weight, action.drop_unused)
        elif isinstance(action, SetHeaderRoute):
            if action.header is None or action.value is None:
                new_vs = remove_header_route(new_vs)
            else:
                new_vs = set_header_route(new_vs, target, action.header, action.value)
        elif isinstance(action, SetOutlierDetection):
            if action.tightened:
                new_dr = tighten(new_dr, target, action.settings)
            else:
                new_dr = restore(new_dr, target)
    return MeshResult(
        virtual_service=new_vs,
        destination_rule=new_dr,
        vs_changed=new_vs != vs,
        dr_changed=new_dr != dr,
        replaced_outlier_detection=replaced_outlier_detection(new_dr, target.canary),
    )


def in_sync(vs: Doc, dr: Doc, target: Target, actions: Iterable[Action]) -> bool:
    """True when the documents already are what ``actions`` ask for (applying changes nothing)."""
    result = apply_actions(vs, dr, target, actions)
    return not (result.vs_changed or result.dr_changed)
