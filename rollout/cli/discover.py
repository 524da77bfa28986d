"""How ``rollout start NAME VERSION`` finds what to roll out, before writing anything.

Pure functions over the documents the CLI listed: which VirtualService routes
the service, which subset is stable now, and the spec to write. Every refusal
is a :class:`BadInput` with a one-line message (the CLI exits 2 on it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rollout.mesh.istio import destination_hosts, qualify, same_host, sends_to, service_name
from rollout.model import Analysis, Strategy
from rollout.model.base import shorten

Doc = dict[str, Any]


class BadInput(Exception):
    """Input the CLI cannot act on; nothing has been written."""


class NothingRoutes(BadInput):
    """No VirtualService routes what NAME means (an HTTPRoute may)."""


@dataclass(frozen=True)
class Found:
    """Every VirtualService that sends traffic to the service, and the service's host."""

    virtual_services: list[Doc]
    host: str

    @property
    def names(self) -> list[str]:
        return [str(vs["metadata"]["name"]) for vs in self.virtual_services]


def _hosts(vs: Doc) -> list[str]:
    return [str(h) for h in (vs.get("spec") or {}).get("hosts") or []]


def _candidates(items: list[Doc], name: str, namespace: str) -> list[tuple[str, str]]:
    """(host, VirtualService) pairs that NAME may mean: a host that routes send traffic to
    (a service; a VirtualService's own ``hosts`` may be a public name) whose first label is
    NAME or NAME-service, or what a VirtualService named NAME or NAME-route sends traffic to."""
    found: list[tuple[str, str]] = []
    for vs in items:
        vs_name = str(vs["metadata"]["name"])
        hosts = destination_hosts(vs)
        matching = [h for h in hosts if service_name(h) in (name, f"{name}-service")]
        if not matching and vs_name in (name, f"{name}-route"):
            sent = list(dict.fromkeys(qualify(h, namespace) for h in destination_hosts(vs)))
            if len(sent) > 1:
                raise BadInput(
                    f"VirtualService {vs_name} routes to several hosts ({', '.join(sent)}); "
                    "name one with --service"
                )
            matching = destination_hosts(vs)[:1]
        found += [(h, vs_name) for h in matching]
    return found


def find_virtual_services(
    items: list[Doc], name: str, service: str | None, namespace: str = "default"
) -> Found:
    """Every VirtualService routing to the service NAME means (or ``service`` when given).

    The service: a host that VirtualService routes send traffic to, whose first DNS label
    is NAME or NAME-service, or what a VirtualService named NAME or NAME-route sends
    traffic to; it must be one service.
    Then every VirtualService whose routes send traffic to it is one of its routes,
    whatever its ``hosts`` and ``gateways`` (mesh and ingress alike).
    """
    if service:
        host = service
    else:
        candidates = _candidates(items, name, namespace)
        if not candidates:
            raise NothingRoutes(f"no VirtualService routes {name}")
        services: dict[str, list[str]] = {}
        for h, vs_name in candidates:
            services.setdefault(qualify(h, namespace), [])
            if vs_name not in services[qualify(h, namespace)]:
                services[qualify(h, namespace)].append(vs_name)
        if len(services) > 1:
            listed = "; ".join(f"{h} ({', '.join(v)})" for h, v in services.items())
            raise BadInput(f"several services match {name}: {listed}; use --service")
        # As people write it: a host a VirtualService routes (the mesh's), else the first seen.
        routed = [h for h, _ in candidates if any(h in _hosts(vs) for vs in items)]
        host = (routed or [candidates[0][0]])[0]
    members = [vs for vs in items if sends_to(vs, host, namespace)]
    if not members:
        raise BadInput(f"no VirtualService routes traffic to {host}")
    return Found(members, host)


def listing(found: Found) -> str:
    """What ``start`` found, one VirtualService a line, said before anything is written."""
    lines = [f"VirtualServices routing to {found.host} (all will move together):"]
    for vs in found.virtual_services:
        spec = vs.get("spec") or {}
        gateways = [str(g) for g in spec.get("gateways") or []]
        where = f"hosts {', '.join(_hosts(vs)) or '-'}"
        if gateways:
            where += f"; gateways {', '.join(gateways)}"
        lines.append(f"  {vs['metadata']['name']} ({where})")
    return "\n".join(lines)


def subsets_of(destination_rule: Doc) -> list[str]:
    return [str(s.get("name")) for s in (destination_rule.get("spec") or {}).get("subsets") or []]


def _stable_in(vs: Doc, host: str, namespace: str) -> list[str]:
    """The subsets serving 100% on each unmatched route of ``vs`` that only goes to ``host``."""
    candidates = []
    for route in (vs.get("spec") or {}).get("http") or []:
        if route.get("match"):
            continue
        entries = route.get("route") or []
        dests = [
            e
            for e in entries
            if same_host((e.get("destination") or {}).get("host"), host, namespace)
        ]
        if not dests or len(dests) != len(entries):
            continue
        full = [e for e in dests if e.get("weight", 100 if len(dests) == 1 else 0) == 100]
        if len(full) == 1:
            candidates.append(str(full[0]["destination"].get("subset")))
    return candidates


