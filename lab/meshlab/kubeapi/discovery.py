"""Discovery as kubectl reads it: aggregated discovery (``apidiscovery.k8s.io/v2``) and media types.

kubectl asks ``/api`` and ``/apis`` once each with ``Accept:
application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...``; a
server that answers with that media type (its ``Content-Type`` says so) gives it
every group, version and resource in two requests: short names (``vs``, ``mro``),
categories (``kubectl get all``, ``kubectl get istio-io``), verbs and
subresources. An answer in plain ``application/json`` makes it fall back to the
legacy documents (``APIVersions``, ``APIGroupList``, one ``APIResourceList`` per
group version), which ``registry.Registry`` still serves to older clients.

Also here: parsing ``Accept`` headers, shared with the Table output.
"""

from __future__ import annotations

from typing import Any

from meshlab.kubeapi.registry import Registry, ResourceType

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
MediaType = tuple[str, dict[str, str]]


def parse_accept(header: str | None) -> list[MediaType]:
    """``a/b;k=v, c/d`` as ``[("a/b", {"k": "v"}), ("c/d", {})]``, in the client's order."""
    out: list[MediaType] = []
    for part in (header or "").split(","):
        pieces = [p.strip() for p in part.split(";") if p.strip()]
        if not pieces:
            continue
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        out.append((pieces[0].lower(), params))
    return out


def wants(accept: list[MediaType], group: str, kind: str) -> tuple[str, str] | None:
    """The first ``application/json;as=KIND;g=GROUP;v=VERSION`` the client accepts, as
    (version, media type to answer with); None when it accepts only plain forms."""
    for media, params in accept:
        if media not in ("application/json", "*/*") or params.get("as") != kind:
            continue
        if params.get("g") != group:
            continue
        version = params.get("v", "")
        return version, f"application/json;g={group};v={version};as={kind}"
    return None


def _resource(t: ResourceType, version: str) -> dict[str, Any]:
    kind = {"group": t.group, "version": version, "kind": t.kind}
    entry: dict[str, Any] = {
        "resource": t.plural,
        "responseKind": kind,
        "scope": "Namespaced" if t.namespaced else "Cluster",
        "singularResource": t.singular,
        "verbs": VERBS,
    }
    if t.short_names:
        entry["shortNames"] = list(t.short_names)
    if t.categories:
        entry["categories"] = list(t.categories)
    subresources = []
    if t.status_subresource:
        subresources.append(
            {"subresource": "status", "responseKind": kind, "verbs": SUBRESOURCE_VERBS}
        )
    if t.scale_subresource:
        scale = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        subresources.append(
            {"subresource": "scale", "responseKind": scale, "verbs": SUBRESOURCE_VERBS}
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry: Registry, legacy: bool, api_version: str) -> dict[str, Any]:
    """The ``APIGroupDiscoveryList`` for ``/api`` (legacy) or ``/apis``: every group with its
    versions, the preferred first, and each version's resources."""
    items = []
    for group, versions in registry.groups().items():
        if (group == "") != legacy:
            continue
        entries = []
        for version in versions:
            found = [t for t in registry.types if t.group == group and version in t.versions]
            resources = sorted((_resource(t, version) for t in found), key=lambda r: r["resource"])
            entries.append({"version": version, "resources": resources, "freshness": "Current"})
        metadata = {"name": group, "creationTimestamp": None} if group else {}
        items.append({"metadata": metadata, "versions": entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }


def discovery(registry: Registry, path: str, accept: str | None) -> tuple[dict[str, Any], str]:
    """The document for ``/api`` or ``/apis`` and its Content-Type, aggregated when the
    client asks for it (v2, or v2beta1 for clients from before 1.30)."""
    legacy = path.strip("/") == "api"
    chosen = wants(parse_accept(accept), "apidiscovery.k8s.io", "APIGroupDiscoveryList")
    if chosen is not None and chosen[0] in ("v2", "v2beta1"):
        version, media = chosen
        return aggregated(registry, legacy, f"apidiscovery.k8s.io/{version}"), media
    doc = registry.api_versions() if legacy else registry.api_group_list()
    return doc, "application/json"
