"""Pure transforms of a DestinationRule: tighten the canary subset's outlier
detection after a regression, and restore what was there before.

What tightening replaced is kept in an annotation on the DestinationRule
itself, written in the same patch as the change. So a controller that dies
between tightening and recording its status loses nothing: tightening again
keeps the first saved original, and restoring reads it back. The controller
also copies it into the Rollout status for people to see.
"""

from __future__ import annotations

import json
from typing import Any

from rollout.mesh.target import Doc, Target, copied, fail, name_of

REPLACED_ANNOTATION = "meshrollout.dev/replaced-outlier-detection"


def _subset(dr: Doc, name: str) -> Doc:
    """The subset itself (not a copy), so callers working on their own copy can edit it."""
    for subset in (dr.get("spec") or {}).get("subsets") or []:
        if subset.get("name") == name:
            return subset  # type: ignore[no-any-return]
    raise fail(
        "DestinationRule.spec.subsets",
        f"DestinationRule {name_of(dr)} has no subset {name!r}",
    )


def _saved(dr: Doc) -> dict[str, Any]:
    raw = ((dr.get("metadata") or {}).get("annotations") or {}).get(REPLACED_ANNOTATION)
    if not raw:
        return {}
    try:
        saved = json.loads(raw)
    except ValueError:
        return {}  # not ours to read: treated as nothing saved
    return saved if isinstance(saved, dict) else {}


def _with_saved(dr: Doc, saved: dict[str, Any]) -> None:
    metadata = dr.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    if saved:
        annotations[REPLACED_ANNOTATION] = json.dumps(saved, sort_keys=True)
    else:
        annotations.pop(REPLACED_ANNOTATION, None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)


def outlier_detection(dr: Doc, subset: str) -> dict[str, Any] | None:
    """The subset's own outlier detection, or None when it inherits the rule's."""
    policy = _subset(dr, subset).get("trafficPolicy") or {}
    value = policy.get("outlierDetection")
    return copied(value) if isinstance(value, dict) else None


def replaced_outlier_detection(dr: Doc, subset: str) -> dict[str, Any] | None:
    """What tightening replaced for ``subset`` (None: nothing, or it had none of its own)."""
    value = _saved(dr).get(subset)
    return value if isinstance(value, dict) else None


def tighten(dr: Doc, target: Target, settings: dict[str, Any]) -> Doc:
    """Apply ``settings`` over the canary subset's outlier detection.

    Fields not in ``settings`` are kept. The subset's previous settings are saved
    (once: tightening twice keeps the original), so :func:`restore` can undo it.
    """
    out = copied(dr)
    saved = _saved(out)
    subset = _subset(out, target.canary)
    if target.canary not in saved:
        saved[target.canary] = outlier_detection(out, target.canary)
    policy = subset.setdefault("trafficPolicy", {})
    policy["outlierDetection"] = {**(policy.get("outlierDetection") or {}), **settings}
    _with_saved(out, saved)
    return out


def restore(dr: Doc, target: Target) -> Doc:
    """Put back what :func:`tighten` replaced for the canary subset; no-op if nothing was."""
    out = copied(dr)
    saved = _saved(out)
    if target.canary not in saved:
        return out
    original = saved.pop(target.canary)
    subset = _subset(out, target.canary)
    policy = subset.setdefault("trafficPolicy", {})
    if original is None:
        policy.pop("outlierDetection", None)
    else:
        policy["outlierDetection"] = original
    if not policy:
        del subset["trafficPolicy"]
    _with_saved(out, saved)
    return out
