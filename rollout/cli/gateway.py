"""How ``rollout start NAME VERSION`` would find its HTTPRoute and backend Services.

Pure, like ``discover``: the HTTPRoute whose parent is the Service NAME or NAME-service
(mesh, GAMMA) or that is named NAME or NAME-route; the canary backend Service
NAME-VERSION unless named; the stable one, the Service serving the whole catch-all rule
today unless named. Every refusal is a :class:`~rollout.cli.discover.BadInput`. Not
used by ``start`` when no VirtualService routes NAME.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from rollout.cli.discover import BadInput
from rollout.mesh.httproute import parent_services, weight_of
from rollout.mesh.istio import VERSION_LABELS

Doc = dict[str, Any]


@dataclass(frozen=True)
class FoundRoute:
    """The HTTPRoute chosen and its two backend Services."""

    route: Doc
    stable: str
    canary: str


def _name(doc: Doc) -> str:
    return str((doc.get("metadata") or {}).get("name", "?"))


def _catch_all_backends(route: Doc) -> list[list[Doc]]:
    default = {"path": {"type": "PathPrefix", "value": "/"}}
    return [
        [r for r in rule.get("backendRefs") or [] if isinstance(r, dict)]
        for rule in (route.get("spec") or {}).get("rules") or []
        if isinstance(rule, dict) and all(m in ({}, default) for m in rule.get("matches") or [])
    ]


def current_stable_service(route: Doc) -> str:
    """The backend Service that has all the weight of the one catch-all rule today."""
    candidates = []
    for refs in _catch_all_backends(route):
        served = [r for r in refs if weight_of(r) > 0]
        if len(served) == 1 and len(refs) >= 1:
            candidates.append(str(served[0].get("name")))
    if len(candidates) != 1:
        raise BadInput(
            f"cannot tell which Service of HTTPRoute {_name(route)} is stable (no single "
            "rule without a match sends one Service everything); pass --stable"
        )
    return candidates[0]


def find_http_route(
    items: list[Doc],
    name: str,
    version: str,
    services: Collection[str],
    namespace: str = "default",
    stable: str | None = None,
    canary: str | None = None,
) -> FoundRoute:
    """Pick the one HTTPRoute for NAME and its backend Services, or say why not."""
    wanted = (name, f"{name}-service")
    found = [
        r
        for r in items
        if any(p in wanted for p in parent_services(r, namespace))
        or _name(r) in (name, f"{name}-route")
    ]
    if not found:
        raise BadInput(
            f"no VirtualService routes {name}, and no HTTPRoute has the Service {name} or "
            f"{name}-service as its parent"
        )
    if len(found) > 1:
        names = ", ".join(_name(r) for r in found)
        raise BadInput(f"several HTTPRoutes match {name}: {names}; name one")
    route = found[0]
    canary_service = canary or f"{name}-{version}"
    if canary_service not in services:
        raise BadInput(
            f"no Service {canary_service} for version {version} "
            f"(the namespace has: {', '.join(sorted(services)) or 'none'}); pass --canary-service"
        )
    stable_service = stable or current_stable_service(route)
    if stable_service == canary_service:
        raise BadInput(f"{canary_service} already serves {name} (it is the stable backend)")
    return FoundRoute(route, stable_service, canary_service)


def version_of(selector: dict[str, str], service: str, name: str) -> str:
    """The version a Service's pods carry (its selector's version label), else what its
    name says after NAME- (``inventory-v1`` → ``v1``)."""
    found = next((selector[k] for k in VERSION_LABELS if selector.get(k)), None)
    return found or service.removeprefix(f"{name}-")


def http_route_spec(
    found: FoundRoute, services: dict[str, dict[str, str]], name: str, version: str, ns: str
) -> tuple[Doc, str]:
    """The spec ``start`` writes for an HTTPRoute, and what it says before writing."""
    parents = parent_services(found.route, ns)
    spec = {
        "service": parents[0] if parents else f"{name}-service",
        "httpRoute": {
            "name": _name(found.route),
            "stableService": found.stable,
            "canaryService": found.canary,
        },
        "stableSubset": version_of(services.get(found.stable, {}), found.stable, name),
        "canarySubset": version,
    }
    listing = (
        f"HTTPRoute {_name(found.route)} (parents: "
        f"{', '.join(parents) or 'a Gateway'}): {found.stable} → {found.canary}"
    )
    return spec, listing


__all__ = ["FoundRoute", "current_stable_service", "find_http_route", "http_route_spec"]
