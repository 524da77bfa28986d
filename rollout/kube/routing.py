"""Read and patch a service's VirtualService and DestinationRule, never overwriting
a concurrent edit.

Each write is a merge patch of exactly what changed, carrying the
``resourceVersion`` that was read: if a person or a GitOps tool changed the
document in between, the API server answers 409, and :meth:`RoutingClient.update`
reads both documents again and re-applies the caller's transform (a pure
function from ``rollout.mesh``) before trying again. The adapter never decides
what the documents should say.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Conflict, Invalid, KubeError, NotFound
from rollout.kube.resources import (
    DEFAULT_ISTIO_VERSION,
    destination_rules,
    virtual_services,
)
from rollout.mesh.istio import NETWORKING, MeshDocs, Routing, hosts_of, same_host, sends_to

Doc = dict[str, Any]


def merge_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (lists are replaced whole).

    >>> merge_diff({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 5}, "e": [1]})
    {'b': {'c': 5, 'd': None}, 'e': [1]}
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value) if isinstance(value, dict) else value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def _name(doc: Doc) -> str:
    return str(doc["metadata"]["name"])


UpdateAll = Callable[
    [str, Sequence[str], str, Callable[[Routing], Routing], Routing | None], Routing
]


def update_one(
    update_all: UpdateAll,
    namespace: str,
    vs_name: str,
    dr_name: str,
    transform: Callable[[MeshDocs], MeshDocs],
    current: MeshDocs | None = None,
) -> MeshDocs:
    """``update_all`` (of the client or of the cache) for one VirtualService and its rule."""

    def one(docs: Routing) -> Routing:
        out = transform(MeshDocs(docs.virtual_services[0], docs.destination_rule))
        return Routing((out.virtual_service,), out.destination_rule)

    start = (
        None if current is None else Routing((current.virtual_service,), current.destination_rule)
    )
    done = update_all(namespace, [vs_name], dr_name, one, start)
    return MeshDocs(done.virtual_services[0], done.destination_rule)


class RoutingClient:
    """The Istio documents of one service, read and patched with preconditions."""

    def __init__(
        self,
        kube: KubeClient,
        istio_version: str | None = None,
        conflict_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = kube
        self._version = istio_version
        self.conflict_attempts = conflict_attempts
        self._sleep = sleep
        self._rand = random.Random()

    @property
    def version(self) -> str:
        """The networking.istio.io version the server prefers (v1 on Istio 1.22+)."""
        if self._version is None:
            try:
                group = self.kube.request("GET", f"/apis/{NETWORKING}")
                self._version = str(group["preferredVersion"]["version"])
            except (KubeError, KeyError, TypeError):
                self._version = DEFAULT_ISTIO_VERSION
        return self._version

    def _find(
        self,
        kind: str,
        namespace: str,
        name: str | None,
        hosts_of: Callable[[Doc], list[str]],
        host: str,
    ) -> Doc:
        res = (
            virtual_services(self.version)
            if kind == "VirtualService"
            else destination_rules(self.version)
        )
        if name:
            return self.kube.get(res, namespace, name)
        items, _ = self.kube.list(res, namespace)
        found = [d for d in items if any(same_host(h, host, namespace) for h in hosts_of(d))]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFound(f"no {kind} in namespace {namespace} routes {host}")
        names = ", ".join(_name(d) for d in found)
        raise Invalid(f"several {kind}s in namespace {namespace} route {host}: {names}; name one")

    def find_virtual_service(self, namespace: str, host: str, name: str | None = None) -> Doc:
        return self._find(
            "VirtualService",
            namespace,
            name,
            hosts_of,
            host,
        )

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]:
        """The VirtualServices named, or else every one in ``namespace`` whose routes send
        traffic to ``host`` (mesh and ingress alike), sorted by name."""
        res = virtual_services(self.version)
        if names:
            return [self.kube.get(res, namespace, name) for name in names]
        items, _ = self.kube.list(res, namespace)
        found = sorted((d for d in items if sends_to(d, host, namespace)), key=_name)
        if not found:
            raise NotFound(f"no VirtualService in namespace {namespace} routes to {host}")
        return found

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc:
        return self._find(
            "DestinationRule",
            namespace,
            name,
            hosts_of,
            host,
        )

    def read(self, namespace: str, vs_name: str, dr_name: str) -> MeshDocs:
        return MeshDocs(
            self.kube.get(virtual_services(self.version), namespace, vs_name),
            self.kube.get(destination_rules(self.version), namespace, dr_name),
        )

    def write(self, old: Doc, new: Doc) -> Doc:
        """Patch ``old`` into ``new`` if they differ, on condition nobody changed it since."""
        patch = merge_diff(old, new)
        patch.pop("status", None)
        if not patch:
            return old
        meta = dict(patch.get("metadata") or {})
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        patch["metadata"] = meta
        kind = old.get("kind")
        res = (
            virtual_services(self.version)
            if kind == "VirtualService"
            else destination_rules(self.version)
        )
        return self.kube.patch(res, old["metadata"].get("namespace"), _name(old), patch)

    def read_all(self, namespace: str, vs_names: Sequence[str], dr_name: str) -> Routing:
        return Routing(
            tuple(self.kube.get(virtual_services(self.version), namespace, n) for n in vs_names),
            self.kube.get(destination_rules(self.version), namespace, dr_name),
        )

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[Routing], Routing],
        current: Routing | None = None,
    ) -> Routing:
        """Apply ``transform`` to every VirtualService and the rule, write what changed, in
        order; on 409 read them all again and start over (those already written then
        need no write: the transform is idempotent).

        Kubernetes has no transaction across documents: a crash between two writes leaves
        some VirtualServices moved and others not, which the next reconcile sees (not in
        sync) and finishes; the engine starts a step's clock only once all are.
        """
        for attempt in range(self.conflict_attempts):
            docs = (
                current
                if current is not None and attempt == 0
                else self.read_all(namespace, vs_names, dr_name)
            )
            wanted = transform(docs)
            try:
                written = tuple(
                    self.write(old, new)
                    for old, new in zip(docs.virtual_services, wanted.virtual_services, strict=True)
                )
                dr = self.write(docs.destination_rule, wanted.destination_rule)
                return Routing(written, dr)
            except Conflict:
                if attempt + 1 == self.conflict_attempts:
                    raise
                self._sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + self._rand.random() / 2))
        raise AssertionError("unreachable")

    def update(
        self,
        namespace: str,
        vs_name: str,
        dr_name: str,
        transform: Callable[[MeshDocs], MeshDocs],
        current: MeshDocs | None = None,
    ) -> MeshDocs:
        """:meth:`update_all` for one VirtualService and its rule."""
        return update_one(self.update_all, namespace, vs_name, dr_name, transform, current)
