"""Outlier tightening without subsets: a DestinationRule for the canary's own Service host.

On an HTTPRoute the canary is a Service (``inventory-v2``), not a subset, so after a
regression its outlier detection is tightened with a DestinationRule whose ``host`` is
that Service: the user's own, patched and later restored (what it replaced is saved in
an annotation, written in the same patch, as for subsets), or one this controller
creates and later deletes (labelled as ours). ``maxEjectionPercent`` stays as the spec
allows it (50 unless the canary autoscales). Istio applies it where it applies
DestinationRule traffic policy: at the client's sidecar, or in ambient mode at the
service's waypoint; ambient mode without a waypoint applies none (see the README).
Pure; applied through ``rollout.mesh.gateway``.
"""

from __future__ import annotations

import json
from typing import Any

from rollout.mesh.gatewayapi import CREATED_LABEL, ours
from rollout.mesh.istio import NETWORKING
from rollout.mesh.target import copied

Doc = dict[str, Any]
REPLACED_ANNOTATION = "meshrollout.dev/replaced-outlier-detection"
_NOTHING = "none"  # saved when the user's rule had no outlier detection of its own


def rule_name(service: str) -> str:
    """The name of the DestinationRule this controller creates for ``service``."""
    return f"{service}-meshrollout-outlier"[:253]


def tighten_host(dr: Doc | None, service: str, namespace: str, settings: dict[str, Any]) -> Doc:
    """``settings`` over the rule's top-level outlier detection; a new rule of ours when
    there is none. The user's previous settings are saved once (tightening twice keeps
    the first original)."""
    if dr is None:
        return {
            "apiVersion": f"{NETWORKING}/v1",
            "kind": "DestinationRule",
            "metadata": {
                "name": rule_name(service),
                "namespace": namespace,
                "labels": {CREATED_LABEL: service},
            },
            "spec": {"host": service, "trafficPolicy": {"outlierDetection": dict(settings)}},
        }
    out = copied(dr)
    policy = out.setdefault("spec", {}).setdefault("trafficPolicy", {})
    annotations = out.setdefault("metadata", {}).setdefault("annotations", {})
    if not ours(out) and REPLACED_ANNOTATION not in annotations:
        before = policy.get("outlierDetection")
        annotations[REPLACED_ANNOTATION] = (
            json.dumps(before, sort_keys=True) if isinstance(before, dict) else _NOTHING
        )
    policy["outlierDetection"] = {**(policy.get("outlierDetection") or {}), **settings}
    if not annotations:
        del out["metadata"]["annotations"]
    return out


def restore_host(dr: Doc) -> Doc | None:
    """What the rule was before :func:`tighten_host`; None: delete it (it is ours)."""
    if ours(dr):
        return None
    out = copied(dr)
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    saved = annotations.pop(REPLACED_ANNOTATION, None)
    if saved is None:
        return out  # never tightened
    policy = out.setdefault("spec", {}).setdefault("trafficPolicy", {})
    try:
        original = json.loads(saved) if saved != _NOTHING else None
    except ValueError:
        original = None  # not ours to read: treated as nothing saved
    if isinstance(original, dict):
        policy["outlierDetection"] = original
    else:
        policy.pop("outlierDetection", None)
    if not policy:
        del out["spec"]["trafficPolicy"]
    if not annotations:
        out["metadata"].pop("annotations", None)
    return out


__all__ = ["REPLACED_ANNOTATION", "restore_host", "rule_name", "tighten_host"]
