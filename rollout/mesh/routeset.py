"""Every VirtualService of a service moved as one: validation, actions, sync, drift, weights.

A service often has several VirtualServices: one for mesh traffic (``hosts:
[inventory-service]``) and one bound to an ingress gateway for a public host,
both sending traffic to the same subsets. A rollout moves all of them; this
module lifts the one-document transforms (``routes``, ``apply``, ``validate``)
to the whole :class:`~rollout.mesh.istio.Routing`. Pure, like them.

``spec.routes`` names routes across all the VirtualServices: each name must be in
at least one of them; a VirtualService with none of the names manages its one
unmatched route to the pair, as when nothing is named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rollout.actions import Action, SetOutlierDetection
from rollout.mesh.apply import apply_actions
from rollout.mesh.istio import Routing
from rollout.mesh.outlier import replaced_outlier_detection
from rollout.mesh.routes import HEADER_ROUTES_ANNOTATION, managed_routes, weight_drift
from rollout.mesh.target import Doc, MeshError, Target, name_of, weight_of
from rollout.mesh.validate import validate_pair
from rollout.model import Problem


def target_in(vs: Doc, target: Target) -> Target:
    """``target`` as it applies to one VirtualService: only the named routes it has
    (header routes we added are not the user's names); none named there means its
    one unmatched route to the pair."""
    if not target.routes:
        return target
    note = ((vs.get("metadata") or {}).get("annotations") or {}).get(HEADER_ROUTES_ANNOTATION)
    ours = set(str(note or "").split(","))
    http = (vs.get("spec") or {}).get("http")
    names = {r.get("name") for r in (http if isinstance(http, list) else []) if isinstance(r, dict)}
    return replace(target, routes=tuple(n for n in target.routes if n in names and n not in ours))


def _placed(problem: Problem, vs: Doc, several: bool) -> Problem:
    """A VirtualService's problem, naming which one when there are several."""
    if several and problem.field.startswith("VirtualService."):
        field = f"VirtualService/{name_of(vs)}." + problem.field.removeprefix("VirtualService.")
        return Problem(field, problem.message)
    return problem


def validate_routing(routing: Routing, target: Target) -> dict[str, list[int]]:
    """Each VirtualService's managed route indices by name, or :class:`MeshError` listing
    every problem of every document (each VirtualService named when there are several)."""
    docs = routing.virtual_services
    if not docs:
        raise MeshError([Problem("Rollout.spec.virtualServices", "no VirtualService to move")])
    several = len(docs) > 1
    problems: list[Problem] = []
    managed: dict[str, list[int]] = {}
    for vs in docs:
        try:
            managed[name_of(vs)] = validate_pair(
                vs, routing.destination_rule, target_in(vs, target)
            )
        except MeshError as error:
            problems += [_placed(p, vs, several) for p in error.problems]
    # The DestinationRule's problems are the same for every VirtualService: said once.
    problems = list(dict.fromkeys(problems))
    known = {
        r.get("name")
        for vs in docs
        for r in (vs.get("spec") or {}).get("http") or []
        if isinstance(r, dict)
    }
    for index, name in enumerate(target.routes):
        if name not in known:
            problems.append(
                Problem(
                    f"Rollout.spec.routes[{index}]",
                    f"no HTTP route named {name!r} in VirtualService {', '.join(routing.names)}",
                )
            )
    if problems:
        raise MeshError(problems)
    return managed


@dataclass(frozen=True)
class RoutingResult:
    """The documents after the actions, which changed, and what tightening replaced."""

    routing: Routing
    changed: tuple[str, ...]  # the VirtualServices whose document changed
    dr_changed: bool
    replaced_outlier_detection: dict[str, Any] | None


def apply_routing(routing: Routing, target: Target, actions: Iterable[Action]) -> RoutingResult:
    """Apply the mesh actions to every VirtualService (routes) and once to the rule."""
    actions = list(actions)
    routes = [a for a in actions if not isinstance(a, SetOutlierDetection)]
    outlier = [a for a in actions if isinstance(a, SetOutlierDetection)]
    dr = routing.destination_rule
    new_docs, changed = [], []
    for vs in routing.virtual_services:
        result = apply_actions(vs, dr, target_in(vs, target), routes)
        new_docs.append(result.virtual_service)
        if result.vs_changed:
            changed.append(name_of(vs))
    new_dr = dr
    if outlier and routing.virtual_services:
        new_dr = apply_actions(routing.virtual_services[0], dr, target, outlier).destination_rule
    return RoutingResult(
        routing=Routing(tuple(new_docs), new_dr),
        changed=tuple(changed),
        dr_changed=new_dr != dr,
        replaced_outlier_detection=replaced_outlier_detection(new_dr, target.canary),
    )


def out_of_sync(routing: Routing, target: Target, actions: Iterable[Action]) -> list[str]:
    """The documents not yet what ``actions`` ask for (the rule as ``DestinationRule``)."""
    result = apply_routing(routing, target, actions)
    return [*result.changed, *(["DestinationRule"] if result.dr_changed else [])]


def routing_in_sync(routing: Routing, target: Target, actions: Iterable[Action]) -> bool:
    """True when every document already is what ``actions`` ask for."""
    return not out_of_sync(routing, target, actions)


def drifted(routing: Routing, target: Target) -> list[str]:
    """The VirtualServices whose managed weights someone changed since we set them."""
    return [
        name_of(vs) for vs in routing.virtual_services if weight_drift(vs, target_in(vs, target))
    ]


def carried_weight(vs: Doc, target: Target) -> int | None:
    """The canary's share (percent of the pair) on the first managed route of ``vs``;
    None when there is no managed route or the pair carries nothing."""
    try:
        indices = managed_routes(vs, target_in(vs, target))
    except MeshError:
        return None
    entries = vs["spec"]["http"][indices[0]].get("route") or []
    pair = [
        e
        for e in entries
        if target.is_subset(e, target.stable) or target.is_subset(e, target.canary)
    ]
    pool = sum(weight_of(e, entries) for e in pair)
    if pool <= 0:
        return None
    canary = sum(weight_of(e, entries) for e in pair if target.is_subset(e, target.canary))
    return (100 * canary + pool // 2) // pool


__all__ = [
    "RoutingResult",
    "apply_routing",
    "carried_weight",
    "drifted",
    "out_of_sync",
    "routing_in_sync",
    "target_in",
    "validate_routing",
]