def current_stable(vs: Doc | list[Doc], host: str, namespace: str = "default") -> str:
    """The subset that serves 100% on the one unmatched route of ``host`` today.

    Given several VirtualServices, each with such a route says which, and they must
    agree (one without, e.g. an ingress with path matches only, says nothing).
    """
    seen = [_stable_in(doc, host, namespace) for doc in (vs if isinstance(vs, list) else [vs])]
    said = {found[0] for found in seen if len(found) == 1}
    if len(said) != 1 or any(len(found) > 1 for found in seen):
        raise BadInput(
            f"cannot tell which subset of {host} is stable (no single unmatched route sends it "
            "100%, or the VirtualServices disagree); pass --stable"
        )
    return said.pop()


def start_spec(
    host: str,
    vs_names: list[str],
    dr_name: str,
    stable: str,
    canary: str,
    steps: list[int] | None,
    known_subsets: list[str],
) -> Doc:
    """The spec to write, after checking the subsets exist."""
    for role, subset in (("canary", canary), ("stable", stable)):
        if subset not in known_subsets:
            raise BadInput(
                f"DestinationRule {dr_name} has no {role} subset {subset!r} "
                f"(it has: {', '.join(known_subsets) or 'none'})"
            )
    if canary == stable:
        raise BadInput(f"{canary} already serves {host} (it is the stable subset)")
    spec: Doc = {
        "service": host,
        "virtualServices": vs_names,
        "destinationRule": dr_name,
        "stableSubset": stable,
        "canarySubset": canary,
    }
    if steps:
        spec["strategy"] = {"steps": steps}
    return spec


_STEP = re.compile(r"\s*([0-9]{1,9})\s*")


def parse_steps(text: str | None) -> list[int] | None:
    """``"5,25,50,100"`` → ``[5, 25, 50, 100]``; None when the flag was not given.

    Empty text or an empty item (``","``, ``"5,,100"``) is refused, never read as
    "the default plan". Whether the weights make a plan is the model's to say.
    """
    if text is None:
        return None
    parts = [_STEP.fullmatch(part) for part in text.split(",")]
    if not text.strip() or not all(parts):
        raise BadInput(
            f"write whole numbers separated by commas (e.g. 5,25,50,100), not {shorten(text)}"
        )
    return [int(m.group(1)) for m in parts if m]


# The spec fields ``start`` owns, each with its flag. ``start`` sets each one to its
# flag's value or, when the flag is absent, back to the model's default: the same
# command gives the same rollout whether or not an earlier run left other values.
OWNED_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("strategy", "steps", "--steps"),
    ("strategy", "stepDuration", "--step-duration"),
    ("analysis", "interval", "--interval"),
    ("analysis", "minRequests", "--min-requests"),
    ("analysis", "maxInconclusive", "--max-inconclusive"),
)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _default(section: str, alias: str) -> Any:
    model = Strategy() if section == "strategy" else Analysis()
    return model.model_dump(mode="json", by_alias=True)[alias]


def with_flags(spec: Doc, flags: dict[str, Any]) -> Doc:
    """``spec`` with the owned fields whose flag was given (``flags`` by flag name)."""
    out = {**spec}
    for section, alias, flag in OWNED_FIELDS:
        if flags.get(flag) is not None:
            out[section] = {**(out.get(section) or {}), alias: flags[flag]}
    return out


def restart_patch(old: Doc, spec: Doc, flags: dict[str, Any]) -> tuple[Doc, list[str]]:
    """The merge patch that restarts a rollout whose spec is ``old``, and notes for the user.

    ``spec`` holds what ``start`` found (service, names, subsets). Each owned field
    takes its flag's value; without the flag it is removed (``null``) so that the
    API server's default applies, and when that changes what the last run used, a
    note says so and which flag keeps the old value. Fields ``start`` does not own
    (SLOs, custom checks, notifications, ...) are left as they are.
    """
    patch: Doc = {k: v for k, v in spec.items() if k not in ("strategy", "analysis")}
    for field in ("virtualService", "virtualServices", "destinationRule", "httpRoute"):
        if field not in spec and old.get(field):
            patch[field] = None  # what names the traffic now is what start found
    notes: list[str] = []
    for section, alias, flag in OWNED_FIELDS:
        given = flags.get(flag)
        patch.setdefault(section, {})[alias] = given
        before = (old.get(section) or {}).get(alias)
        default = _default(section, alias)
        if given is None and before is not None and before != default:
            back = (
                "is unset, so the judge's own default applies"
                if default is None
                else (f"goes back to the default {_shown(default)}")
            )
            notes.append(
                f"spec.{section}.{alias} {back} "
                f"(the last run had {_shown(before)}; pass {flag} {_shown(before)} to keep it)"
            )
    return patch, notes


def merged(old: Any, patch: Any) -> Any:
    """RFC 7386 merge patch: what the API server will store (``null`` removes a field)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(old) if isinstance(old, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(out.get(key), value)
    return out
