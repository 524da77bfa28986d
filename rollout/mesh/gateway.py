"""The engine's mesh actions on the Gateway API: an HTTPRoute and the canary Service's
host rule, as ``rollout.mesh.apply`` does for a VirtualService and its DestinationRule.

The engine speaks in mesh actions (``SetWeights``, ``SetHeaderRoute``,
``SetOutlierDetection``) and does not know which traffic API carries them; this module
maps each onto the HTTPRoute transforms (``httproute``) and the host rule
(``hostrule``). The host rule may have to be created or deleted, so the result says
which write it needs. Pure; the reconciler calls it for a spec with ``httpRoute``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rollout.actions import Action, SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.mesh.gatewayapi import GatewayDocs, GatewayResult, RuleWrite
from rollout.mesh.hostrule import restore_host, tighten_host
from rollout.mesh.httproute import (
    Backends,
    remove_header_route,
    set_header_route,
    set_weights,
    weight_drift,
)

Doc = dict[str, Any]


def apply_gateway(docs: GatewayDocs, b: Backends, actions: Iterable[Action]) -> GatewayResult:
    """Apply the mesh actions among ``actions`` in order; other effects are ignored."""
    route, rule = docs.route, docs.host_rule
    for action in actions:
        if isinstance(action, SetWeights):
            route = set_weights(route, b, action.canary_weight, action.drop_unused)
        elif isinstance(action, SetHeaderRoute):
            if action.header is None or action.value is None:
                route = remove_header_route(route)
            else:
                route = set_header_route(route, b, action.header, action.value)
        elif isinstance(action, SetOutlierDetection):
            if action.tightened:
                rule = tighten_host(rule, b.canary, b.namespace, action.settings)
            elif rule is not None:
                rule = restore_host(rule)
    write: RuleWrite | None = None
    if rule != docs.host_rule:
        write = "create" if docs.host_rule is None else ("delete" if rule is None else "patch")
    return GatewayResult(GatewayDocs(route, rule), route != docs.route, write)


def gateway_in_sync(docs: GatewayDocs, b: Backends, actions: Iterable[Action]) -> bool:
    """True when the documents already are what ``actions`` ask for."""
    result = apply_gateway(docs, b, actions)
    return not result.route_changed and result.rule_write is None


def gateway_drift(docs: GatewayDocs, b: Backends) -> bool:
    """A hand edit of the managed weights since this controller set them."""
    return weight_drift(docs.route, b)


__all__ = ["apply_gateway", "gateway_drift", "gateway_in_sync"]
