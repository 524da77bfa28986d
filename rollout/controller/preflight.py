"""The checks before a rollout's first weight change, gathered through the ports.

Called by the reconciler (``rollout.controller.reconcile``) while a run is starting.
What each finding means is decided by the pure core (``rollout.engine.preflight``);
this module only asks the cluster for the facts, in the order that matters: an
autoscaler first, then the data plane (ambient mode without a waypoint sees no L7),
then mutual TLS.
"""

from __future__ import annotations

from rollout.controller.ports import Scaling, Workloads
from rollout.engine.preflight import (
    MtlsMode,
    autoscaling_problem,
    data_plane_findings,
    mtls_findings,
    mtls_mode,
    needs_autoscaler,
)
from rollout.mesh.istio import Routing, service_name
from rollout.model import RolloutSpec


def preflight(
    workloads: Workloads,
    scaling: Scaling,
    mtls_floor: MtlsMode,
    namespace: str,
    spec: RolloutSpec,
    routing: Routing,
) -> tuple[bool, str | None, str | None]:
    """Is the canary ready, does an autoscaler stand behind a maxEjectionPercent above
    50, does the data plane see L7, does the namespace require mutual TLS (at least
    ``mtls_floor``, the platform's minimum)? Returns (ready, problem that blocks,
    warning that does not)."""
    dr = routing.destination_rule
    readiness = workloads.subset_readiness(namespace, dr, spec.canary_subset)
    blocked: str | None = None
    if needs_autoscaler(spec):
        canary = scaling.versions(namespace, dr, [spec.canary_subset])
        blocked = autoscaling_problem(spec, canary.get(spec.canary_subset, ()))
    if blocked is not None:
        return readiness.ready, blocked, None
    # Ambient mode without a waypoint has no L7 routing or metrics: refused first.
    plane, unknown = workloads.data_plane(namespace, service_name(spec.service))
    blocked, unsure = data_plane_findings(spec, namespace, plane, unknown)
    mode = mtls_mode(spec.preflight.mtls, mtls_floor)
    if mode == "off" or blocked is not None:
        return readiness.ready, blocked, unsure
    report = workloads.mtls_report(namespace, dr, (spec.stable_subset, spec.canary_subset))
    problem, warning = mtls_findings(mode, spec.preflight.mtls, report)
    warnings = "; ".join(w for w in (unsure, warning) if w)
    return readiness.ready, problem, warnings or None


__all__ = ["preflight"]
