"""Which spec a run follows: the resource's, or the run's own while the canary carries
traffic and the resource's is refused. Pure; called by the reconciler before it
locates anything, so that the mesh is found with the spec in force.
"""

from __future__ import annotations

from rollout.model import RolloutSpec, RolloutStatus


def spec_in_force(
    spec: RolloutSpec | None, problem: str | None, status: RolloutStatus
) -> tuple[RolloutSpec | None, str | None]:
    """The spec a rollout follows now, and why the resource's spec is refused (or None).

    While the canary carries traffic (a run past its start, not over), the run
    keeps the last spec it accepted (``status.appliedSpec``) when the resource's
    spec is invalid, or names another pair of subsets: the canary stays where it
    is and is still judged, and nothing is left on the route untracked. An
    ``abort`` in the new spec is still obeyed. Otherwise: the resource's spec
    (None with ``problem`` when it is invalid: :func:`invalid` applies).
    """
    carrying = status.phase in ("Progressing", "Paused") and status.step_index is not None
    if not carrying or status.applied_spec is None:
        return spec, problem
    running = (status.stable_subset, status.canary_subset)
    if spec is not None and (spec.stable_subset, spec.canary_subset) == running:
        return spec, None  # the common case: the run's own subsets, nothing to reread
    try:
        applied = RolloutSpec.model_validate(status.applied_spec)
    except ValueError:
        return spec, problem  # written by another version of us: the resource's spec it is
    if spec is None:
        return applied, f"the spec is invalid ({problem})"
    message = (
        f"spec.stableSubset/canarySubset changed from {'/'.join(map(str, running))} to "
        f"{spec.stable_subset}/{spec.canary_subset} during a run: abort this run first "
        "(rollout abort), or set them back"
    )
    return applied.model_copy(update={"command": spec.command}), message


def as_applied(spec: RolloutSpec) -> dict[str, object]:
    """The spec as the status keeps it for the run (``appliedSpec``), without its command."""
    wire = spec.wire()
    wire.pop("command", None)  # commands are consumed by id, never replayed from here
    return wire
