"""What we know about Istio, in one place: API groups, hosts, subsets and versions.

Pure facts and lookups, no decisions: which API group and versions hold a
VirtualService, when two host names mean the same service, which pod labels a
subset selects and which ``destination_version`` Istio reports for them, and
the pair of documents a rollout works on. Used by the mesh transforms, the
Kubernetes adapter (to find the documents of a host), the reconciler and the
CLI; a new traffic API gets a module like this one beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

NETWORKING = "networking.istio.io"
NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")
SECURITY = "security.istio.io"
ROOT_NAMESPACE = "istio-system"
# Istio reports ``destination_version`` from the first of these pod labels it finds.
VERSION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")


@dataclass(frozen=True)
class MeshDocs:
    """The VirtualService and DestinationRule a rollout moves traffic with."""

    virtual_service: Doc
    destination_rule: Doc


@dataclass(frozen=True)
class Routing:
    """Every VirtualService a rollout moves (mesh and ingress alike) and its DestinationRule."""

    virtual_services: tuple[Doc, ...]
    destination_rule: Doc

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(
            str((vs.get("metadata") or {}).get("name", "?")) for vs in self.virtual_services
        )


def qualify(host: str, namespace: str) -> str:
    """A service host, fully qualified in ``namespace``.

    Broader than Istio's own reading of a VirtualService host (which expands only names
    without a dot): ``cart.shop`` and ``cart.shop.svc`` are taken as the service too, as
    people write them in a Rollout's ``spec.service``.

    >>> [qualify(h, "shop") for h in ("cart", "cart.shop", "cart.shop.svc", "cart.example.com")]
    ['cart.shop.svc.cluster.local', 'cart.shop.svc.cluster.local', \
'cart.shop.svc.cluster.local', 'cart.example.com']
    """
    parts = host.split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.cluster.local"
    if len(parts) == 2:
        return f"{host}.svc.cluster.local"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.cluster.local"
    return host


def same_host(a: object, b: object, namespace: str) -> bool:
    """True when two host names, short or qualified, mean the same service in ``namespace``.

    >>> [same_host("inventory-service", h, "shop") for h in ("inventory-service.shop",
    ...  "inventory-service.shop.svc.cluster.local", "inventory-service.other", "cart")]
    [True, True, False, False]
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return qualify(a, namespace) == qualify(b, namespace)


def service_name(host: str) -> str:
    """``destination_service_name`` as Istio reports it: the host's first DNS label."""
    return host.split(".")[0]


def hosts_of(doc: Doc) -> list[str]:
    """The hosts a VirtualService routes, or the one a DestinationRule is for."""
    spec = doc.get("spec") or {}
    if "hosts" in spec or doc.get("kind") == "VirtualService":
        return [h for h in spec.get("hosts") or [] if isinstance(h, str)]
    host = spec.get("host")
    return [host] if isinstance(host, str) else []


def destination_hosts(vs: Doc) -> list[str]:
    """Every host a VirtualService's HTTP routes send traffic to (its ``hosts`` aside)."""
    found = []
    for route in (vs.get("spec") or {}).get("http") or []:
        entries = route.get("route") if isinstance(route, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            host = ((entry if isinstance(entry, dict) else {}).get("destination") or {}).get("host")
            if isinstance(host, str) and host not in found:
                found.append(host)
    return found


def sends_to(vs: Doc, host: str, namespace: str) -> bool:
    """True when some HTTP route of ``vs`` sends traffic to ``host``, whatever the
    VirtualService's own ``hosts`` and ``gateways`` are (an ingress VirtualService for
    ``shop.example.com`` that routes to ``inventory-service`` is one of its routes).

    >>> vs = {"spec": {"hosts": ["shop.example.com"], "gateways": ["public"],
    ...       "http": [{"route": [{"destination": {"host": "inventory-service"}}]}]}}
    >>> [sends_to(vs, h, "shop") for h in ("inventory-service.shop.svc.cluster.local", "cart")]
    [True, False]
    """
    return any(same_host(h, host, namespace) for h in destination_hosts(vs))


def subset_labels(dr: Doc, subset: str) -> dict[str, str] | None:
    """The pod labels a DestinationRule subset selects; None when there is no such subset."""
    for entry in (dr.get("spec") or {}).get("subsets") or []:
        if isinstance(entry, dict) and entry.get("name") == subset:
            return {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
    return None


def subset_version(dr: Doc, subset: str) -> str | None:
    """The ``destination_version`` Istio reports for a subset's pods, from its labels."""
    labels = subset_labels(dr, subset) or {}
    return next((labels[k] for k in VERSION_LABELS if labels.get(k)), None)


__all__ = [
    "NETWORKING",
    "NETWORKING_VERSIONS",
    "ROOT_NAMESPACE",
    "SECURITY",
    "VERSION_LABELS",
    "MeshDocs",
    "Routing",
    "destination_hosts",
    "hosts_of",
    "qualify",
    "same_host",
    "sends_to",
    "service_name",
    "subset_labels",
    "subset_version",
]
