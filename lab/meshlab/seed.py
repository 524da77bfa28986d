"""The seed's mesh, put into an API emulator: the ``inventory`` service of the story.

``inventory-route`` routes ``inventory-service``; ``/healthz`` is pinned to v1; the
main route has retries and a timeout; ``inventory-dr`` has subsets v1, v2 and v3;
a Deployment per version (ready) and a STRICT PeerAuthentication. Used by the lab,
the demo and the end-to-end tests. :func:`seed_ingress` adds ``inventory-public``, the
same service's VirtualService on an ingress gateway for ``shop.example.com``.
"""

from __future__ import annotations

from typing import Any

from meshlab.kubeapi import KubeAPI
from meshlab.kubeapi.registry import Registry

NS = "shop"
SERVICE = "inventory-service"
VERSIONS = ("v1", "v2", "v3")


def seed_documents(api: KubeAPI, namespace: str = NS) -> None:
    """The seed's mesh in ``namespace`` (its Namespace created if missing): inventory-route
    with /healthz pinned to v1, three subsets, a ready Deployment per version, STRICT mTLS."""
    reg: Registry = api.registry
    # A real cluster has the Namespace (the ambient preflight reads its labels).
    namespaces = reg.find("", "v1", "namespaces")
    assert namespaces is not None
    if all(n["metadata"]["name"] != namespace for n in api.store.list(namespaces, None, bool)[0]):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        api.store.create(namespaces, "", body)

    def create(group: str, version: str, plural: str, body: dict[str, Any]) -> None:
        t = reg.find(group, version, plural)
        assert t is not None
        api.store.create(t, namespace, body)

    dest = {"host": SERVICE, "port": {"number": 8080}}
    create(
        "networking.istio.io",
        "v1",
        "virtualservices",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "inventory-route"},
            "spec": {
                "hosts": [SERVICE],
                "http": [
                    {
                        "name": "healthz",
                        "match": [{"uri": {"exact": "/healthz"}}],
                        "route": [{"destination": {**dest, "subset": "v1"}}],
                    },
                    {
                        "name": "primary",
                        "route": [{"destination": {**dest, "subset": "v1"}}],
                        "retries": {"attempts": 2},
                        "timeout": "5s",
                    },
                ],
            },
        },
    )
    create(
        "networking.istio.io",
        "v1",
        "destinationrules",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "inventory-dr"},
            "spec": {
                "host": SERVICE,
                "subsets": [
                    {"name": v, "labels": {"app": "inventory", "version": v}}
                    for v in ("v1", "v2", "v3")
                ],
            },
        },
    )
    create(
        "security.istio.io",
        "v1",
        "peerauthentications",
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default"},
            "spec": {"mtls": {"mode": "STRICT"}},
        },
    )
    for v in ("v1", "v2", "v3"):
        labels = {"app": "inventory", "version": v}
        create(
            "apps",
            "v1",
            "deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"inventory-{v}"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}},
                },
            },
        )
        t = reg.find("apps", "v1", "deployments")
        assert t is not None
        api.store.update(
            t,
            namespace,
            f"inventory-{v}",
            lambda d: {
                **d,
                "status": {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "readyReplicas": 1,
                },
            },
            subresource="status",
        )


PUBLIC_HOST = "shop.example.com"


def ingress_virtual_service() -> dict[str, Any]:
    """``inventory-public``: the ingress gateway's VirtualService for the public host,
    routing to the same subsets (``/healthz`` pinned to v1, the rest to v1 with a
    response header and its own timeout)."""
    dest = {"host": SERVICE, "port": {"number": 8080}}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "inventory-public"},
        "spec": {
            "hosts": [PUBLIC_HOST],
            "gateways": ["istio-system/public-gateway"],
            "http": [
                {
                    "name": "public-healthz",
                    "match": [{"uri": {"exact": "/healthz"}}],
                    "route": [{"destination": {**dest, "subset": "v1"}}],
                },
                {
                    "name": "public",
                    "route": [{"destination": {**dest, "subset": "v1"}}],
                    "headers": {"response": {"add": {"x-served-by": "public-gateway"}}},
                    "timeout": "3s",
                },
            ],
        },
    }


def seed_ingress(api: KubeAPI, namespace: str = NS) -> None:
    """Add ``inventory-public`` to the seed: a second route to the service, from outside."""
    t = api.registry.find("networking.istio.io", "v1", "virtualservices")
    assert t is not None
    api.store.create(t, namespace, ingress_virtual_service())


def httproute_documents() -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
    """The same story on the Gateway API: a Service per version (``inventory-v1``...) and
    ``inventory-route``, an HTTPRoute whose parent is the ``inventory-service`` Service
    (mesh, GAMMA), ``/healthz`` pinned to v1 and the main rule to ``inventory-v1``."""
    services = [
        (
            ("", "v1", "services"),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": selector, "ports": [{"port": 8080, "name": "http"}]},
            },
        )
        for name, selector in [
            (SERVICE, {"app": "inventory"}),
            *((f"inventory-{v}", {"app": "inventory", "version": v}) for v in VERSIONS),
        ]
    ]
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "inventory-route"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": SERVICE, "port": 8080}],
            "rules": [
                {
                    "name": "healthz",
                    "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                    "backendRefs": [{"name": "inventory-v1", "port": 8080}],
                },
                {
                    "name": "primary",
                    "backendRefs": [{"name": "inventory-v1", "port": 8080}],
                    "timeouts": {"request": "5s"},
                },
            ],
        },
    }
    return [*services, (("gateway.networking.k8s.io", "v1", "httproutes"), route)]


def seed_httproute(api: KubeAPI, namespace: str = NS, only: bool = False) -> None:
    """Add the Gateway API's version of the story (:func:`httproute_documents`); ``only``:
    instead of the VirtualService and DestinationRule (the same story told once)."""
    for (group, version, plural), body in httproute_documents():
        t = api.registry.find(group, version, plural)
        assert t is not None
        api.store.create(t, namespace, body)
    if only:
        for plural, name in (
            ("virtualservices", "inventory-route"),
            ("destinationrules", "inventory-dr"),
        ):
            t = api.registry.find("networking.istio.io", "v1", plural)
            assert t is not None
            api.store.delete(t, namespace, name)
