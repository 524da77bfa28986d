"""The watch cache: reconciles read from memory, and ask the server only to recover."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from rollout.kube import Conflict, Invalid, MeshDocs, NotFound
from rollout.kube.cache import CachedRollouts, CachedRouting, ObjectCache
from rollout.mesh.istio import Routing as MeshRouting
from tests.unit.istio import HOST, destination_rule, seed_vs

Doc = dict[str, Any]


def obj(name: str, rv: str, namespace: str = "shop", **extra: Any) -> Doc:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}, **extra}


class Server:
    """The server side of Rollouts: counts reads, refuses stale writes with 409."""

    def __init__(self, *objects: Doc) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.gets = 0

    def get(self, namespace: str, name: str) -> Doc:
        self.gets += 1
        return copy.deepcopy(self.objects[(namespace, name)])

    def write_status(self, rollout: Doc, status: Doc) -> Doc:
        meta = rollout["metadata"]
        current = self.objects[(meta["namespace"], meta["name"])]
        if current["metadata"]["resourceVersion"] != meta["resourceVersion"]:
            raise Conflict("stale")
        rv = str(int(meta["resourceVersion"]) + 1)
        written = {**rollout, "status": status, "metadata": {**meta, "resourceVersion": rv}}
        self.objects[(meta["namespace"], meta["name"])] = written
        return copy.deepcopy(written)


def test_a_listed_object_is_read_from_memory() -> None:
    """After the first list, a read costs no request; before it, the server is asked."""
    server = Server(obj("a", "1"))
    cache = ObjectCache()
    rollouts = CachedRollouts(server, cache)
    assert rollouts.get("shop", "a")["metadata"]["resourceVersion"] == "1"
    assert server.gets == 1  # not listed yet: recovered with a GET
    cache.listed([obj("a", "1")])
    for _ in range(5):
        rollouts.get("shop", "a")
    assert server.gets == 1
    assert rollouts.reads == 1


def test_watch_events_replace_and_delete_and_a_relist_drops_the_vanished() -> None:
    """MODIFIED replaces, DELETED removes, a relist leaves exactly what it listed."""
    cache = ObjectCache()
    cache.listed([obj("a", "1"), obj("b", "2")])
    cache.event("MODIFIED", obj("a", "3"))
    cache.event("DELETED", obj("b", "4"))
    a = cache.get("shop", "a")
    assert a is not None
    assert a["metadata"]["resourceVersion"] == "3"
    assert cache.get("shop", "b") is None
    cache.event("ADDED", obj("c", "5"))
    cache.listed([obj("c", "6")])
    assert cache.get("shop", "a") is None
    assert len(cache) == 1


def test_a_relist_of_one_namespace_keeps_the_others() -> None:
    """Watches per namespace share a cache: one namespace's relist touches only it."""
    cache = ObjectCache()
    cache.listed([obj("a", "1", "one")], "one")
    assert cache.items("two") is None  # never listed: the server must be asked
    cache.listed([obj("b", "2", "two")], "two")
    cache.listed([], "one")
    assert cache.items("one") == []
    assert len(cache.items("two") or []) == 1


def test_a_conflict_makes_the_next_read_ask_the_server_once() -> None:
    """The cache was behind (409): the next read of that object is a GET, then memory again."""
    server = Server(obj("a", "1"))
    cache = ObjectCache()
    cache.listed([obj("a", "1")])
    rollouts = CachedRollouts(server, cache)
    server.objects[("shop", "a")] = obj("a", "2")  # changed; the watch has not said so yet
    with pytest.raises(Conflict):
        rollouts.write_status(rollouts.get("shop", "a"), {"phase": "Progressing"})
    fresh = rollouts.get("shop", "a")
    assert fresh["metadata"]["resourceVersion"] == "2"
    assert server.gets == 1
    written = rollouts.write_status(fresh, {"phase": "Progressing"})
    assert rollouts.get("shop", "a") == written
    assert server.gets == 1


def test_our_write_is_cached_unless_the_watch_moved_past_it() -> None:
    """A write's answer is cached when it is newer than the cache; a later event wins."""
    cache = ObjectCache()
    cache.listed([obj("a", "1")])
    cache.written(obj("a", "1"), obj("a", "2"))
    assert (cache.get("shop", "a") or {})["metadata"]["resourceVersion"] == "2"
    cache.event("MODIFIED", obj("a", "4"))
    cache.written(obj("a", "2"), obj("a", "3"))  # answered after the watch brought 4
    assert (cache.get("shop", "a") or {})["metadata"]["resourceVersion"] == "4"


