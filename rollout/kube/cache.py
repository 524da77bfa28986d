"""The watch cache (the informer pattern): reconciles read from memory, not the API.

An :class:`ObjectCache` holds the objects of one resource type as the controller's
watches last showed them (list, then watch; a relist replaces the whole picture).
:class:`CachedRollouts` and :class:`CachedRouting` serve the reconcile's reads from
those caches and send only writes to the API server, so a reconcile of a steady
rollout costs no request at all, however many rollouts there are.

GETs remain only to recover: before the first list has arrived, for an object the
cache does not hold yet (just created), and after a write of that object was refused
with 409 (the cache was behind): the next read of that object asks the server once.
A write's answer is put in the cache when the cache still held the version the write
was made against, so the reconcile that follows does not read its own write stale;
a watch event is always newer than what it replaces, so it is taken as it comes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rollout.kube.errors import Conflict, Invalid, NotFound
from rollout.kube.routing import update_one
from rollout.mesh.istio import MeshDocs, Routing, hosts_of, same_host, sends_to

Doc = dict[str, Any]
Key = tuple[str, str]


class RolloutServer(Protocol):
    """What the cache asks of the server for Rollouts (``RolloutClient``)."""

    def get(self, namespace: str, name: str) -> Doc: ...

    def write_status(self, rollout: Doc, status: Doc) -> Doc: ...


class RoutingServer(Protocol):
    """What the cache asks of the server for the mesh documents (``RoutingClient``)."""

    def find_virtual_service(self, namespace: str, host: str, name: str | None = None) -> Doc: ...

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]: ...

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc: ...

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[Routing], Routing],
        current: Routing | None = None,
    ) -> Routing: ...


def _key(obj: Doc) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv(obj: Doc | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


class ObjectCache:
    """The objects of one resource type, fed by a watch; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, Doc] = {}
        self._stale: set[Key] = set()
        self._listed: set[str | None] = set()  # namespaces listed (None: all of them)
        self._own: dict[Key, str] = {}  # the resourceVersion our last write of each made

    # -- fed by the watch ------------------------------------------------------------
    def listed(self, items: list[Doc], namespace: str | None = None) -> None:
        """A (re)list of ``namespace`` (None: all): exactly these objects exist there now."""
        with self._lock:
            others = {k: o for k, o in self._objects.items() if k[0] != namespace}
            kept = others if namespace is not None else {}
            self._objects = kept | {_key(obj): obj for obj in items}
            self._listed.add(namespace)

    def _synced(self, namespace: str) -> bool:
        return None in self._listed or namespace in self._listed

    def event(self, kind: str, obj: Doc) -> bool:
        """One watch event (``SYNC`` after a list is the same object again); True when it
        is only the echo of our own last write of that object (nothing new to act on)."""
        key = _key(obj)
        with self._lock:
            if kind == "DELETED":
                self._objects.pop(key, None)
                self._own.pop(key, None)
                return False
            self._objects[key] = obj
            self._stale.discard(key)
            return kind == "MODIFIED" and self._own.get(key) == _rv(obj) != ""

    # -- read by the adapters --------------------------------------------------------
    def get(self, namespace: str, name: str) -> Doc | None:
        """The cached object, or None when the server must be asked (unknown or stale)."""
        key = (namespace, name)
        with self._lock:
            if not self._synced(namespace) or key in self._stale:
                return None
            return self._objects.get(key)

    def items(self, namespace: str) -> list[Doc] | None:
        """Every cached object of ``namespace``, or None before the first list."""
        with self._lock:
            if not self._synced(namespace):
                return None
            return [o for (ns, _), o in sorted(self._objects.items()) if ns == namespace]

    def fresh(self, obj: Doc) -> None:
        """An object just read from the server: newer than what the cache has."""
        with self._lock:
            self._objects[_key(obj)] = obj
            self._stale.discard(_key(obj))

    def written(self, before: Doc, after: Doc) -> None:
        """Our write turned ``before`` into ``after``: cache it, unless the watch has
        already moved past ``before`` (then what it brought is at least as new)."""
        key = _key(after)
        with self._lock:
            self._own[key] = _rv(after)
            cached = self._objects.get(key)
            if cached is None or _rv(cached) == _rv(before):
                self._objects[key] = after

    def stale(self, namespace: str, name: str) -> None:
        """A write was refused with 409: read this object from the server next time."""
        with self._lock:
            self._stale.add((namespace, name))

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)


