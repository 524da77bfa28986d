"""Pure transforms of a VirtualService's HTTP routes: which ones we manage,
their weights, and the header route for internal testers.

Everything not named here is kept exactly as it was: other routes, matches,
headers, retries, timeouts, faults, mirrors and other destinations. Called by
``rollout.mesh.apply`` (the controller) and ``rollout.mesh.validate``.
"""

from __future__ import annotations

from rollout.mesh.target import Doc, MeshError, Target, copied, fail, name_of, weight_of
from rollout.model import Problem

HEADER_ROUTE_SUFFIX = "-meshrollout-canary"
APPLIED_ANNOTATION = "meshrollout.dev/applied-canary-weight"
# The names of the header routes this controller added, written in the same
# update as the routes: a route is ours because the document says so, never
# because of its name (a user's route may end in anything).
HEADER_ROUTES_ANNOTATION = "meshrollout.dev/header-routes"


def _http(vs: Doc) -> list[Doc]:
    http = (vs.get("spec") or {}).get("http")
    if not isinstance(http, list) or not http:
        raise fail("VirtualService.spec.http", f"VirtualService {name_of(vs)} has no HTTP routes")
    return http


def _label(route: Doc, index: int) -> str:
    return str(route.get("name") or f"http[{index}]")


def _ours(vs: Doc) -> set[str]:
    """Names of the header routes this controller added to ``vs`` (from its annotation)."""
    note = _annotations(vs).get(HEADER_ROUTES_ANNOTATION)
    return {name for name in str(note or "").split(",") if name}


def _annotations(vs: Doc) -> Doc:
    return (vs.get("metadata") or {}).get("annotations") or {}


def is_header_route(route: Doc, ours: set[str]) -> bool:
    """A header route this controller added (its name is in the VirtualService's annotation)."""
    name = route.get("name")
    return isinstance(name, str) and name in ours


def managed_routes(vs: Doc, target: Target) -> list[int]:
    """Indices of the HTTP routes this rollout manages.

    Named routes (``spec.routes``) are taken as named. Otherwise the one route
    without a ``match`` whose destinations are only our stable and canary
    subsets; routes with matches, such as ``/healthz`` pinned to v1, are left
    alone. No candidate, or several, is an error that lists what was found.
    """
    http = _http(vs)
    if target.routes:
        ours = _ours(vs)
        by_name = {r.get("name"): i for i, r in enumerate(http) if not is_header_route(r, ours)}
        missing = [
            Problem(
                f"Rollout.spec.routes[{i}]",
                f"VirtualService {name_of(vs)} has no HTTP route named {name!r} "
                f"(it has: {', '.join(_label(r, j) for j, r in enumerate(http))})",
            )
            for i, name in enumerate(target.routes)
            if name not in by_name
        ]
        if missing:
            raise MeshError(missing)
        return sorted(by_name[name] for name in target.routes)
    candidates = [
        i
        for i, route in enumerate(http)
        if not route.get("match")
        and not is_header_route(route, _ours(vs))
        and _only_our_pair(route, target)
    ]
    if len(candidates) == 1:
        return candidates
    found = ", ".join(_label(http[i], i) for i in candidates) or "none"
    raise fail(
        "VirtualService.spec.http",
        f"VirtualService {name_of(vs)} needs exactly one HTTP route without a match that "
        f"sends {target.host} only to subsets {target.stable}/{target.canary}; found {found}. "
        "Name the routes to manage in spec.routes.",
    )


def _only_our_pair(route: Doc, target: Target) -> bool:
    entries = route.get("route") or []
    # A finished rollout leaves only the canary: still ours, so it stays managed.
    return bool(entries) and all(
        target.is_subset(e, target.stable) or target.is_subset(e, target.canary) for e in entries
    )


def _annotations_of(vs: Doc) -> dict[str, str]:
    """The document's own annotations to write into (``metadata: null`` or
    ``annotations: null`` included: both are valid YAML a person may write)."""
    if not isinstance(vs.get("metadata"), dict):
        vs["metadata"] = {}
    metadata = vs["metadata"]
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = {}
    annotations: dict[str, str] = metadata["annotations"]
    return annotations


def set_weights(vs: Doc, target: Target, canary_weight: int, drop_unused: bool = False) -> Doc:
    """Give the canary ``canary_weight`` percent of the pair's traffic on each managed route.

    The pair shares what the other destinations leave (usually all 100); those
    keep their weights, so every route still adds up to 100. A missing canary
    destination is added beside the stable one, copied from it (port included).
    ``drop_unused`` then removes whichever of the pair was left at 0.
    """
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary weight {canary_weight} is outside 0..100")
    out = copied(vs)
    http = _http(out)
    for index in managed_routes(out, target):
        http[index]["route"] = _weighted(http[index].get("route") or [], target, canary_weight)
        if drop_unused:
            http[index]["route"] = _drop_zero_member(http[index]["route"], target)
    # What we set, so a later hand edit can be told apart from our own pending change.
    annotations = _annotations_of(out)
    annotations[APPLIED_ANNOTATION] = f"{target.canary}={canary_weight}"
    return out


