"""How ``rollout start NAME VERSION`` finds what to roll out, before writing anything.

Pure functions over the documents the CLI listed: which VirtualService routes
the service, which subset is stable now, and the spec to write. Every refusal
is a :class:`BadInput` with a one-line message (the CLI exits 2 on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]


class BadInput(Exception):
    """Input the CLI cannot act on; nothing has been written."""


def _first_label(host: str) -> str:
    return host.split(".")[0]


@dataclass(frozen=True)
class Found:
    """The VirtualService chosen and the host it routes for the service."""

    virtual_service: Doc
    host: str


def find_virtual_service(items: list[Doc], name: str, service: str | None) -> Found:
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
            matching = [h for h in hosts if _first_label(h) == _first_label(service)]
        else:
            matching = [h for h in hosts if _first_label(h) in (name, f"{name}-service")]
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


def current_stable(vs: Doc, host: str) -> str:
    """The subset that serves 100% on the one unmatched route of ``host`` today."""
    candidates = []
    for route in (vs.get("spec") or {}).get("http") or []:
        if route.get("match"):
            continue
        entries = route.get("route") or []
        dests = [
            e
            for e in entries
            if _first_label(str((e.get("destination") or {}).get("host", ""))) == _first_label(host)
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


def parse_steps(text: str | None) -> list[int] | None:
    """``"5,25,50,100"`` → ``[5, 25, 50, 100]``; validation happens in the model."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise BadInput(f"--steps takes whole numbers separated by commas, not {text!r}") from error
