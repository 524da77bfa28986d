"""What the Gateway API side of a rollout works on: its documents as data, and where the
canary Service's host rule is. Facts and lookups, no decisions, like ``istio``: used by
the transforms (``httproute``, ``hostrule``, ``gateway``), the Kubernetes adapter and
the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rollout.mesh.istio import same_host

Doc = dict[str, Any]
RuleWrite = Literal["create", "patch", "delete"]
CREATED_LABEL = "meshrollout.dev/created-for"


def ours(dr: Doc) -> bool:
    """A rule this controller created (and so deletes when it restores)."""
    return CREATED_LABEL in ((dr.get("metadata") or {}).get("labels") or {})


def find_host_rule(rules: list[Doc], service: str, namespace: str) -> Doc | None:
    """The DestinationRule for the Service host (without subsets' say), if any: ours first,
    else the user's."""
    found = [r for r in rules if same_host((r.get("spec") or {}).get("host"), service, namespace)]
    return next((r for r in found if ours(r)), None) or next(iter(found), None)


@dataclass(frozen=True)
class GatewayDocs:
    """The HTTPRoute a rollout moves, and the DestinationRule for its canary Service's host
    (None: there is none)."""

    route: Doc
    host_rule: Doc | None = None


@dataclass(frozen=True)
class GatewayView:
    """What a reconcile reads on the Gateway API: the documents, and the namespace's
    Services with their selectors (to check the backends and find their pods)."""

    docs: GatewayDocs
    services: dict[str, dict[str, str]]


@dataclass(frozen=True)
class GatewayResult:
    """The documents after the actions, and the writes they need."""

    docs: GatewayDocs
    route_changed: bool
    rule_write: RuleWrite | None


__all__ = [
    "CREATED_LABEL",
    "GatewayDocs",
    "GatewayResult",
    "GatewayView",
    "RuleWrite",
    "find_host_rule",
    "ours",
]
