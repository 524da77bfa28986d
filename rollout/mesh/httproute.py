"""Pure transforms of a Gateway API HTTPRoute (gateway.networking.k8s.io v1/v1beta1):
which rules we manage, the weights of the stable and canary backend Services, and the
header-match rule for testers.

The Gateway API's counterpart of ``rollout.mesh.routes``. A route's ``parentRefs`` is
the service's Service (mesh, "GAMMA") or a Gateway (ingress); its ``backendRefs`` are
version Services (``inventory-v1``, ``inventory-v2``) with weights. Everything not
named here is kept exactly as it was: other rules, matches, filters, timeouts, other
backendRefs (and their weights), extension refs, parentRefs, hostnames. The engine's
mesh actions map onto these functions one to one in ``rollout.mesh.gateway``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from rollout.mesh.target import MeshError, copied, fail
from rollout.model import Problem

Doc = dict[str, Any]
GATEWAY = "gateway.networking.k8s.io"
GATEWAY_VERSIONS = ("v1", "v1beta1")
HEADER_RULE_SUFFIX = "-meshrollout-canary"
APPLIED_ANNOTATION = "meshrollout.dev/applied-canary-weight"
# The header rules this controller added, by name, written in the same update as the
# rules: a rule is ours because the document says so, never because of its name.
HEADER_RULES_ANNOTATION = "meshrollout.dev/header-routes"


@dataclass(frozen=True)
class Backends:
    """The two version Services a rollout moves traffic between on an HTTPRoute."""

    stable: str
    canary: str
    namespace: str = "default"
    rules: tuple[str, ...] = ()

    def is_ref(self, ref: object, service: str) -> bool:
        """True when ``ref`` is a backendRef to the Service ``service`` of our namespace
        (Gateway API defaults: core group, kind Service, the route's namespace)."""
        if not isinstance(ref, dict):
            return False
        return (
            ref.get("name") == service
            and ref.get("group", "") in ("", None)
            and ref.get("kind", "Service") == "Service"
            and ref.get("namespace", self.namespace) == self.namespace
        )

    def in_pair(self, ref: object) -> bool:
        return self.is_ref(ref, self.stable) or self.is_ref(ref, self.canary)


def weight_of(ref: Doc) -> int:
    """The Gateway API's reading of a backendRef's weight: absent means 1 (proportional)."""
    return int(ref.get("weight", 1))


def _name(route: Doc) -> str:
    return str((route.get("metadata") or {}).get("name", "?"))


def _rules(route: Doc) -> list[Doc]:
    rules = (route.get("spec") or {}).get("rules")
    if not isinstance(rules, list) or not rules:
        raise fail("HTTPRoute.spec.rules", f"HTTPRoute {_name(route)} has no rules")
    return rules


def _annotations(route: Doc) -> Doc:
    return (route.get("metadata") or {}).get("annotations") or {}


def _ours(route: Doc) -> set[str]:
    return {n for n in str(_annotations(route).get(HEADER_RULES_ANNOTATION) or "").split(",") if n}


def _label(rule: Doc, index: int) -> str:
    return str(rule.get("name") or f"rules[{index}]")


def _catch_all(rule: Doc) -> bool:
    """No match, or only the Gateway API's default one (path prefix ``/``)."""
    matches = rule.get("matches") or []
    default = {"path": {"type": "PathPrefix", "value": "/"}}
    return all(m in ({}, default) for m in matches)


def managed_rules(route: Doc, b: Backends) -> list[int]:
    """Indices of the rules this rollout manages: those named (``b.rules``), else the one
    catch-all rule whose backendRefs are only our two Services."""
    rules, ours = _rules(route), _ours(route)
    if b.rules:
        by_name = {r.get("name"): i for i, r in enumerate(rules) if r.get("name") not in ours}
        missing = [
            Problem(
                f"Rollout.spec.routes[{i}]",
                f"HTTPRoute {_name(route)} has no rule named {name!r} "
                f"(it has: {', '.join(_label(r, j) for j, r in enumerate(rules))})",
            )
            for i, name in enumerate(b.rules)
            if name not in by_name
        ]
        if missing:
            raise MeshError(missing)
        return sorted(by_name[name] for name in b.rules)
    candidates = [
        i
        for i, rule in enumerate(rules)
        if _catch_all(rule)
        and rule.get("name") not in ours
        and (refs := rule.get("backendRefs") or [])
        and all(b.in_pair(r) for r in refs)
    ]
    if len(candidates) == 1:
        return candidates
    found = ", ".join(_label(rules[i], i) for i in candidates) or "none"
    raise fail(
        "HTTPRoute.spec.rules",
        f"HTTPRoute {_name(route)} needs exactly one rule without a match whose backendRefs "
        f"are only Services {b.stable}/{b.canary}; found {found}. Name the rules to manage "
        "in spec.routes.",
    )


def _weighted(refs: list[Doc], b: Backends, canary_weight: int) -> list[Doc]:
    stable = next((r for r in refs if b.is_ref(r, b.stable)), None)
    canary = next((r for r in refs if b.is_ref(r, b.canary)), None)
    pair = [r for r in (stable, canary) if r is not None]
    others = sum(weight_of(r) for r in refs if not any(r is p for p in pair))
    # Alone, the pair's weights are percentages; beside other backends it shares what
    # it has now, so their weights (and share) are kept as they were.
    pool = 100 if others == 0 else sum(weight_of(r) for r in pair)
    out = list(refs)
    if canary is None:
        canary = copied(stable) if stable is not None else {"name": b.canary}
        canary["name"] = b.canary
        out.insert(out.index(stable) + 1 if stable is not None else len(out), canary)
    if stable is None:
        stable = {**copied(canary), "name": b.stable}
        out.insert(out.index(canary), stable)
    share = (pool * canary_weight + 50) // 100
    canary["weight"], stable["weight"] = share, pool - share
    return out


def set_weights(route: Doc, b: Backends, canary_weight: int, drop_unused: bool = False) -> Doc:
    """Give the canary Service ``canary_weight`` percent of the pair's traffic on each
    managed rule; ``drop_unused`` then removes whichever of the pair was left at 0."""
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary weight {canary_weight} is outside 0..100")
    out = copied(route)
    rules = _rules(out)
    for index in managed_rules(out, b):
        refs = _weighted(rules[index].get("backendRefs") or [], b, canary_weight)
        pair = [r for r in refs if b.in_pair(r)]
        if drop_unused and len(pair) == 2 and sum(weight_of(r) for r in pair) > 0:
            refs = [r for r in refs if not (b.in_pair(r) and weight_of(r) == 0)]
        rules[index]["backendRefs"] = refs
    annotations = out.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[APPLIED_ANNOTATION] = f"{b.canary}={canary_weight}"
    return out


def weight_drift(route: Doc, b: Backends) -> bool:
    """True when someone changed the managed weights since :func:`set_weights` set them."""
    subset, _, weight = str(_annotations(route).get(APPLIED_ANNOTATION, "")).partition("=")
    if subset != b.canary or not weight.isdigit():
        return False
    try:
        indices = managed_rules(route, b)
    except MeshError:
        return True  # the managed rules themselves were broken by hand
    for index in indices:
        refs = _rules(route)[index].get("backendRefs") or []
        pair = [r for r in refs if b.in_pair(r)]
        pool = sum(weight_of(r) for r in pair)
        canary = sum(weight_of(r) for r in pair if b.is_ref(r, b.canary))
        if canary != (pool * int(weight) + 50) // 100:
            return True
    return False


def set_header_route(route: Doc, b: Backends, header: str, value: str) -> Doc:
    """Add, for each managed rule, a rule sending ``header: value`` to the canary Service.

    A copy of the managed rule (filters, timeouts and the rest) whose matches each also
    require the header: the Gateway API prefers the match with more header matches, so
    testers reach the canary whatever the order of rules. Twice equals once.
    """
    out = remove_header_route(route)
    rules = _rules(out)
    added = []
    for index in reversed(managed_rules(out, b)):
        rule = rules[index]
        refs = rule.get("backendRefs") or []
        model = next((r for r in refs if b.is_ref(r, b.stable)), None) or next(
            (r for r in refs if b.is_ref(r, b.canary)), {"name": b.canary}
        )
        condition = {"type": "Exact", "name": header, "value": value}
        matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
        new = copied({k: v for k, v in rule.items() if k not in ("name", "matches")})
        new["name"] = (
            f"{_label(rule, index).replace('[', '-').replace(']', '')}{HEADER_RULE_SUFFIX}"
        )
        new["matches"] = [
            {**copied(m), "headers": [*map(copied, m.get("headers") or []), condition]}
            for m in matches
        ]
        new["backendRefs"] = [{**copied(model), "name": b.canary, "weight": 1}]
        rules.insert(index, new)
        added.append(new["name"])
    annotations = out.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[HEADER_RULES_ANNOTATION] = ",".join(sorted(added))
    return out


def remove_header_route(route: Doc) -> Doc:
    """Remove every header rule this controller added; nothing else changes."""
    out = copied(route)
    if HEADER_RULES_ANNOTATION not in _annotations(out):
        return out
    ours = _ours(out)
    spec = out.get("spec") or {}
    if isinstance(spec.get("rules"), list):
        spec["rules"] = [r for r in spec["rules"] if r.get("name") not in ours]
    metadata = out["metadata"]
    metadata["annotations"].pop(HEADER_RULES_ANNOTATION)
    if not metadata["annotations"]:
        del metadata["annotations"]  # as it was before we added ours
    return out


def validate_route(route: Doc, b: Backends, services: Collection[str]) -> list[int]:
    """The managed rule indices, or :class:`MeshError` listing every problem: the kind,
    parents, the managed rules' weights, and the two version Services (``services``:
    the Services that exist in the namespace)."""
    api = str(route.get("apiVersion", ""))
    group, _, version = api.partition("/")
    problems: list[Problem] = []
    if route.get("kind") != "HTTPRoute":
        problems.append(Problem("HTTPRoute.kind", f"expected HTTPRoute, got {route.get('kind')!r}"))
    if group != GATEWAY or version not in GATEWAY_VERSIONS:
        problems.append(
            Problem("HTTPRoute.apiVersion", f"{api!r} is not {GATEWAY}/ one of v1, v1beta1")
        )
    if not (route.get("spec") or {}).get("parentRefs"):
        problems.append(Problem("HTTPRoute.spec.parentRefs", "names no Service or Gateway"))
    for role, service in (("stable", b.stable), ("canary", b.canary)):
        if service not in services:
            problems.append(
                Problem("HTTPRoute.spec.rules", f"the {role} Service {service!r} does not exist")
            )
    if problems:
        raise MeshError(problems)
    indices = managed_rules(route, b)
    for index in indices:
        where = f"HTTPRoute.spec.rules[{index}].backendRefs"
        refs = _rules(route)[index].get("backendRefs")
        if not isinstance(refs, list) or not refs:
            problems.append(Problem(where, "the managed rule has no backendRefs"))
            continue
        for j, ref in enumerate(refs):
            weight = ref.get("weight", 1) if isinstance(ref, dict) else None
            if (
                not isinstance(weight, int)
                or isinstance(weight, bool)
                or not 0 <= weight <= 1_000_000
            ):
                problems.append(Problem(f"{where}[{j}].weight", f"{weight!r} is not a weight"))
        if not problems and sum(weight_of(r) for r in refs) == 0:
            problems.append(Problem(where, "every weight is 0: the rule sends nothing"))
        if not problems and not any(b.in_pair(r) for r in refs):
            problems.append(Problem(where, f"sends to neither {b.stable!r} nor {b.canary!r}"))
    if problems:
        raise MeshError(problems)
    return indices


def parent_services(route: Doc, namespace: str) -> list[str]:
    """The Services (GAMMA: mesh traffic) among the route's parents, in ``namespace``."""
    return [
        str(p.get("name"))
        for p in (route.get("spec") or {}).get("parentRefs") or []
        if isinstance(p, dict)
        and p.get("kind") == "Service"
        and p.get("group", "") in ("", "core")
        and p.get("namespace", namespace) == namespace
    ]


__all__ = [
    "APPLIED_ANNOTATION",
    "GATEWAY",
    "GATEWAY_VERSIONS",
    "HEADER_RULE_SUFFIX",
    "Backends",
    "managed_rules",
    "parent_services",
    "remove_header_route",
    "set_header_route",
    "set_weights",
    "validate_route",
    "weight_drift",
    "weight_of",
]
