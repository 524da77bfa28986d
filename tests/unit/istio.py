"""Builders of Istio documents for the unit tests, shaped as the API returns them.

The seed example throughout: ``inventory-route`` routes ``inventory-service``;
``/healthz`` is pinned to v1; the main route has retries and a timeout.
"""

from __future__ import annotations

import copy
from typing import Any

Doc = dict[str, Any]
HOST = "inventory-service"


def dest(subset: str, weight: int | None = None, host: str = HOST, port: int = 8080) -> Doc:
    entry: Doc = {"destination": {"host": host, "subset": subset, "port": {"number": port}}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def virtual_service(*http: Doc, version: str = "v1beta1", hosts: list[str] | None = None) -> Doc:
    return {
        "apiVersion": f"networking.istio.io/{version}",
        "kind": "VirtualService",
        "metadata": {"name": "inventory-route", "namespace": "shop", "resourceVersion": "7"},
        "spec": {"hosts": hosts or [HOST], "gateways": ["mesh"], "http": list(http)},
    }


def healthz() -> Doc:
    return {"name": "healthz", "match": [{"uri": {"exact": "/healthz"}}], "route": [dest("v1")]}


def beta_testers() -> Doc:
    """A route pinned to v1 for requests with a header: never managed unless named."""
    return {
        "name": "beta",
        "match": [{"headers": {"x-beta": {"exact": "1"}}}],
        "route": [dest("v1")],
    }


def primary(*route: Doc, name: str | None = "primary") -> Doc:
    doc: Doc = {
        "route": list(route) or [dest("v1")],
        "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
        "timeout": "5s",
        "headers": {"request": {"set": {"x-route": "primary"}}},
        "fault": {"delay": {"percentage": {"value": 0.1}, "fixedDelay": "7s"}},
        "mirror": {"host": "inventory-shadow"},
        "mirrorPercentage": {"value": 5.0},
    }
    if name:
        doc["name"] = name
    return doc


def seed_vs(version: str = "v1beta1") -> Doc:
    return virtual_service(healthz(), primary(), version=version)


def busy_vs() -> Doc:
    """Several routes: healthz, a header-matched beta route, the main route, and a TCP-ish tail."""
    return virtual_service(
        healthz(),
        beta_testers(),
        primary(),
        {
            "name": "legacy",
            "match": [{"uri": {"prefix": "/v0"}}],
            "route": [dest("v0", host="legacy-inventory")],
        },
    )


def destination_rule(*subsets: str, host: str = HOST, version: str = "v1beta1") -> Doc:
    return {
        "apiVersion": f"networking.istio.io/{version}",
        "kind": "DestinationRule",
        "metadata": {"name": "inventory-dr", "namespace": "shop"},
        "spec": {
            "host": host,
            "trafficPolicy": {"connectionPool": {"http": {"http1MaxPendingRequests": 100}}},
            "subsets": [{"name": s, "labels": {"version": s}} for s in (subsets or ("v1", "v2"))],
        },
    }


def with_outlier(dr: Doc, subset: str, settings: Doc) -> Doc:
    out = copy.deepcopy(dr)
    for s in out["spec"]["subsets"]:
        if s["name"] == subset:
            s["trafficPolicy"] = {"outlierDetection": settings}
    return out


def in_namespace(doc: Doc, namespace: str) -> Doc:
    """A copy of ``doc`` placed in ``namespace`` (for creating it through the API)."""
    out = copy.deepcopy(doc)
    out["metadata"] = {"name": out["metadata"]["name"], "namespace": namespace}
    return out


def weights(vs: Doc, route_name: str = "primary") -> list[tuple[str, int | None]]:
    """(subset, weight) of each destination of the named route."""
    route = next(r for r in vs["spec"]["http"] if r.get("name") == route_name)
    return [(e["destination"]["subset"], e.get("weight")) for e in route["route"]]
