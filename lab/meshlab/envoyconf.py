"""Translate VirtualServices and a DestinationRule into Envoy configuration. Pure.

The lab's Envoy plays the mesh's sidecar (and, for other VirtualServices such as
an ingress one for a public host, the gateway): a listener for the service, one
cluster per DestinationRule subset (its endpoints: that version's backends),
routes, weights and header matches from the VirtualServices, outlier detection
and connection limits from the DestinationRule (the tightened settings too).
Routes and clusters are delivered as files (Envoy's path-based RDS and CDS),
rewritten whenever the documents change.

Cluster names are ``<service>|<namespace>|<subset>``: no dots, so Envoy's stat
tag extraction keeps them whole, and the lab's Prometheus recording rules turn
``envoy_cluster_upstream_rq`` into Istio's ``istio_requests_total`` per version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollout.model import parse_duration

Doc = dict[str, Any]
ROUTE_NAME = "mesh"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def cluster_name(service: str, namespace: str, subset: str) -> str:
    return f"{service.split('.')[0]}|{namespace}|{subset}"


def _seconds(duration: str) -> str:
    return f"{parse_duration(duration).total_seconds():g}s"


def _string_match(spec: Doc) -> Doc:
    for kind in ("exact", "prefix"):
        if kind in spec:
            return {kind: spec[kind]}
    if "regex" in spec:
        return {"safe_regex": {"regex": spec["regex"]}}
    return {"prefix": ""}


def _route_match(match: Doc) -> Doc:
    uri = match.get("uri") or {"prefix": "/"}
    out: Doc = {}
    if "exact" in uri:
        out["path"] = uri["exact"]
    elif "regex" in uri:
        out["safe_regex"] = {"regex": uri["regex"]}
    else:
        out["prefix"] = uri.get("prefix", "/")
    headers = match.get("headers") or {}
    if headers:
        out["headers"] = [
            {"name": name, "string_match": _string_match(spec)}
            for name, spec in sorted(headers.items())
        ]
    return out


def _action(route: Doc, namespace: str) -> Doc:
    entries = route.get("route") or []
    clusters = [
        {
            "name": cluster_name(e["destination"]["host"], namespace, e["destination"]["subset"]),
            "weight": int(e.get("weight", 100 if len(entries) == 1 else 0)),
        }
        for e in entries
    ]
    action: Doc = {"weighted_clusters": {"clusters": clusters}}
    if route.get("timeout"):
        action["timeout"] = _seconds(route["timeout"])
    retries = route.get("retries") or {}
    if retries.get("attempts"):
        policy: Doc = {
            "num_retries": int(retries["attempts"]),
            "retry_on": retries.get("retryOn", "5xx,reset,connect-failure"),
        }
        if retries.get("perTryTimeout"):
            policy["per_try_timeout"] = _seconds(retries["perTryTimeout"])
        action["retry_policy"] = policy
    return action


def _routes(vs: Doc, namespace: str) -> list[Doc]:
    """Each VirtualService HTTP route, in order, each match its own Envoy route (Istio's
    matches are ORed)."""
    routes = []
    for route in (vs.get("spec") or {}).get("http") or []:
        action = _action(route, namespace)
        for match in route.get("match") or [{}]:
            routes.append(
                {"name": route.get("name", "route"), "match": _route_match(match), "route": action}
            )
    return routes


def route_configuration(vs: Doc, namespace: str, others: Sequence[Doc] = ()) -> Doc:
    """One RouteConfiguration: ``vs`` (the mesh's) for any Host, and each of ``others``
    (an ingress VirtualService, say) for the Host names in its ``hosts``, as Istio's
    gateway would serve them."""
    hosts = [{"name": "mesh", "domains": ["*"], "routes": _routes(vs, namespace)}]
    for other in others:
        names = [str(h) for h in (other.get("spec") or {}).get("hosts") or []]
        hosts.append(
            {
                "name": str(other["metadata"]["name"]),
                "domains": [d for h in names for d in (h, f"{h}:*")],
                "routes": _routes(other, namespace),
            }
        )
    return {"@type": ROUTE_TYPE, "name": ROUTE_NAME, "virtual_hosts": hosts}


def _outlier(policy: Doc) -> Doc | None:
    od = policy.get("outlierDetection")
    if not od:
        return None
    out: Doc = {
        "consecutive_5xx": int(od.get("consecutive5xxErrors", 5)),
        "interval": _seconds(od.get("interval", "10s")),
        "base_ejection_time": _seconds(od.get("baseEjectionTime", "30s")),
        "max_ejection_percent": int(od.get("maxEjectionPercent", 10)),
        "enforcing_consecutive_5xx": 100,
    }
    if "minHealthPercent" in od:
        out["enforcing_success_rate"] = 0
    return out


def clusters(dr: Doc, namespace: str, endpoints: dict[str, list[int]]) -> list[Doc]:
    """One cluster per subset with its backends' loopback ports; the subset's traffic
    policy (outlier detection, connection pool) over the rule's own."""
    spec = dr.get("spec") or {}
    top = spec.get("trafficPolicy") or {}
    out = []
    for subset in spec.get("subsets") or []:
        policy = {**top, **(subset.get("trafficPolicy") or {})}
        ports = endpoints.get(subset["name"], [])
        cluster: Doc = {
            "@type": CLUSTER_TYPE,
            "name": cluster_name(spec["host"], namespace, subset["name"]),
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": cluster_name(spec["host"], namespace, subset["name"]),
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {
                                        "socket_address": {
                                            "address": "127.0.0.1",
                                            "port_value": port,
                                        }
                                    }
                                }
                            }
                            for port in ports
                        ]
                    }
                ],
            },
        }
        outlier = _outlier(policy)
        if outlier:
            cluster["outlier_detection"] = outlier
        pool = (policy.get("connectionPool") or {}).get("http") or {}
        if pool.get("http1MaxPendingRequests"):
            cluster["circuit_breakers"] = {
                "thresholds": [{"max_pending_requests": int(pool["http1MaxPendingRequests"])}]
            }
        out.append(cluster)
    return out


