"""What the preflight decides before a run's first weight change: how strict the mTLS
check is, whether what the mesh allows blocks the start or is only said, whether
ejecting more than half the canary's pods is safe (an autoscaler replaces them), and
whether the service's data plane (sidecar, ambient with or without a waypoint) has the
L7 routing and metrics a canary needs.

Pure; the reconciler reads the PeerAuthentications (only when the mode is not ``off``),
the canary's Deployments with their HPAs (only when ``maxEjectionPercent`` is above
50) and the namespace's and Service's labels, and hands the engine the problem or the
warning this module returns.
"""

from __future__ import annotations

from typing import Literal

from rollout.mesh.ambient import DataPlane, ambient_problem
from rollout.mesh.mtls import MtlsReport
from rollout.model import RolloutSpec
from rollout.model.workloads import DeploymentView

MtlsMode = Literal["off", "warn", "block"]
STRICTNESS: tuple[MtlsMode, ...] = ("off", "warn", "block")


def mtls_mode(asked: MtlsMode, floor: MtlsMode) -> MtlsMode:
    """The stricter of the rollout's ``spec.preflight.mtls`` and the platform's floor.

    >>> mtls_mode("off", "warn"), mtls_mode("block", "warn"), mtls_mode("warn", "off")
    ('warn', 'block', 'warn')
    """
    return max(asked, floor, key=STRICTNESS.index)


def mtls_findings(
    mode: MtlsMode, asked: MtlsMode, report: MtlsReport
) -> tuple[str | None, str | None]:
    """(a problem that blocks the start, a warning that does not), from what was seen."""
    if mode == "off" or report.strict:
        return None, None
    seen = f"mTLS is {report.mode or 'PERMISSIVE (unset)'}: {report.message}"
    if mode == "block":
        why = "spec.preflight.mtls" if asked == "block" else "the platform"
        return f"preflight: {seen}; {why} requires STRICT", None
    return None, f"plain text is accepted ({seen})"


def needs_autoscaler(spec: RolloutSpec) -> bool:
    """The tightened outlier detection may eject more than half the canary's pods, and the
    spec does not vouch for autoscaling itself: an HPA must be found."""
    on = spec.on_regression
    return on.outlier_detection.max_ejection_percent > 50 and not on.target_autoscales


def autoscaling_problem(spec: RolloutSpec, canary: tuple[DeploymentView, ...]) -> str | None:
    """Why the start is refused: a maxEjectionPercent above 50 with a canary Deployment
    that no HorizontalPodAutoscaler targets (named); None when it is safe."""
    if not needs_autoscaler(spec):
        return None
    missing = [d.name for d in canary if d.autoscaler is None]
    if canary and not missing:
        return None
    names = ", ".join(missing) or f"of subset {spec.canary_subset} (none found)"
    percent = spec.on_regression.outlier_detection.max_ejection_percent
    return (
        f"preflight: spec.onRegression.outlierDetection.maxEjectionPercent {percent} could "
        f"eject every canary pod, and no HorizontalPodAutoscaler (autoscaling/v2) targets "
        f"Deployment {names}: add one, or keep maxEjectionPercent at 50 or below"
    )


def data_plane_findings(
    spec: RolloutSpec, namespace: str, plane: DataPlane | None, unknown: str
) -> tuple[str | None, str | None]:
    """(a problem that blocks the start, a warning that does not) from the service's data
    plane; ``plane`` None: it could not be read, and ``unknown`` says why (a warning: the
    preflight cannot tell, it does not guess)."""
    service = spec.service.split(".")[0]
    if plane is None:
        return None, f"cannot tell whether {service} runs in ambient mode: {unknown}"
    problem = ambient_problem(plane, service, namespace)
    if problem is not None:
        return f"preflight: {problem}", None
    asked = spec.http_route.reporter if spec.http_route else "destination"
    if asked != plane.reporter:
        # The series of the other reporter do not exist there: the judge would see no data.
        fix = (
            f"set spec.httpRoute.reporter: {plane.reporter}"
            if spec.http_route
            else "describe it with an HTTPRoute (spec.httpRoute, reporter: waypoint); "
            "VirtualServices on a waypoint are alpha in Istio"
        )
        where = f"waypoint {plane.waypoint}" if plane.waypoint else "sidecars"
        return (
            f"preflight: {service} is served by {where}, whose metrics carry "
            f'reporter="{plane.reporter}", but this rollout is judged on '
            f'reporter="{asked}": {fix}'
        ), None
    return None, None


__all__ = [
    "STRICTNESS",
    "MtlsMode",
    "autoscaling_problem",
    "data_plane_findings",
    "mtls_findings",
    "mtls_mode",
    "needs_autoscaler",
]
