"""The reconciler's Gateway API side: find and check a spec's HTTPRoute, and describe its
version Services' pods the way the preflight reads a DestinationRule's subsets.

Called by ``reconcile`` for a spec with ``httpRoute``; the decision stays the engine's
and the edits the pure ``rollout.mesh.gateway``'s.
"""

from __future__ import annotations

from typing import Any

from rollout.actions import MeshAction
from rollout.controller.ports import Fence, Gateways
from rollout.kube.errors import Invalid, NotFound
from rollout.mesh import MeshError
from rollout.mesh.gateway import apply_gateway, gateway_in_sync
from rollout.mesh.gatewayapi import GatewayDocs, GatewayResult, GatewayView
from rollout.mesh.httproute import Backends, validate_route
from rollout.model import RolloutSpec

Doc = dict[str, Any]


def backends(spec: RolloutSpec, namespace: str) -> Backends:
    """The two Services a spec's HTTPRoute moves traffic between (its rules: ``routes``)."""
    assert spec.http_route is not None
    return Backends(
        spec.http_route.stable_service,
        spec.http_route.canary_service,
        namespace=namespace,
        rules=tuple(spec.routes),
    )


def pods_rule(spec: RolloutSpec, view: GatewayView) -> Doc:
    """The version Services' selectors as a DestinationRule's subsets (named by the spec's
    subsets), so readiness and mTLS are checked exactly as for subsets."""
    assert spec.http_route is not None
    pairs = (
        (spec.stable_subset, spec.http_route.stable_service),
        (spec.canary_subset, spec.http_route.canary_service),
    )
    subsets = [{"name": subset, "labels": view.services.get(svc, {})} for subset, svc in pairs]
    return {"kind": "DestinationRule", "metadata": {"name": ""}, "spec": {"subsets": subsets}}


def locate(
    port: Gateways | None, namespace: str, spec: RolloutSpec
) -> tuple[GatewayView | None, str | None]:
    """The spec's HTTPRoute, its Services and host rule, checked; or why not."""
    assert spec.http_route is not None
    if port is None:
        return None, "this controller was started without Gateway API support"
    try:
        view = port.read(namespace, spec.http_route.name, spec.http_route.canary_service)
        validate_route(view.docs.route, backends(spec, namespace), view.services)
    except (MeshError, NotFound, Invalid) as error:
        return None, str(error)
    return view, None


def apply(
    port: Gateways | None,
    fence: Fence,
    namespace: str,
    view: GatewayView,
    b: Backends,
    actions: list[MeshAction],
) -> bool:
    """Bring the HTTPRoute and host rule to what ``actions`` ask; True if anything was
    written (the HTTPRoute has no watch: the caller reconciles again to see it)."""
    if port is None or gateway_in_sync(view.docs, b, actions):
        return False

    def transform(docs: GatewayDocs) -> GatewayResult:
        fence.fence()
        return apply_gateway(docs, b, actions)

    port.update(namespace, str(view.docs.route["metadata"]["name"]), b.canary, transform,
                current=view.docs)  # fmt: skip
    return True


__all__ = ["apply", "backends", "locate", "pods_rule"]