def discovery_response(resources: list[Doc], version: str) -> Doc:
    return {"version_info": version, "resources": resources}


def bootstrap(listen_port: int, admin_port: int, xds_dir: str) -> Doc:
    """Envoy's bootstrap: admin, a listener whose routes come from ``rds.json``, and
    clusters from ``cds.json``, both in ``xds_dir`` (watched for atomic renames)."""

    def source(name: str) -> Doc:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": f"{xds_dir}/{name}",
                "watched_directory": {"path": xds_dir},
            },
        }

    return {
        "node": {"id": "meshrollout-lab", "cluster": "meshrollout-lab"},
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
        },
        "dynamic_resources": {"cds_config": source("cds.json")},
        "static_resources": {
            "listeners": [
                {
                    "name": "mesh",
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": listen_port}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": HCM,
                                        "stat_prefix": "mesh",
                                        "rds": {
                                            "route_config_name": ROUTE_NAME,
                                            "config_source": source("rds.json"),
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {"@type": ROUTER},
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ]
        },
    }


RECORDING_RULES = {
    "groups": [
        {
            "name": "istio-standard-metrics",
            "interval": "1s",
            "rules": [
                {
                    "record": "istio_requests_total",
                    "expr": (
                        "label_replace(label_replace(label_replace(label_replace(label_replace("
                        'envoy_cluster_upstream_rq{envoy_cluster_name=~"[^|]+[|][^|]+[|][^|]+"}, '
                        '"destination_service_name", "$1", "envoy_cluster_name", "([^|]+)[|].*"), '
                        '"destination_service_namespace", "$1", "envoy_cluster_name", '
                        '"[^|]+[|]([^|]+)[|].*"), '
                        '"destination_version", "$1", "envoy_cluster_name", ".*[|]([^|]+)"), '
                        '"response_code", "$1", "envoy_response_code", "(.*)"), '
                        '"reporter", "destination", "", "")'
                    ),
                },
                {
                    "record": "istio_request_duration_milliseconds_bucket",
                    "expr": (
                        "label_replace(label_replace(label_replace(label_replace("
                        "envoy_cluster_upstream_rq_time_bucket{"
                        'envoy_cluster_name=~"[^|]+[|][^|]+[|][^|]+"}'
                        ', "destination_service_name", "$1", "envoy_cluster_name", '
                        '"([^|]+)[|].*"), '
                        '"destination_service_namespace", "$1", "envoy_cluster_name", '
                        '"[^|]+[|]([^|]+)[|].*"), '
                        '"destination_version", "$1", "envoy_cluster_name", ".*[|]([^|]+)"), '
                        '"reporter", "destination", "", "")'
                    ),
                },
            ],
        }
    ]
}
