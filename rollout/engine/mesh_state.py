"""The mesh a status asks for: the one place that turns a status into mesh actions.

Pure. Called by the engine on every decision (so a reconcile that crashed half
way converges) and by the reconciler to tell whether the mesh is in sync.
"""

from __future__ import annotations

from rollout.actions import MeshAction, SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.model import RolloutSpec, RolloutStatus


def desired_mesh(spec: RolloutSpec, status: RolloutStatus) -> list[MeshAction]:
    """The VirtualService/DestinationRule state that matches ``status``, as actions.

    Nothing before a run starts or while the input is invalid; the current weight
    while it runs; the pair reduced to one subset once it is over (the canary while
    an undo waits for the previous version's pods, that version once undone).
    """
    if status.step_index is None or status.phase in (None, "Pending", "Failed"):
        return []
    tightened = SetOutlierDetection(
        tightened=status.outlier_tightened,
        settings=spec.on_regression.outlier_detection.wire() if status.outlier_tightened else {},
    )
    if status.phase in ("Succeeded", "Undoing"):
        return [SetHeaderRoute(), SetWeights(100, drop_unused=True), SetOutlierDetection(False)]
    if status.phase == "Undone":
        # Managed with the pair (undo.to, undo.undone): everything back to undo.to.
        return [SetHeaderRoute(), SetWeights(0, drop_unused=True), SetOutlierDetection(False)]
    if status.phase == "RolledBack":
        return [SetHeaderRoute(), SetWeights(0, drop_unused=True), tightened]
    if status.pause_reason == "drift":
        return []  # a person took the weights over; hands off until resumed
    header = next((s for s in status.plan if s.kind == "header"), None)
    route = SetHeaderRoute(header.header, header.value) if header else SetHeaderRoute()
    return [SetWeights(status.canary_weight), route, tightened]
