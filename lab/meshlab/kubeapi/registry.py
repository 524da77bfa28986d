"""The resource types the Kubernetes API emulator serves, and its discovery documents.

A :class:`ResourceType` is one plural of one group, served at one or more
versions from the same storage (Istio's v1, v1beta1 and v1alpha3 are the same
objects, as on a real cluster). ``default_types()`` registers what the
controller uses: our CRD, Istio's networking and security kinds, the Gateway API's
HTTPRoute (``gateway_api``), Services, Deployments, HorizontalPodAutoscalers,
Secrets, ConfigMaps, Namespaces, Events and Leases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshlab.kubeapi import gateway_api
from rollout.crd import build_crd

# lab/meshlab/kubeapi/registry.py -> the repository root, where the chart is.
CRD_FILE = (
    Path(__file__).resolve().parents[3]
    / "charts"
    / "rollout"
    / "crds"
    / "rollouts.meshrollout.dev.yaml"
)
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")


@dataclass(frozen=True)
class ResourceType:
    """One resource (group + plural) and how the emulator treats it."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    scale_subresource: bool = False
    custom: bool = False
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # additionalPrinterColumns as a CRD declares them (name, type, jsonPath, priority,
    # description); empty means Name and Age, as a CRD without columns gets.
    columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    # Another type's store key when both APIs show the same objects (core Events).
    storage: str = ""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        if self.storage:
            return self.storage
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def generation_tracked(self) -> bool:
        """Custom resources and workloads count spec changes in metadata.generation."""
        return self.custom or self.kind in ("Deployment",)


def _age() -> dict[str, Any]:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _column(name: str, path: str, typ: str = "string", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": typ, "jsonPath": path, "priority": priority}


# Istio's CRDs as istioctl installs them: short names, categories, printer columns.
_ISTIO_NAMES = {
    "virtualservices": (
        ("vs",),
        (_column("Gateways", ".spec.gateways"), _column("Hosts", ".spec.hosts"), _age()),
    ),
    "destinationrules": (("dr",), (_column("Host", ".spec.host"), _age())),
    "peerauthentications": (
        ("pa",),
        (_column("Mode", ".spec.mtls.mode", priority=0), _age()),
    ),
}


def _istio(plural: str, kind: str, group: str = "networking.istio.io") -> ResourceType:
    short, columns = _ISTIO_NAMES[plural]
    category = group.replace(".", "-")
    return ResourceType(
        group,
        ISTIO_VERSIONS,
        plural,
        kind,
        custom=True,
        short_names=short,
        categories=("istio-io", category),
        columns=columns,
    )


def crd_type(crd: dict[str, Any]) -> ResourceType:
    """A ResourceType from a CustomResourceDefinition manifest (schema, subresources, names)."""
    spec = crd["spec"]
    versions = tuple(v["name"] for v in spec["versions"] if v.get("served", True))
    first = spec["versions"][0]
    return ResourceType(
        group=spec["group"],
        versions=versions,
        plural=spec["names"]["plural"],
        kind=spec["names"]["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        status_subresource="status" in (first.get("subresources") or {}),
        custom=True,
        schema=(first.get("schema") or {}).get("openAPIV3Schema"),
        short_names=tuple(spec["names"].get("shortNames", ())),
        categories=tuple(spec["names"].get("categories", ())),
        columns=tuple(first.get("additionalPrinterColumns") or ()),
    )


def default_types(crd_file: Path = CRD_FILE) -> list[ResourceType]:
    """What the controller uses; our CRD as the chart ships it, or, where the lab is
    installed without the repository, as the product generates it (a test keeps the
    two equal)."""
    crd = yaml.safe_load(crd_file.read_text()) if crd_file.exists() else build_crd()
    return [
        crd_type(crd),
        _istio("virtualservices", "VirtualService"),
        _istio("destinationrules", "DestinationRule"),
        _istio("peerauthentications", "PeerAuthentication", group="security.istio.io"),
        ResourceType(
            gateway_api.GROUP,
            gateway_api.VERSIONS,
            "httproutes",
            "HTTPRoute",
            status_subresource=True,
            custom=True,
            schema=gateway_api.HTTPROUTE_SCHEMA,
            categories=("all",),
        ),
        ResourceType(
            "apps",
            ("v1",),
            "deployments",
            "Deployment",
            status_subresource=True,
            scale_subresource=True,
            short_names=("deploy",),
            categories=("all",),
        ),
        ResourceType(
            "autoscaling",
            ("v2",),
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            status_subresource=True,
            short_names=("hpa",),
            categories=("all",),
        ),
        ResourceType("", ("v1",), "secrets", "Secret"),
        ResourceType("", ("v1",), "configmaps", "ConfigMap", short_names=("cm",)),
        ResourceType(
            "", ("v1",), "events", "Event", short_names=("ev",), storage="events.events.k8s.io"
        ),
        ResourceType(
            "",
            ("v1",),
            "namespaces",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
        ),
        ResourceType(
            "",
            ("v1",),
            "services",
            "Service",
            status_subresource=True,
            short_names=("svc",),
            categories=("all",),
        ),
        ResourceType("events.k8s.io", ("v1",), "events", "Event"),
        ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease"),
    ]


class Registry:
    """Looks resource types up by (group, version, plural) and writes discovery documents."""

    def __init__(self, types: list[ResourceType]) -> None:
        self.types = types
        self._by_path = {(t.group, v, t.plural): t for t in types for v in t.versions}

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.types:
            known = out.setdefault(t.group, [])
            known.extend(v for v in t.versions if v not in known)
        return out

    def api_versions(self) -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not versions or not group:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(g) for g in self.groups() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        found = [t for t in self.types if t.group == group and version in t.versions]
        if not found:
            return None
        resources: list[dict[str, Any]] = []
        for t in found:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": verbs,
                    "shortNames": list(t.short_names),
                    "categories": list(t.categories),
                }
            )
            if t.status_subresource:
                resources.append(
                    {
                        "name": f"{t.plural}/status",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        group_version = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }
