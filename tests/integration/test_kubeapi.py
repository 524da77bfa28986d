"""Conformance of the Kubernetes API emulator, written against the official client.

Each semantic the controller relies on is checked the way the controller meets
it; with ROLLOUT_TEST_KUBECONFIG the same tests check a real API server, which
is how we know the emulator is faithful.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.integration.conftest import Cluster
from tests.unit.istio import destination_rule, seed_vs

ISTIO = "networking.istio.io"


def custom(cluster: Cluster) -> Any:
    """The official CustomObjectsApi (its answers are plain dicts, typed as object)."""
    return k8s.CustomObjectsApi(cluster.official())


def make_vs(cluster: Cluster, version: str = "v1beta1", **labels: str) -> dict[str, Any]:
    body = seed_vs(version)
    body["metadata"] = {"name": "inventory-route", "labels": labels}
    return custom(cluster).create_namespaced_custom_object(  # type: ignore[no-any-return]
        ISTIO, version, cluster.namespace, "virtualservices", body
    )


def rollout_body(name: str = "inventory", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            **spec,
        },
    }


def api_error(call: Any) -> k8s.ApiException:
    with pytest.raises(k8s.ApiException) as caught:
        call()
    return caught.value


def test_discovery_lists_our_groups(cluster: Cluster) -> None:
    """/apis names our group and Istio's, with every version served."""
    groups = k8s.ApisApi(cluster.official()).get_api_versions()
    versions = {g.name: [v.version for v in g.versions] for g in groups.groups}
    assert versions["meshrollout.dev"] == ["v1alpha1"]
    assert {"v1", "v1beta1"} <= set(versions[ISTIO])
    assert "coordination.k8s.io" in versions