def _routes(doc: Doc, host: str, namespace: str) -> bool:
    return any(same_host(h, host, namespace) for h in hosts_of(doc))


class CachedRollouts:
    """The Rollouts port on the watch cache: reads from memory, writes to the server."""

    def __init__(self, client: RolloutServer, cache: ObjectCache) -> None:
        self.client, self.cache = client, cache
        self.reads = 0  # requests made to recover (for tests and the benchmark)

    def get(self, namespace: str, name: str) -> Doc:
        cached = self.cache.get(namespace, name)
        if cached is not None:
            return cached
        self.reads += 1
        obj = self.client.get(namespace, name)
        self.cache.fresh(obj)
        return obj

    def write_status(self, rollout: Doc, status: Doc) -> Doc:
        try:
            written = self.client.write_status(rollout, status)
        except Conflict:
            self.cache.stale(*_key(rollout))
            raise
        self.cache.written(rollout, written)
        return written


class CachedRouting:
    """The Mesh port on the watch caches of VirtualServices and DestinationRules.

    Finding a document by name or by host reads the cache; an update starts from the
    cached documents and, on a 409, :class:`RoutingClient` reads both from the server.
    """

    def __init__(
        self, client: RoutingServer, virtual_services: ObjectCache, destination_rules: ObjectCache
    ) -> None:
        self.client = client
        self.caches = {"VirtualService": virtual_services, "DestinationRule": destination_rules}

    def _find(self, kind: str, namespace: str, host: str, name: str | None) -> Doc:
        cache = self.caches[kind]
        if name:
            cached = cache.get(namespace, name)
            if cached is not None:
                return cached
        else:
            items = cache.items(namespace)
            if items is not None:
                found = [
                    d for d in items if any(same_host(h, host, namespace) for h in hosts_of(d))
                ]
                if len(found) == 1:
                    return found[0]
                if not found:
                    raise NotFound(f"no {kind} in namespace {namespace} routes {host}")
                names = ", ".join(str(d["metadata"]["name"]) for d in found)
                raise Invalid(
                    f"several {kind}s in namespace {namespace} route {host}: {names}; name one"
                )
        finder = (
            self.client.find_virtual_service
            if kind == "VirtualService"
            else self.client.find_destination_rule
        )
        doc = finder(namespace, host, name)
        cache.fresh(doc)
        return doc

    def find_virtual_service(self, namespace: str, host: str, name: str | None = None) -> Doc:
        return self._find("VirtualService", namespace, host, name)

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc:
        return self._find("DestinationRule", namespace, host, name)

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]:
        """Every VirtualService routing to ``host`` (or those named), from the cache when
        it holds the namespace; the server otherwise."""
        cache = self.caches["VirtualService"]
        if names:
            cached = [cache.get(namespace, name) for name in names]
            if all(doc is not None for doc in cached):
                return [doc for doc in cached if doc is not None]
        else:
            items = cache.items(namespace)
            if items is not None:
                found = sorted(
                    (d for d in items if sends_to(d, host, namespace)),
                    key=lambda d: str(d["metadata"]["name"]),
                )
                if not found:
                    raise NotFound(f"no VirtualService in namespace {namespace} routes to {host}")
                return found
        docs = self.client.find_virtual_services(namespace, host, names)
        for doc in docs:
            cache.fresh(doc)
        return docs

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[Routing], Routing],
        current: Routing | None = None,
    ) -> Routing:
        try:
            docs = self.client.update_all(namespace, vs_names, dr_name, transform, current)
        except Conflict:
            for name in vs_names:
                self.caches["VirtualService"].stale(namespace, name)
            self.caches["DestinationRule"].stale(namespace, dr_name)
            raise
        if current is not None:
            pairs = zip(current.virtual_services, docs.virtual_services, strict=True)
            for before, after in pairs:
                self.caches["VirtualService"].written(before, after)
            self.caches["DestinationRule"].written(current.destination_rule, docs.destination_rule)
        return docs

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


__all__ = ["CachedRollouts", "CachedRouting", "ObjectCache"]