class Routing:
    """The server side of the mesh documents: counts finds and updates."""

    def __init__(self) -> None:
        self.finds = 0
        self.updates: list[MeshDocs | None] = []
        self.conflict = False

    def find_virtual_service(self, namespace: str, host: str, name: str | None = None) -> Doc:
        self.finds += 1
        return seed_vs()

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc:
        self.finds += 1
        return destination_rule()

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]:
        self.finds += 1
        return [seed_vs()]

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[MeshRouting], MeshRouting],
        current: MeshRouting | None = None,
    ) -> MeshRouting:
        if self.conflict:
            raise Conflict("stale")
        assert current is not None
        docs = transform(current)
        bump = {"resourceVersion": "99"}
        return MeshRouting(
            tuple({**d, "metadata": {**d["metadata"], **bump}} for d in docs.virtual_services),
            docs.destination_rule,
        )

    def update(
        self,
        namespace: str,
        vs_name: str,
        dr_name: str,
        transform: Callable[[MeshDocs], MeshDocs],
        current: MeshDocs | None = None,
    ) -> MeshDocs:
        self.updates.append(current)
        if self.conflict:
            raise Conflict("stale")
        assert current is not None
        docs = transform(current)
        bump = {"resourceVersion": "99"}
        return MeshDocs(
            {**docs.virtual_service, "metadata": {**docs.virtual_service["metadata"], **bump}},
            docs.destination_rule,
        )


def test_mesh_documents_are_found_by_host_or_name_in_memory() -> None:
    """Found by host among the namespace's cached documents; none or several say so."""
    server = Routing()
    vs_cache, dr_cache = ObjectCache(), ObjectCache()
    mesh = CachedRouting(server, vs_cache, dr_cache)
    vs_cache.listed([seed_vs()])
    dr = destination_rule()
    dr["metadata"]["resourceVersion"] = "3"
    dr_cache.listed([dr])
    assert mesh.find_virtual_service("shop", HOST)["metadata"]["name"] == "inventory-route"
    assert mesh.find_destination_rule("shop", HOST, "inventory-dr") == dr
    assert server.finds == 0
    with pytest.raises(NotFound):
        mesh.find_virtual_service("shop", "other-service")
    twin = seed_vs()
    twin["metadata"]["name"] = "twin"
    vs_cache.event("ADDED", twin)
    with pytest.raises(Invalid, match="several VirtualServices"):
        mesh.find_virtual_service("shop", HOST)


def test_a_mesh_update_is_cached_and_a_conflict_sends_the_next_read_to_the_server() -> None:
    """The update's answer is what the next reconcile reads; after a 409 the server is asked."""
    server = Routing()
    vs_cache, dr_cache = ObjectCache(), ObjectCache()
    mesh = CachedRouting(server, vs_cache, dr_cache)
    vs_cache.listed([seed_vs()])
    dr_cache.listed([destination_rule()])
    current = MeshDocs(seed_vs(), destination_rule())
    mesh.update("shop", "inventory-route", "inventory-dr", lambda d: d, current)
    read = mesh.find_virtual_service("shop", HOST, "inventory-route")
    assert read["metadata"]["resourceVersion"] == "99"
    assert server.finds == 0
    server.conflict = True
    with pytest.raises(Conflict):
        mesh.update("shop", "inventory-route", "inventory-dr", lambda d: d, current)
    mesh.find_virtual_service("shop", HOST, "inventory-route")
    assert server.finds == 1


def test_the_echo_of_our_own_write_is_told_apart() -> None:
    """The watch bringing back exactly what we wrote is an echo; anyone else's change of
    it after that, or a relist, is news."""
    server = Server(obj("a", "1"))
    cache = ObjectCache()
    cache.listed([obj("a", "1")])
    rollouts = CachedRollouts(server, cache)
    written = rollouts.write_status(rollouts.get("shop", "a"), {"phase": "Progressing"})
    assert cache.event("MODIFIED", written)
    assert not cache.event("SYNC", written)
    assert not cache.event("MODIFIED", obj("a", "3"))  # a person's edit


def test_every_route_to_a_service_is_found_in_memory_and_written_through() -> None:
    """All VirtualServices sending traffic to the host come from the cache (sorted by name);
    an update of all of them is what the next read sees; a 409 sends it to the server."""
    server = Routing()
    vs_cache, dr_cache = ObjectCache(), ObjectCache()
    mesh = CachedRouting(server, vs_cache, dr_cache)
    twin = seed_vs()
    twin["metadata"]["name"] = "a-twin"
    vs_cache.listed([seed_vs(), twin])
    dr_cache.listed([destination_rule()])
    found = mesh.find_virtual_services("shop", HOST)
    assert [d["metadata"]["name"] for d in found] == ["a-twin", "inventory-route"]
    assert server.finds == 0
    current = MeshRouting(tuple(found), destination_rule())
    names = ["a-twin", "inventory-route"]
    mesh.update_all("shop", names, "inventory-dr", lambda d: d, current)
    again = mesh.find_virtual_services("shop", HOST, names)
    assert {d["metadata"]["resourceVersion"] for d in again} == {"99"}
    assert server.finds == 0
    server.conflict = True
    with pytest.raises(Conflict):
        mesh.update_all(
            "shop",
            names,
            "inventory-dr",
            lambda d: d,
            MeshRouting(tuple(again), destination_rule()),
        )
    mesh.find_virtual_services("shop", HOST, names)
    assert server.finds == 1