def test_one_object_seen_through_two_versions(cluster: Cluster) -> None:
    """An object created as v1beta1 reads back as v1 with the same resourceVersion."""
    created = make_vs(cluster, "v1beta1")
    read = custom(cluster).get_namespaced_custom_object(
        ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route"
    )
    assert read["apiVersion"] == f"{ISTIO}/v1"
    assert read["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert read["spec"] == created["spec"]


def test_resource_versions_increase_and_stale_writes_conflict(cluster: Cluster) -> None:
    """Every change gets a higher resourceVersion; a write carrying an old one gets 409."""
    api = custom(cluster)
    first = make_vs(cluster)
    old_rv = first["metadata"]["resourceVersion"]
    patch = {"metadata": {"resourceVersion": old_rv}, "spec": {"hosts": ["a"]}}
    second = api.patch_namespaced_custom_object(
        ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", patch
    )
    assert int(second["metadata"]["resourceVersion"]) > int(old_rv)
    error = api_error(
        lambda: api.patch_namespaced_custom_object(
            ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", patch
        )
    )
    assert error.status == 409
    assert json.loads(error.body or "")["reason"] == "Conflict"


def test_put_needs_a_current_resource_version(cluster: Cluster) -> None:
    """Replacing a custom object needs its resourceVersion; a stale one is a 409."""
    api = custom(cluster)
    obj = make_vs(cluster)
    without = {k: v for k, v in obj.items()}
    without["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    assert (
        api_error(
            lambda: api.replace_namespaced_custom_object(
                ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", without
            )
        ).status
        == 422
    )
    changed = {**obj, "spec": {**obj["spec"], "hosts": ["changed"]}}
    api.replace_namespaced_custom_object(
        ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", changed
    )
    assert (
        api_error(
            lambda: api.replace_namespaced_custom_object(
                ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", obj
            )
        ).status
        == 409
    )


def test_a_write_that_changes_nothing_bumps_nothing(cluster: Cluster) -> None:
    """A no-op patch keeps the resourceVersion (and so wakes no watcher)."""
    obj = make_vs(cluster)
    same = custom(cluster).patch_namespaced_custom_object(
        ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", {"spec": obj["spec"]}
    )
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_generation_counts_spec_changes_only(cluster: Cluster) -> None:
    """metadata.generation moves on spec changes, not on labels or status."""
    api = custom(cluster)
    ns = cluster.namespace
    made = api.create_namespaced_custom_object(
        "meshrollout.dev", "v1alpha1", ns, "rollouts", rollout_body()
    )
    assert made["metadata"]["generation"] == 1
    args = ("meshrollout.dev", "v1alpha1", ns, "rollouts", "inventory")
    labelled = api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    status = api.patch_namespaced_custom_object_status(*args, {"status": {"phase": "Pending"}})
    assert status["metadata"]["generation"] == 1
    spec = api.patch_namespaced_custom_object(*args, {"spec": {"paused": True}})
    assert spec["metadata"]["generation"] == 2


def test_merge_patch_replaces_lists_and_deletes_nulls(cluster: Cluster) -> None:
    """RFC 7386: a list in the patch replaces the list; null removes the key."""
    make_vs(cluster)
    patch = {"spec": {"gateways": None, "hosts": ["only"]}}
    out = custom(cluster).patch_namespaced_custom_object(
        ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route", patch
    )
    assert out["spec"]["hosts"] == ["only"]
    assert "gateways" not in out["spec"]
    assert len(out["spec"]["http"]) == 2


def test_json_patch_with_test_precondition(cluster: Cluster) -> None:
    """RFC 6902 ops apply in order; a failed ``test`` refuses the whole patch (422)."""
    api = custom(cluster)
    obj = make_vs(cluster)
    rv = obj["metadata"]["resourceVersion"]
    args = (ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route")
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/spec/http/1/route/0/weight", "value": 100},
        {"op": "add", "path": "/spec/hosts/-", "value": "extra"},
    ]
    out = api.patch_namespaced_custom_object(
        *args, ops, _content_type="application/json-patch+json"
    )
    assert out["spec"]["hosts"][-1] == "extra"
    error = api_error(
        lambda: api.patch_namespaced_custom_object(
            *args, ops, _content_type="application/json-patch+json"
        )
    )
    assert error.status == 422
    after = api.get_namespaced_custom_object(*args)
    assert after["metadata"]["resourceVersion"] == out["metadata"]["resourceVersion"]


def test_status_subresource_separates_spec_and_status(cluster: Cluster) -> None:
    """Create drops status; status writes ignore spec; spec writes ignore status."""
    api = custom(cluster)
    ns = cluster.namespace
    body = rollout_body()
    body["status"] = {"phase": "Succeeded"}
    made = api.create_namespaced_custom_object("meshrollout.dev", "v1alpha1", ns, "rollouts", body)
    assert "phase" not in (made.get("status") or {})
    args = ("meshrollout.dev", "v1alpha1", ns, "rollouts", "inventory")
    out = api.patch_namespaced_custom_object_status(
        *args, {"spec": {"service": "other"}, "status": {"phase": "Progressing"}}
    )
    assert (out["spec"]["service"], out["status"]["phase"]) == ("inventory-service", "Progressing")
    out = api.patch_namespaced_custom_object(
        *args, {"spec": {"paused": True}, "status": {"phase": "Failed"}}
    )
    assert (out["spec"]["paused"], out["status"]["phase"]) == (True, "Progressing")


def test_crd_schema_is_enforced_with_field_paths(cluster: Cluster) -> None:
    """Our CRD's schema: 422 naming each field; unknown fields pruned; defaults applied."""
    api = custom(cluster)
    ns = cluster.namespace
    bad = rollout_body(stableSubset="V1", strategy={"steps": "many"})
    del bad["spec"]["canarySubset"]
    error = api_error(
        lambda: api.create_namespaced_custom_object(
            "meshrollout.dev", "v1alpha1", ns, "rollouts", bad
        )
    )
    assert error.status == 422
    fields = {c["field"] for c in json.loads(error.body or "")["details"]["causes"]}
    assert fields == {"spec.canarySubset", "spec.stableSubset", "spec.strategy.steps"}
    made = api.create_namespaced_custom_object(
        "meshrollout.dev", "v1alpha1", ns, "rollouts", rollout_body(colour="blue")
    )
    assert "colour" not in made["spec"]
    assert made["spec"]["paused"] is False


def test_label_selectors_on_list(cluster: Cluster) -> None:
    """labelSelector filters lists by equality, sets and existence."""
    api = custom(cluster)
    ns = cluster.namespace
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})):
        body = destination_rule()
        body["metadata"] = {"name": name, "labels": labels}
        api.create_namespaced_custom_object(ISTIO, "v1", ns, "destinationrules", body)

    def names(selector: str) -> list[str]:
        listed = api.list_namespaced_custom_object(
            ISTIO, "v1", ns, "destinationrules", label_selector=selector
        )
        return [i["metadata"]["name"] for i in listed["items"]]

    assert names("app=x") == ["a"]
    assert names("app in (x,y)") == ["a", "b"]
    assert names("app,!tier") == ["b"]
    assert names("app!=x") == ["b", "c"]


