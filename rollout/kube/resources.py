"""The resource types the controller reads and writes, in one place.

The chart's RBAC rules are checked against this table (issue #8), so an
adapter that starts using a new resource or verb must add it here.
"""

from __future__ import annotations

from rollout.kube.client import Resource
from rollout.mesh.istio import NETWORKING, SECURITY
from rollout.model import GROUP, PLURAL, VERSION

DEFAULT_ISTIO_VERSION = "v1beta1"

ROLLOUTS = Resource(GROUP, VERSION, PLURAL)
DEPLOYMENTS = Resource("apps", "v1", "deployments")
AUTOSCALERS = Resource("autoscaling", "v2", "horizontalpodautoscalers")
SECRETS = Resource("", "v1", "secrets")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
EVENTS = Resource("events.k8s.io", "v1", "events")
GATEWAY = "gateway.networking.k8s.io"
HTTPROUTES = Resource(GATEWAY, "v1", "httproutes")
SERVICES = Resource("", "v1", "services")
NAMESPACES = Resource("", "v1", "namespaces")  # cluster-scoped: the chart grants get by name


def virtual_services(version: str) -> Resource:
    return Resource(NETWORKING, version, "virtualservices")


def destination_rules(version: str) -> Resource:
    return Resource(NETWORKING, version, "destinationrules")


def peer_authentications(version: str) -> Resource:
    return Resource(SECURITY, version, "peerauthentications")


# (api group, resource, verb) for every call the controller makes. The chart's RBAC test
# runs the controller and checks this, and the chart's rules, against what it really called.
CALLS: frozenset[tuple[str, str, str]] = frozenset(
    {
        (GROUP, PLURAL, "get"),
        (GROUP, PLURAL, "list"),
        (GROUP, PLURAL, "watch"),
        (GROUP, f"{PLURAL}/status", "update"),
        (NETWORKING, "virtualservices", "get"),
        (NETWORKING, "virtualservices", "list"),
        (NETWORKING, "virtualservices", "watch"),
        (NETWORKING, "virtualservices", "patch"),
        (NETWORKING, "destinationrules", "get"),
        (NETWORKING, "destinationrules", "list"),
        (NETWORKING, "destinationrules", "watch"),
        (NETWORKING, "destinationrules", "patch"),
        (NETWORKING, "destinationrules", "create"),
        (NETWORKING, "destinationrules", "delete"),
        (GATEWAY, "httproutes", "get"),
        (GATEWAY, "httproutes", "patch"),
        ("", "services", "list"),
        ("", "namespaces", "get"),
        (SECURITY, "peerauthentications", "list"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "patch"),
        ("autoscaling", "horizontalpodautoscalers", "list"),
        ("events.k8s.io", "events", "create"),
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
)
