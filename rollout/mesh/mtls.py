"""How Istio's PeerAuthentications apply to one service's pods: a pure reading.

``assess`` takes the PeerAuthentications of the service's namespace and of the
mesh's root namespace (as read by ``WorkloadClient``) and the service's
workloads (pod labels and the ports they serve), and says what a peer may send
them: the weakest mode any of those pods accepts on any of those ports, whether
that is STRICT, and why, in sentences a release engineer can act on.

Istio's rules, as followed here: a policy with a workload selector beats the
namespace-wide one, which beats the mesh-wide one in the root namespace
(selector policies there are ignored); ``UNSET`` or no mode inherits from the
level above; with nothing set anywhere Istio's default is PERMISSIVE; when two
policies compete at one level the oldest wins. ``portLevelMtls`` keys are
workload (container) ports, not Service ports; an exception on a port the pods
serve weakens them (counted from namespace-wide policies too, conservatively,
though Istio applies port-level settings only with a selector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
# From weakest to strongest; None (nothing set anywhere) behaves as PERMISSIVE.
_RANK = {"DISABLE": 0, "PERMISSIVE": 1, None: 1, "STRICT": 2}


@dataclass(frozen=True)
class MtlsReport:
    """What peers may send the service's pods.

    ``mode``: the weakest mode seen (STRICT, PERMISSIVE, DISABLE; None when no
    policy sets one, which Istio treats as PERMISSIVE); ``strict``: every pod
    requires mutual TLS on every port it serves; ``reasons``: why, one sentence
    per finding.
    """

    mode: str | None
    strict: bool
    reasons: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Workload:
    """Pods of the service: their labels and the container ports they declare."""

    name: str
    labels: dict[str, str]
    ports: frozenset[int] = field(default_factory=frozenset)


def _mode(setting: Any) -> str | None:
    mode = (setting or {}).get("mode") if isinstance(setting, dict) else None
    return str(mode) if mode and mode != "UNSET" else None


def _policy_mode(policy: Doc | None) -> str | None:
    return _mode((policy or {}).get("spec", {}).get("mtls"))


def _name(policy: Doc) -> str:
    meta = policy.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _oldest(policies: Sequence[Doc]) -> Doc | None:
    def age(p: Doc) -> tuple[str, str]:
        meta = p.get("metadata") or {}
        return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))

    return min(policies, key=age, default=None)


def _selector(policy: Doc) -> dict[str, str] | None:
    selector = (policy.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if labels else None


def _port_exceptions(policy: Doc | None, ports: frozenset[int]) -> list[tuple[int, str]]:
    """(port, mode) of the policy's non-STRICT port-level settings on ``ports`` (all if empty)."""
    if policy is None:
        return []
    found = []
    for key, setting in ((policy.get("spec") or {}).get("portLevelMtls") or {}).items():
        mode = _mode(setting)
        try:
            port = int(key)
        except (TypeError, ValueError):
            continue
        if mode in ("PERMISSIVE", "DISABLE") and (not ports or port in ports):
            found.append((port, mode))
    return sorted(found)


def _weakest(modes: Sequence[str | None]) -> str | None:
    return min(modes, key=lambda m: _RANK.get(m, 1)) if modes else None


def assess(
    namespace: str,
    policies: Sequence[Doc],
    root_namespace: str,
    root_policies: Sequence[Doc] | None,
    workloads: Sequence[Workload],
) -> MtlsReport:
    """The report for a service whose pods are ``workloads`` (none known: namespace level).

    ``root_policies`` is None when the root namespace could not be read.
    """
    mesh = _oldest([p for p in root_policies or [] if not _selector(p)])
    wide = _oldest([p for p in policies if not _selector(p)])
    mesh_mode, wide_mode = _policy_mode(mesh), _policy_mode(wide)
    unset = f"namespace {namespace} " + (
        "has no PeerAuthentication" if wide is None else "sets no mTLS mode"
    )
    base: str | None = wide_mode or mesh_mode
    if wide is not None and wide_mode is not None:
        base_reason = f"PeerAuthentication {_name(wide)} sets {wide_mode}"
    elif mesh is not None and mesh_mode is not None:
        base_reason = f"{unset}; the mesh-wide PeerAuthentication {_name(mesh)} sets {mesh_mode}"
    elif root_policies is None:
        base_reason = (
            f"{unset} and the mesh-wide one in {root_namespace} is not readable "
            "(Istio's default is PERMISSIVE)"
        )
    else:
        base_reason = f"{unset} (Istio's default is PERMISSIVE)"
    reasons: list[str] = []
    modes: list[str | None] = []
    for workload in workloads or [Workload("", {})]:
        own = _oldest(
            [
                p
                for p in policies
                if (s := _selector(p)) and workload.labels and s.items() <= workload.labels.items()
            ]
        )
        own_mode = _policy_mode(own)
        mode: str | None = base
        why = base_reason
        if own is not None and own_mode is not None:
            mode = own_mode
            why = f"PeerAuthentication {_name(own)} sets {own_mode} for Deployment {workload.name}"
        modes.append(mode)
        if why not in reasons:
            reasons.append(why)
        for policy in (own, wide):
            for port, port_mode in _port_exceptions(policy, workload.ports):
                modes.append(port_mode)
                line = f"PeerAuthentication {_name(policy or {})} allows {port_mode} on port {port}"
                if line not in reasons:
                    reasons.append(line)
    return MtlsReport(_weakest(modes), all(m == "STRICT" for m in modes), tuple(reasons))