def weight_drift(vs: Doc, target: Target) -> bool:
    """True when someone changed the managed weights since this controller last set them.

    Compares each managed route's pair with the weight recorded in the annotation
    that :func:`set_weights` writes (a missing member counts as 0%); a document
    we never touched has no drift.
    """
    note = ((vs.get("metadata") or {}).get("annotations") or {}).get(APPLIED_ANNOTATION, "")
    subset, _, weight = str(note).partition("=")
    if subset != target.canary or not weight.isdigit():
        return False
    try:
        indices = managed_routes(vs, target)
    except MeshError:
        return True  # the managed routes themselves were broken by hand
    http = _http(vs)
    for index in indices:
        entries = http[index].get("route") or []
        pair = [
            e
            for e in entries
            if target.is_subset(e, target.stable) or target.is_subset(e, target.canary)
        ]
        pool = sum(weight_of(e, entries) for e in pair)
        canary = sum(weight_of(e, entries) for e in pair if target.is_subset(e, target.canary))
        if canary != (pool * int(weight) + 50) // 100:
            return True
    return False


def _weighted(entries: list[Doc], target: Target, canary_weight: int) -> list[Doc]:
    stable = next((e for e in entries if target.is_subset(e, target.stable)), None)
    canary = next((e for e in entries if target.is_subset(e, target.canary)), None)
    pair = [e for e in (stable, canary) if e is not None]
    pool = 100 - sum(weight_of(e, entries) for e in entries if not any(e is p for p in pair))
    new_entries = list(entries)
    if canary is None:
        template = stable if stable is not None else {"destination": {"host": target.host}}
        canary = copied(template)
        canary["destination"]["subset"] = target.canary
        at = new_entries.index(stable) + 1 if stable is not None else len(new_entries)
        new_entries.insert(at, canary)
    if stable is None:
        stable = copied(canary)
        stable["destination"]["subset"] = target.stable
        new_entries.insert(new_entries.index(canary), stable)
    share = (pool * canary_weight + 50) // 100
    canary["weight"] = share
    stable["weight"] = pool - share
    return new_entries


def _drop_zero_member(entries: list[Doc], target: Target) -> list[Doc]:
    pair = [e for e in entries if target.is_subset(e, target.stable)] + [
        e for e in entries if target.is_subset(e, target.canary)
    ]
    if len(pair) == 2 and sum(int(e["weight"]) for e in pair) > 0:
        return [e for e in entries if not (any(e is p for p in pair) and e["weight"] == 0)]
    return entries


def set_header_route(vs: Doc, target: Target, header: str, value: str) -> Doc:
    """Put a route sending ``header: value`` to the canary right before each managed route.

    The header route copies the managed route's retries, timeout and the rest,
    and adds the header to each of its matches, so testers get what users get,
    served by the canary. Applying it twice equals applying it once.
    """
    out = remove_header_route(vs)
    http = _http(out)
    added = []
    for index in reversed(managed_routes(out, target)):
        route = _header_route(http[index], index, target, header, value)
        http.insert(index, route)
        added.append(route["name"])
    annotations = _annotations_of(out)
    annotations[HEADER_ROUTES_ANNOTATION] = ",".join(sorted(added))
    return out


def _header_route(route: Doc, index: int, target: Target, header: str, value: str) -> Doc:
    condition = {header: {"exact": value}}
    matches = route.get("match") or [{}]
    new = {k: copied(v) for k, v in route.items() if k not in ("name", "match", "route")}
    entries = route.get("route") or []
    # The stable destination's host and port, or the canary's while stable is not there yet.
    model = next((e for e in entries if target.is_subset(e, target.stable)), None) or next(
        (e for e in entries if target.is_subset(e, target.canary)), None
    )
    destination = copied((model or {}).get("destination") or {"host": target.host})
    destination["subset"] = target.canary
    match = [
        {**copied(m), "headers": {**copied(m.get("headers") or {}), **condition}} for m in matches
    ]
    return {
        "name": f"{_label(route, index)}{HEADER_ROUTE_SUFFIX}",
        "match": match,
        "route": [{"destination": destination, "weight": 100}],
        **new,
    }


def remove_header_route(vs: Doc) -> Doc:
    """Remove every header route this controller added; nothing else changes."""
    if HEADER_ROUTES_ANNOTATION not in _annotations(vs):
        return copied(vs)
    ours, out = _ours(vs), copied(vs)
    spec = out.get("spec") or {}
    if isinstance(spec.get("http"), list):
        spec["http"] = [r for r in spec["http"] if not is_header_route(r, ours)]
    metadata = out["metadata"]
    metadata["annotations"].pop(HEADER_ROUTES_ANNOTATION)
    if not metadata["annotations"]:
        del metadata["annotations"]  # as it was before we added ours
    return out
