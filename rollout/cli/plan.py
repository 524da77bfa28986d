"""What ``rollout start NAME VERSION`` found to roll out, on either traffic API.

Every VirtualService routing the service (``discover``), or, when no VirtualService
routes NAME and the cluster serves HTTPRoutes, an HTTPRoute and its backend Services
(``gateway``). Returns the spec's traffic fields, what to say before writing, and the
check of the final spec against the documents. Reads only; refusals are ``BadInput``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rollout.cli.discover import (
    BadInput,
    NothingRoutes,
    current_stable,
    find_virtual_services,
    listing,
    start_spec,
    subsets_of,
)
from rollout.cli.gateway import find_http_route, http_route_spec
from rollout.cli.kubectl import Ctx
from rollout.kube import NotFound, RoutingClient
from rollout.kube.resources import HTTPROUTES, SERVICES, virtual_services
from rollout.mesh import Target
from rollout.mesh.httproute import Backends, validate_route
from rollout.mesh.istio import Routing
from rollout.mesh.routeset import validate_routing
from rollout.model import RolloutSpec

Check = Callable[[RolloutSpec], object]


def plan(
    ctx: Ctx,
    name: str,
    version: str,
    service: str | None,
    stable: str | None,
    canary_service: str | None,
) -> tuple[dict[str, Any], str, Check]:
    """What ``start`` found: the spec's traffic fields, what to say, and the check of the
    final spec against the documents. VirtualServices first; an HTTPRoute when no
    VirtualService routes NAME (and the cluster serves HTTPRoutes)."""
    ns, mesh = ctx.namespace, RoutingClient(ctx.kube)
    items, _ = ctx.kube.list(virtual_services(mesh.version), ns)
    try:
        found = find_virtual_services(items, name, service, ns)
    except NothingRoutes:
        try:
            routes, _ = ctx.kube.list(HTTPROUTES, ns)
        except NotFound:
            raise BadInput(f"no VirtualService routes {name}") from None
        if not routes:
            raise
        return _http_route_plan(ctx, routes, name, version, stable, canary_service)
    dr = mesh.find_destination_rule(ns, found.host)
    stable_subset = stable or current_stable(found.virtual_services, found.host, ns)
    spec = start_spec(
        found.host, found.names, dr["metadata"]["name"], stable_subset, version, None,
        subsets_of(dr),
    )  # fmt: skip
    routing = Routing(tuple(found.virtual_services), dr)
    return spec, listing(found), lambda s: validate_routing(routing, Target.of(s, ns))


def _http_route_plan(
    ctx: Ctx,
    routes: list[dict[str, Any]],
    name: str,
    version: str,
    stable: str | None,
    canary_service: str | None,
) -> tuple[dict[str, Any], str, Check]:
    ns = ctx.namespace
    listed, _ = ctx.kube.list(SERVICES, ns)
    services = {
        str(s["metadata"]["name"]): dict((s.get("spec") or {}).get("selector") or {})
        for s in listed
    }
    found = find_http_route(routes, name, version, services, ns, stable, canary_service)
    spec, said = http_route_spec(found, services, name, version, ns)
    b = Backends(found.stable, found.canary, namespace=ns)
    return spec, said, lambda s: validate_route(found.route, replace(b, rules=tuple(s.routes)),
                                                services)  # fmt: skip


__all__ = ["Check", "plan"]
