"""Pure transforms of Istio documents (plain dicts, networking.istio.io v1/v1beta1).

``validate_pair`` checks a VirtualService/DestinationRule pair; ``set_weights``,
``set_header_route`` and ``remove_header_route`` edit the managed HTTP routes;
``tighten`` and ``restore`` edit the canary subset's outlier detection;
``apply_actions`` runs the engine's mesh actions through all of them. No I/O:
the Kubernetes adapter reads and patches the documents.
"""

from rollout.mesh.apply import MeshResult, apply_actions, in_sync
from rollout.mesh.istio import (
    MeshDocs,
    same_host,
    sends_to,
    service_name,
    subset_labels,
    subset_version,
)
from rollout.mesh.outlier import (
    REPLACED_ANNOTATION,
    outlier_detection,
    replaced_outlier_detection,
    restore,
    tighten,
)
from rollout.mesh.routes import (
    APPLIED_ANNOTATION,
    HEADER_ROUTE_SUFFIX,
    managed_routes,
    remove_header_route,
    set_header_route,
    set_weights,
    weight_drift,
)
from rollout.mesh.target import MeshError, Target
from rollout.mesh.validate import validate_pair

__all__ = [
    "APPLIED_ANNOTATION",
    "HEADER_ROUTE_SUFFIX",
    "REPLACED_ANNOTATION",
    "MeshDocs",
    "MeshError",
    "MeshResult",
    "Target",
    "apply_actions",
    "in_sync",
    "managed_routes",
    "outlier_detection",
    "remove_header_route",
    "replaced_outlier_detection",
    "restore",
    "same_host",
    "sends_to",
    "service_name",
    "set_header_route",
    "set_weights",
    "subset_labels",
    "subset_version",
    "tighten",
    "validate_pair",
    "weight_drift",
]
