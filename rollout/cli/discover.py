"""How ``rollout start NAME VERSION`` finds what to roll out, before writing anything.

Pure functions over the documents the CLI listed: which VirtualService routes
the service, which subset is stable now, and the spec to write. Every refusal
is a :class:`BadInput` with a one-line message (the CLI exits 2 on it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rollout.mesh.istio import same_host, service_name
from rollout.model import Analysis, Strategy
from rollout.model.base import shorten

Doc = dict[str, Any]


class BadInput(Exception):
    """Input the CLI cannot act on; nothing has been written."""


@dataclass(frozen=True)
class Found:
    """The VirtualService chosen and the host it routes for the service."""

    virtual_service: Doc
    host: str


def find_virtual_service(
    items: list[Doc], name: str, service: str | None, namespace: str = "default"
) -> Found:
    """Pick the one VirtualService for ``name`` (or for ``service`` when given).

    Without ``service``: a VirtualService routing a host whose first DNS label
    is NAME or NAME-service, or one named NAME or NAME-route. Exactly one must
    match; otherwise the candidates are listed.
    """
    found: list[Found] = []
    for vs in items:
        hosts = [str(h) for h in (vs.get("spec") or {}).get("hosts") or []]
        vs_name = vs["metadata"]["name"]
        if service:
            matching = [h for h in hosts if same_host(h, service, namespace)]
        else:
            matching = [h for h in hosts if service_name(h) in (name, f"{name}-service")]
            if not matching and vs_name in (name, f"{name}-route"):
                if len(hosts) != 1:
                    raise BadInput(
                        f"VirtualService {vs_name} routes several hosts ({', '.join(hosts)}); "
                        "name one with --service"
                    )
                matching = hosts
        if matching:
            found.append(Found(vs, matching[0]))
    wanted = service or name
    if not found:
        raise BadInput(f"no VirtualService routes {wanted}")
    if len(found) > 1:
        names = ", ".join(f"{f.virtual_service['metadata']['name']} ({f.host})" for f in found)
        raise BadInput(f"several VirtualServices match {wanted}: {names}; use --service")
    return found[0]


def subsets_of(destination_rule: Doc) -> list[str]:
    return [str(s.get("name")) for s in (destination_rule.get("spec") or {}).get("subsets") or []]


def current_stable(vs: Doc, host: str, namespace: str = "default") -> str:
    """The subset that serves 100% on the one unmatched route of ``host`` today."""
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
    if len(candidates) != 1:
        raise BadInput(
            f"cannot tell which subset of {host} is stable (no single unmatched route sends it "
            "100%); pass --stable"
        )
    return candidates[0]


def start_spec(
    host: str,
    vs_name: str,
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
        "virtualService": vs_name,
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
