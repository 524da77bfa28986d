"""Check a VirtualService and DestinationRule pair before a rollout touches either.

Collects every problem it can find, each naming its field, so a person fixes
them in one go. Called by the controller before the first weight change and
at every reconcile, and by the CLI before it writes a Rollout.
"""

from __future__ import annotations

from rollout.mesh.istio import VERSION_LABELS, destination_hosts, sends_to, subset_version
from rollout.mesh.routes import managed_routes
from rollout.mesh.shape import DESTINATION_RULE, VIRTUAL_SERVICE, check_shape
from rollout.mesh.target import Doc, MeshError, Target, check_kind, name_of, weight_of
from rollout.model import Problem


def _version_problems(dr: Doc, target: Target) -> list[Problem]:
    """Each subset must say its version, and the two must differ, or nothing can be measured."""
    versions = {}
    for index, entry in enumerate((dr.get("spec") or {}).get("subsets") or []):
        if entry.get("name") not in (target.stable, target.canary):
            continue
        version = subset_version(dr, str(entry.get("name")))
        if version is None:
            return [
                Problem(
                    f"DestinationRule.spec.subsets[{index}].labels",
                    f"subset {entry.get('name')!r} has no version label "
                    f"({', '.join(VERSION_LABELS)}): Istio's metrics could not tell it apart",
                )
            ]
        versions[entry.get("name")] = version
    if len(versions) == 2 and len(set(versions.values())) == 1:
        return [
            Problem(
                "DestinationRule.spec.subsets",
                f"subsets {target.stable!r} and {target.canary!r} both have version "
                f"{versions[target.stable]!r}: Istio's metrics could not tell them apart",
            )
        ]
    return []


def _kind_problems(doc: Doc, kind: str) -> list[Problem]:
    try:
        check_kind(doc, kind)
    except MeshError as error:
        return error.problems
    return []


def _route_problems(vs: Doc, index: int, target: Target) -> list[Problem]:
    route = vs["spec"]["http"][index]
    entries = route.get("route")
    where = f"VirtualService.spec.http[{index}].route"
    if not isinstance(entries, list) or not entries:
        return [Problem(where, "the managed route has no destinations")]
    problems: list[Problem] = []
    for j, entry in enumerate(entries):
        host = (entry.get("destination") or {}).get("host")
        if not host:
            problems.append(Problem(f"{where}[{j}].destination.host", "is missing"))
        weight = entry.get("weight", 0)
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            problems.append(Problem(f"{where}[{j}].weight", f"{weight!r} is not a weight 0..100"))
    if problems:
        return problems
    total = sum(weight_of(e, entries) for e in entries)
    if total != 100:
        weights = ", ".join(str(weight_of(e, entries)) for e in entries)
        problems.append(Problem(where, f"weights {weights} add up to {total}, not 100"))
    pair = (target.stable, target.canary)
    if not any(target.is_subset(e, subset) for e in entries for subset in pair):
        problems.append(
            Problem(
                where, f"routes {target.host} to neither {target.stable!r} nor {target.canary!r}"
            )
        )
    return problems


def validate_pair(vs: Doc, dr: Doc, target: Target) -> list[int]:
    """Return the managed route indices, or raise :class:`MeshError` listing every problem."""
    check_shape(vs, "VirtualService", VIRTUAL_SERVICE)
    check_shape(dr, "DestinationRule", DESTINATION_RULE)
    problems = _kind_problems(vs, "VirtualService") + _kind_problems(dr, "DestinationRule")
    if problems:
        raise MeshError(problems)
    # Ours when its routes send traffic to the service, whatever its hosts and gateways
    # (an ingress VirtualService for a public host is one of the service's routes).
    # (Named routes, or no routes at all, get the more precise problems further down.)
    http = (vs.get("spec") or {}).get("http")
    routed = bool(target.routes) or not http or sends_to(vs, target.host, target.namespace)
    if not routed:
        sent = destination_hosts(vs)
        problems.append(
            Problem(
                "VirtualService.spec.http",
                f"VirtualService {name_of(vs)} sends traffic to {sent or 'no host'}, "
                f"not {target.host}",
            )
        )
    dr_host = (dr.get("spec") or {}).get("host")
    if not target.same_host(dr_host):
        problems.append(
            Problem(
                "DestinationRule.spec.host",
                f"DestinationRule {name_of(dr)} is for {dr_host!r}, not {target.host}",
            )
        )
    subsets = [s.get("name") for s in (dr.get("spec") or {}).get("subsets") or []]
    for role, subset in (("stable", target.stable), ("canary", target.canary)):
        if subset not in subsets:
            problems.append(
                Problem(
                    "DestinationRule.spec.subsets",
                    f"DestinationRule {name_of(dr)} has no {role} subset {subset!r} "
                    f"(it has: {', '.join(map(str, subsets)) or 'none'})",
                )
            )
    if not problems:
        problems += _version_problems(dr, target)
    if not routed:
        raise MeshError(problems)  # no route of it could be ours: nothing more to say
    try:
        indices = managed_routes(vs, target)
    except MeshError as error:
        raise MeshError(problems + error.problems) from None
    for index in indices:
        problems += _route_problems(vs, index, target)
    if problems:
        raise MeshError(problems)
    return indices
