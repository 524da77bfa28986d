"""Istio's ambient mode, as far as a canary cares: is a service's traffic seen at L7?

In ambient mode (a namespace labelled ``istio.io/dataplane-mode=ambient``) ztunnel
carries traffic at L4 only: no HTTP routing, no DestinationRule traffic policy, no
``istio_requests_total``. Those exist only where a waypoint proxy serves the
service: the Service (or else its namespace) labelled ``istio.io/use-waypoint=<name>``,
``none`` opting out, the waypoint being a Gateway of class ``istio-waypoint``.
Its series carry ``reporter="waypoint"``. Between ambient workloads traffic is
always mutual TLS (ztunnel's HBONE); a STRICT PeerAuthentication still refuses
plaintext from outside the mesh, as with sidecars.

Pure facts and one decision for the preflight (refuse an ambient service without a
waypoint, saying what to install); ``rollout.kube.workloads`` reads the labels and
``rollout.engine.preflight`` turns the decision into a refusal or a warning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

DATAPLANE_LABEL = "istio.io/dataplane-mode"
WAYPOINT_LABEL = "istio.io/use-waypoint"
WAYPOINT_CLASS = "istio-waypoint"
Mode = Literal["sidecar", "ambient-waypoint", "ambient-no-waypoint"]


@dataclass(frozen=True)
class DataPlane:
    """How a service's traffic is proxied, and the waypoint that serves it, if any."""

    mode: Mode
    waypoint: str | None = None

    @property
    def reporter(self) -> str:
        """The ``reporter`` of the L7 series to judge it on."""
        return "waypoint" if self.mode == "ambient-waypoint" else "destination"


def data_plane(
    namespace_labels: Mapping[str, str],
    service_labels: Mapping[str, str],
    waypoints: Collection[str],
) -> DataPlane:
    """The service's data plane from its namespace's and its own labels, and the names of
    the waypoints (Gateways of class ``istio-waypoint``) in the namespace."""
    if namespace_labels.get(DATAPLANE_LABEL) != "ambient":
        return DataPlane("sidecar")
    # The Service's own label wins over its namespace's; "none" opts out.
    wanted = service_labels.get(WAYPOINT_LABEL) or namespace_labels.get(WAYPOINT_LABEL)
    if wanted and wanted != "none" and wanted in waypoints:
        return DataPlane("ambient-waypoint", wanted)
    return DataPlane("ambient-no-waypoint", wanted if wanted != "none" else None)


def ambient_problem(plane: DataPlane, service: str, namespace: str) -> str | None:
    """Why a canary cannot run on this data plane (None: it can), saying what to install."""
    if plane.mode != "ambient-no-waypoint":
        return None
    missing = (
        f"its waypoint {plane.waypoint!r} does not exist"
        if plane.waypoint
        else "no waypoint serves it"
    )
    return (
        f"namespace {namespace} is in ambient mode and {missing}: ztunnel alone has no HTTP "
        f"routing, traffic policy or request metrics for {service}. Install a waypoint "
        f"(istioctl waypoint apply -n {namespace} --enroll-namespace) or label the Service "
        f"{WAYPOINT_LABEL}=<waypoint>"
    )


__all__ = [
    "DATAPLANE_LABEL",
    "WAYPOINT_CLASS",
    "WAYPOINT_LABEL",
    "DataPlane",
    "Mode",
    "ambient_problem",
    "data_plane",
]
