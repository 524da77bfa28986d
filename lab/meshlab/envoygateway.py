"""Translate a Gateway API HTTPRoute into Envoy routes and clusters, as a sidecar or a
waypoint would serve it. Pure; the Gateway API's counterpart of ``envoyconf``.

Each backendRef is a version Service (``inventory-v2``) whose cluster is named
``<service>|<namespace>|<version>``, so the lab's recording rules report it the way
Istio does for a request addressed to that Service: ``destination_service_name`` the
backend Service, ``destination_version`` its pods' version. Matches are ordered by the
Gateway API's precedence (exact path, then the longest prefix, then the most header
matches, then the rule's order), since Envoy takes the first route that matches.
Outlier detection comes from a DestinationRule for the Service's host, if any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meshlab import envoyconf
from rollout.mesh.istio import same_host

Doc = dict[str, Any]
_PATH_RANK = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}


def cluster_name(service: str, namespace: str, version: str) -> str:
    return f"{service}|{namespace}|{version}"


def _match(match: Doc) -> Doc:
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    out: Doc = {}
    kind, value = path.get("type", "PathPrefix"), path.get("value", "/")
    if kind == "Exact":
        out["path"] = value
    elif kind == "RegularExpression":
        out["safe_regex"] = {"regex": value}
    else:
        out["path_separated_prefix" if value not in ("/", "") else "prefix"] = (
            value.rstrip("/") if value not in ("/", "") else "/"
        )
    headers = [
        {
            "name": h["name"],
            "string_match": {"safe_regex": {"regex": h["value"]}}
            if h.get("type") == "RegularExpression"
            else {"exact": h["value"]},
        }
        for h in match.get("headers") or []
    ]
    if headers:
        out["headers"] = headers
    return out


def _headers(modifier: Doc) -> tuple[list[Doc], list[str]]:
    add = [
        {"header": {"key": h["name"], "value": h["value"]}, "append_action": action}
        for key, action in (
            ("set", "OVERWRITE_IF_EXISTS_OR_ADD"),
            ("add", "APPEND_IF_EXISTS_OR_ADD"),
        )
        for h in modifier.get(key) or []
    ]
    return add, list(modifier.get("remove") or [])


def _action(rule: Doc, namespace: str, versions: Mapping[str, str]) -> Doc:
    refs = [r for r in rule.get("backendRefs") or [] if r.get("name") in versions]
    clusters = [
        {
            "name": cluster_name(r["name"], namespace, versions[r["name"]]),
            "weight": int(r.get("weight", 1)),
        }
        for r in refs
    ]
    action: Doc = {"weighted_clusters": {"clusters": clusters}}
    timeout = (rule.get("timeouts") or {}).get("request")
    if timeout:
        action["timeout"] = envoyconf._seconds(timeout)
    for f in rule.get("filters") or []:
        if f.get("type") == "URLRewrite":
            path = (f.get("urlRewrite") or {}).get("path") or {}
            if path.get("type") == "ReplacePrefixMatch":
                action["prefix_rewrite"] = path.get("replacePrefixMatch", "/")
            elif path.get("type") == "ReplaceFullPath":
                action["regex_rewrite"] = {
                    "pattern": {"regex": ".*"},
                    "substitution": path.get("replaceFullPath", "/"),
                }
    return action


def _route(rule: Doc, match: Doc, namespace: str, versions: Mapping[str, str]) -> Doc:
    out: Doc = {
        "name": str(rule.get("name") or "rule"),
        "match": _match(match),
        "route": _action(rule, namespace, versions),
    }
    for f in rule.get("filters") or []:
        if f.get("type") == "RequestHeaderModifier":
            add, remove = _headers(f.get("requestHeaderModifier") or {})
            out["request_headers_to_add"], out["request_headers_to_remove"] = add, remove
        elif f.get("type") == "ResponseHeaderModifier":
            add, remove = _headers(f.get("responseHeaderModifier") or {})
            out["response_headers_to_add"], out["response_headers_to_remove"] = add, remove
    return out


def _precedence(item: tuple[int, Doc]) -> tuple[int, int, int, int]:
    index, match = item
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    return (
        _PATH_RANK.get(path.get("type", "PathPrefix"), 3),
        -len(str(path.get("value", "/"))),
        -len(match.get("headers") or []),
        index,
    )


def routes(route: Doc, namespace: str, versions: Mapping[str, str]) -> list[Doc]:
    """Envoy routes for every match of every rule, in the Gateway API's precedence."""
    pairs = [
        (i, rule, match)
        for i, rule in enumerate((route.get("spec") or {}).get("rules") or [])
        for match in rule.get("matches") or [{}]
    ]
    ordered = sorted(pairs, key=lambda p: _precedence((p[0], p[2])))
    return [_route(rule, match, namespace, versions) for _, rule, match in ordered]


def route_configuration(route: Doc, namespace: str, versions: Mapping[str, str]) -> Doc:
    """One RouteConfiguration serving ``route`` for any Host (the lab's one listener)."""
    return {
        "@type": envoyconf.ROUTE_TYPE,
        "name": envoyconf.ROUTE_NAME,
        "virtual_hosts": [
            {"name": "mesh", "domains": ["*"], "routes": routes(route, namespace, versions)}
        ],
    }


def clusters(
    versions: Mapping[str, str],
    namespace: str,
    endpoints: Mapping[str, list[int]],
    rules: Sequence[Doc] = (),
) -> list[Doc]:
    """A cluster per version Service (its version's backends), with the outlier detection
    of a DestinationRule for the Service's host when there is one."""
    out = []
    for service, version in sorted(versions.items()):
        name = cluster_name(service, namespace, version)
        cluster: Doc = {
            "@type": envoyconf.CLUSTER_TYPE,
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {
                                        "socket_address": {"address": "127.0.0.1", "port_value": p}
                                    }
                                }
                            }
                            for p in endpoints.get(version, [])
                        ]
                    }
                ],
            },
        }
        rule = next(
            (r for r in rules if same_host((r.get("spec") or {}).get("host"), service, namespace)),
            None,
        )
        outlier = envoyconf._outlier((rule or {}).get("spec", {}).get("trafficPolicy") or {})
        if outlier:
            cluster["outlier_detection"] = outlier
        out.append(cluster)
    return out