def _watch(cluster: Cluster, rv: str, selector: str | None = None, seconds: int = 2) -> list[Any]:
    kube = cluster.kube()
    from rollout.kube.resources import virtual_services

    events = []
    try:
        for event in kube.watch(virtual_services("v1"), cluster.namespace, rv, seconds, selector):
            events.append((event["type"], event["object"]["metadata"]["resourceVersion"]))
    finally:
        kube.close()
    return events


def test_watch_replays_from_a_resource_version(cluster: Cluster) -> None:
    """A watch from version N replays every later change, then ends at its timeout."""
    api = custom(cluster)
    start = make_vs(cluster)["metadata"]["resourceVersion"]
    args = (ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route")
    rvs = [
        api.patch_namespaced_custom_object(*args, {"spec": {"hosts": [f"h{i}"]}})["metadata"][
            "resourceVersion"
        ]
        for i in range(3)
    ]
    assert _watch(cluster, start, seconds=1) == [("MODIFIED", rv) for rv in rvs]


def test_watch_sees_live_changes_and_selector_exits(cluster: Cluster) -> None:
    """A live watch gets changes as they happen; leaving the selector is a DELETED."""
    api = custom(cluster)
    obj = make_vs(cluster, app="x")
    args = (ISTIO, "v1", cluster.namespace, "virtualservices", "inventory-route")
    got: list[Any] = []
    watcher = threading.Thread(
        target=lambda: got.extend(_watch(cluster, obj["metadata"]["resourceVersion"], "app=x", 2))
    )
    watcher.start()
    time.sleep(0.3)
    kept = api.patch_namespaced_custom_object(*args, {"spec": {"hosts": ["z"]}})
    left = api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"app": "y"}}})
    watcher.join()
    assert got == [
        ("MODIFIED", kept["metadata"]["resourceVersion"]),
        ("DELETED", left["metadata"]["resourceVersion"]),
    ]


def test_watch_without_version_starts_with_current_objects(cluster: Cluster) -> None:
    """resourceVersion 0 (or none) sends every current object as ADDED first."""
    obj = make_vs(cluster)
    assert _watch(cluster, "0", seconds=1) == [("ADDED", obj["metadata"]["resourceVersion"])]


def test_watch_from_a_compacted_version_is_gone(cluster: Cluster, tmp_path: Any) -> None:
    """A version older than the kept history is answered 410 Gone."""
    small = __import__("meshlab.kubeapi", fromlist=["KubeAPI"]).KubeAPI.start(history_limit=3)
    try:
        if cluster.api is None:
            pytest.skip("compaction timing cannot be forced on a real cluster")
        local = Cluster(
            small.write_kubeconfig(tmp_path / "kc", cluster.namespace), cluster.namespace, small
        )
        first = make_vs(local)["metadata"]["resourceVersion"]
        for i in range(5):
            custom(local).patch_namespaced_custom_object(
                ISTIO,
                "v1",
                local.namespace,
                "virtualservices",
                "inventory-route",
                {"spec": {"hosts": [f"h{i}"]}},
            )
        from rollout.kube import KubeError

        with pytest.raises(KubeError) as caught:
            _watch(local, first, seconds=1)
        assert caught.value.status == 410
    finally:
        small.stop()


def test_leases_and_events_through_typed_apis(cluster: Cluster) -> None:
    """Leases and events.k8s.io Events work through the client's typed APIs."""
    from datetime import UTC, datetime

    official = cluster.official()
    leases = k8s.CoordinationV1Api(official)
    lease = leases.create_namespaced_lease(
        cluster.namespace,
        k8s.V1Lease(
            metadata=k8s.V1ObjectMeta(name="ctl"),
            spec=k8s.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
        ),
    )
    assert lease.spec is not None
    lease.spec.holder_identity = "b"
    replaced = leases.replace_namespaced_lease("ctl", cluster.namespace, lease)
    assert replaced.spec is not None
    assert replaced.spec.holder_identity == "b"
    event = k8s.EventsV1Api(official).create_namespaced_event(
        cluster.namespace,
        k8s.EventsV1Event(
            metadata=k8s.V1ObjectMeta(name="e1"),
            event_time=datetime.now(UTC),
            reason="StepPromoted",
            note="to 25%",
            type="Normal",
            action="Promote",
            reporting_controller="meshrollout.dev/controller",
            reporting_instance="t",
        ),
    )
    assert event.reason == "StepPromoted"
