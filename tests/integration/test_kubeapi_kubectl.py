"""What the emulator answers the requests kubectl and GitOps tools make, over raw HTTP.

Aggregated discovery and its fallback, Tables, OpenAPI v3, protobuf and CBOR bodies,
server-side apply (ownership, conflicts, force), ``dryRun``, ``fieldValidation`` and
watch lists: each checked on the wire, without kubectl (``test_kubectl.py`` runs it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from meshlab.kubeapi import KubeAPI

NS = "shop"
VS = f"/apis/networking.istio.io/v1/namespaces/{NS}/virtualservices"
MRO = f"/apis/meshrollout.dev/v1alpha1/namespaces/{NS}/rollouts"
DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def api() -> Iterator[KubeAPI]:
    server = KubeAPI.start()
    yield server
    server.stop()


def call(
    api: KubeAPI,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    accept: str = "application/json",
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request: (status, headers, JSON body)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(api.url + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    request.add_header("Accept", accept)
    request.add_header("User-Agent", "meshrollout/test")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def vs(hosts: list[str], timeout: str = "5s", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "route", **meta},
        "spec": {"hosts": hosts, "http": [{"name": "primary", "timeout": timeout}]},
    }


def test_aggregated_discovery_when_asked_legacy_otherwise(api: KubeAPI) -> None:
    """The v2 media type gets APIGroupDiscoveryList with short names, categories and
    subresources, and says so in Content-Type; plain JSON gets the legacy APIGroupList."""
    code, headers, doc = call(api, "GET", "/apis", accept=f"{DISCOVERY},application/json")
    assert code == 200
    assert headers["Content-Type"] == DISCOVERY
    assert doc["kind"] == "APIGroupDiscoveryList"
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    istio = groups["networking.istio.io"]["versions"]
    assert [v["version"] for v in istio] == ["v1", "v1beta1", "v1alpha3"]
    resources = {r["resource"]: r for r in istio[0]["resources"]}
    assert resources["virtualservices"]["shortNames"] == ["vs"]
    assert "istio-io" in resources["virtualservices"]["categories"]
    rollouts = groups["meshrollout.dev"]["versions"][0]["resources"][0]
    assert rollouts["shortNames"] == ["mro"]
    assert rollouts["subresources"][0]["subresource"] == "status"
    _, headers, core = call(api, "GET", "/api", accept=f"{DISCOVERY},application/json")
    assert [r["resource"] for r in core["items"][0]["versions"][0]["resources"]][:2] == [
        "configmaps",
        "events",
    ]
    _, headers, legacy = call(api, "GET", "/apis")
    assert headers["Content-Type"] == "application/json"
    assert legacy["kind"] == "APIGroupList"


def test_table_uses_the_crd_printer_columns(api: KubeAPI) -> None:
    """A Rollout list as a Table: Name, then the CRD's columns; the row's object as asked."""
    rollout = {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "inventory"},
        "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
    }
    assert call(api, "POST", MRO, rollout)[0] == 201
    _, _, table = call(api, "GET", MRO, accept=TABLE)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Phase",
        "Weight",
        "Step",
        "Canary",
        "Age",
    ]
    row = table["rows"][0]
    assert row["cells"][0] == "inventory"
    assert row["cells"][4] == "v2"
    assert row["cells"][5].endswith("s")  # an age, as the API server renders it
    assert row["object"]["kind"] == "PartialObjectMetadata"
    _, _, full = call(api, "GET", f"{MRO}?includeObject=Object", accept=TABLE)
    assert full["rows"][0]["object"]["spec"]["canarySubset"] == "v2"
    _, _, none = call(api, "GET", f"{MRO}/inventory?includeObject=None", accept=TABLE)
    assert "object" not in none["rows"][0]


def test_openapi_v3_has_our_schema_and_says_fields_are_validated(api: KubeAPI) -> None:
    """The index points at each group version; the Rollout's schema is tagged with its
    kind, ObjectMeta resolves, and the write operations accept fieldValidation; v2 is
    the same in Swagger 2.0 for JSON clients (protobuf-only clients get 404)."""
    _, _, index = call(api, "GET", "/openapi/v3")
    url = index["paths"]["apis/meshrollout.dev/v1alpha1"]["serverRelativeURL"]
    _, _, doc = call(api, "GET", url)
    schemas = doc["components"]["schemas"]
    rollout = schemas["dev.meshrollout.v1alpha1.Rollout"]
    assert rollout["x-kubernetes-group-version-kind"] == [
        {"group": "meshrollout.dev", "version": "v1alpha1", "kind": "Rollout"}
    ]
    assert "analysis" in rollout["properties"]["spec"]["properties"]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    patch = doc["paths"][f"{MRO.replace(NS, '{namespace}')}/{{name}}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    _, _, core = call(api, "GET", index["paths"]["api/v1"]["serverRelativeURL"])
    ns = core["components"]["schemas"]["io.k8s.api.core.v1.Namespace"]
    assert ns["x-kubernetes-group-version-kind"][0]["kind"] == "Namespace"
    _, _, v2 = call(api, "GET", "/openapi/v2")
    assert v2["swagger"] == "2.0"
    spec = v2["definitions"]["dev.meshrollout.v1alpha1.Rollout"]["properties"]["spec"]
    assert "analysis" in spec["properties"]
    gvk = v2["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"]
    assert gvk == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert "#/components/" not in json.dumps(v2)
    kubectl_v2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    assert call(api, "GET", "/openapi/v2", accept=kubectl_v2)[0] == 404


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def test_protobuf_bodies_for_built_in_kinds_cbor_refused(api: KubeAPI) -> None:
    """A ConfigMap in Kubernetes' protobuf envelope is stored as its JSON form; CBOR, and
    protobuf for a custom resource, are 415 (what makes client-go fall back to JSON)."""
    meta = _field(1, b"settings") + _field(11, _field(1, b"app") + _field(2, b"shop"))
    data = _field(2, _field(1, b"mode") + _field(2, b"fast"))
    type_meta = _field(1, b"v1") + _field(2, b"ConfigMap")
    envelope = b"k8s\x00" + _field(1, type_meta) + _field(2, _field(1, meta) + data)
    proto = "application/vnd.kubernetes.protobuf"
    code, _, made = call(
        api, "POST", f"/api/v1/namespaces/{NS}/configmaps", raw=envelope, content_type=proto
    )
    assert code == 201
    assert made["data"] == {"mode": "fast"}
    assert made["metadata"]["labels"] == {"app": "shop"}
    assert call(api, "POST", MRO, raw=b"\xa0", content_type="application/cbor")[0] == 415
    assert call(api, "POST", MRO, raw=envelope, content_type=proto)[0] == 415
    assert (
        call(
            api,
            "POST",
            f"/api/v1/namespaces/{NS}/configmaps",
            raw=b"k8s\x00\xff",
            content_type=proto,
        )[0]
        == 400
    )


def test_server_side_apply_owns_conflicts_and_forces(api: KubeAPI) -> None:
    """Apply creates; the same apply again changes nothing; a value another manager set is
    a 409 naming it, unless forced; a field the applier drops is removed."""
    code, _, made = call(api, "PATCH", f"{VS}/route?fieldManager=git", vs(["a"]), APPLY)
    assert code == 201
    rv = made["metadata"]["resourceVersion"]
    assert [(e["manager"], e["operation"]) for e in made["metadata"]["managedFields"]] == [
        ("git", "Apply")
    ]
    _, _, again = call(api, "PATCH", f"{VS}/route?fieldManager=git", vs(["a"]), APPLY)
    assert again["metadata"]["resourceVersion"] == rv

    merge = {"spec": {"http": [{"name": "primary", "timeout": "9s"}]}}
    _, _, patched = call(api, "PATCH", f"{VS}/route", merge, "application/merge-patch+json")
    managers = {e["manager"]: e["operation"] for e in patched["metadata"]["managedFields"]}
    assert managers == {"git": "Apply", "meshrollout": "Update"}  # the User-Agent's first word

    code, _, refused = call(api, "PATCH", f"{VS}/route?fieldManager=git", vs(["a"]), APPLY)
    assert code == 409
    assert refused["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "meshrollout" using networking.istio.io/v1',
            "field": ".spec.http",
        }
    ]
    forced = f"{VS}/route?fieldManager=git&force=true"
    _, _, taken = call(api, "PATCH", forced, vs(["a"], labels={"team": "x"}), APPLY)
    assert taken["spec"]["http"][0]["timeout"] == "5s"
    assert [e["manager"] for e in taken["metadata"]["managedFields"]] == ["git"]
    _, _, dropped = call(api, "PATCH", forced, vs(["a"]), APPLY)
    assert "labels" not in dropped["metadata"]
    assert call(api, "PATCH", f"{VS}/route", vs(["a"]), APPLY)[0] == 400  # no fieldManager


def test_dry_run_writes_nothing(api: KubeAPI) -> None:
    """dryRun=All answers create, patch, apply and delete as if done, and stores nothing."""
    code, _, shown = call(api, "POST", f"{VS}?dryRun=All", vs(["a"]))
    assert code == 201
    assert shown["metadata"]["name"] == "route"
    assert call(api, "GET", f"{VS}/route")[0] == 404
    _, _, made = call(api, "POST", VS, vs(["a"]))
    rv = made["metadata"]["resourceVersion"]
    merge = {"spec": {"hosts": ["b"]}}
    _, _, would = call(
        api, "PATCH", f"{VS}/route?dryRun=All", merge, "application/merge-patch+json"
    )
    assert would["spec"]["hosts"] == ["b"]
    apply = f"{VS}/route?dryRun=All&fieldManager=x&force=true"
    assert call(api, "PATCH", apply, vs(["c"]), APPLY)[2]["spec"]["hosts"] == ["c"]
    assert call(api, "DELETE", f"{VS}/route?dryRun=All")[0] == 200
    _, _, still = call(api, "GET", f"{VS}/route")
    assert still["spec"]["hosts"] == ["a"]
    assert still["metadata"]["resourceVersion"] == rv


def test_field_validation_strict_warn_ignore(api: KubeAPI) -> None:
    """An unknown field in a Rollout: Strict is a 400 naming it, Warn a Warning header
    (the default), Ignore nothing; all three prune it."""
    rollout: dict[str, Any] = {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"service": "s", "stableSubset": "v1", "canarySubset": "v2", "colour": "blue"},
    }
    code, _, refused = call(api, "POST", f"{MRO}?fieldValidation=Strict", rollout)
    assert code == 400
    assert refused["message"] == 'strict decoding error: unknown field "spec.colour"'
    code, headers, made = call(api, "POST", MRO, rollout)
    assert code == 201
    assert headers["Warning"] == '299 - "unknown field \\"spec.colour\\""'
    assert "colour" not in made["spec"]
    rollout["metadata"]["name"] = "r2"
    _, headers, _ = call(api, "POST", f"{MRO}?fieldValidation=Ignore", rollout)
    assert "Warning" not in headers


def test_watch_list_ends_its_initial_events_with_a_bookmark(api: KubeAPI) -> None:
    """sendInitialEvents=true: the current objects as ADDED, then a BOOKMARK annotated
    k8s.io/initial-events-end (what kubectl wait's informer waits for); fieldSelector
    on metadata.name picks one object."""
    call(api, "POST", VS, vs(["a"]))
    other = vs(["b"])
    other["metadata"]["name"] = "other"
    call(api, "POST", VS, other)
    path = (
        f"{VS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&fieldSelector=metadata.name%3Droute&timeoutSeconds=1"
    )
    with urllib.request.urlopen(api.url + path, timeout=10) as stream:
        events = [json.loads(line) for line in stream.read().splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["metadata"]["name"] == "route"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_events_k8s_io_events_are_core_events_too(api: KubeAPI) -> None:
    """An events.k8s.io/v1 Event (the controller's) is listed by the core API, renamed
    (involvedObject, message), and selected by involvedObject fields as describe does."""
    event = {
        "metadata": {"name": "e1"},
        "eventTime": "2026-11-26T08:00:00.000000Z",
        "reportingController": "meshrollout.dev/controller",
        "reportingInstance": "ctl-a",
        "action": "Reconcile",
        "reason": "Started",
        "type": "Normal",
        "note": "v2 at 5%",
        "regarding": {"kind": "Rollout", "name": "inventory", "namespace": NS},
    }
    assert call(api, "POST", f"/apis/events.k8s.io/v1/namespaces/{NS}/events", event)[0] == 201
    selector = "involvedObject.name%3Dinventory,involvedObject.kind%3DRollout"
    _, _, core = call(api, "GET", f"/api/v1/namespaces/{NS}/events?fieldSelector={selector}")
    assert [e["message"] for e in core["items"]] == ["v2 at 5%"]
    assert core["items"][0]["involvedObject"]["name"] == "inventory"
    assert core["items"][0]["reportingComponent"] == "meshrollout.dev/controller"
    other = "involvedObject.name%3Dsomething-else"
    assert (
        call(api, "GET", f"/api/v1/namespaces/{NS}/events?fieldSelector={other}")[2]["items"] == []
    )
    _, _, table = call(api, "GET", f"/api/v1/namespaces/{NS}/events", accept=TABLE)
    assert [c["name"] for c in table["columnDefinitions"]][:4] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
    ]
    assert table["rows"][0]["cells"][1:4] == ["Normal", "Started", "rollout/inventory"]


def test_built_in_kinds_validated_and_pruned_by_their_openapi(api: KubeAPI) -> None:
    """A Deployment with an unknown field: Strict refuses it, Warn warns and drops it (as
    the Go types would); strategic merge patch directives are not stored."""
    deployments = f"/apis/apps/v1/namespaces/{NS}/deployments"
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "colour": "blue",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1", "size": 3}]},
            },
        },
    }
    code, _, refused = call(api, "POST", f"{deployments}?fieldValidation=Strict", deployment)
    assert code == 400
    assert 'unknown field "spec.colour"' in refused["message"]
    assert 'unknown field "spec.template.spec.containers[0].size"' in refused["message"]
    code, headers, made = call(api, "POST", deployments, deployment)
    assert code == 201
    assert "spec.colour" in headers["Warning"]
    assert "colour" not in made["spec"]
    assert made["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:1"}]
    smp = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"name": "nginx", "image": "nginx:2"}],
                }
            }
        }
    }
    strategic = "application/strategic-merge-patch+json"
    code, _, patched = call(
        api, "PATCH", f"{deployments}/web?fieldValidation=Strict", smp, strategic
    )
    assert code == 200
    assert patched["spec"]["template"]["spec"] == {
        "containers": [{"name": "nginx", "image": "nginx:2"}]
    }


def test_every_built_in_kind_has_its_protobuf_table_and_schema(api: KubeAPI) -> None:
    """A built-in kind added to the registry fails this until protogen and openapigen
    are rerun for it (kubectl would send it as protobuf, and explain would not know it)."""
    from meshlab.kubeapi.openapi import builtin_schemas, schema_name
    from meshlab.kubeapi.protobuf import known_kinds

    kinds = known_kinds()
    schemas = builtin_schemas()
    for t in api.registry.types:
        if t.custom:
            continue
        for version in t.versions:
            assert f"{t.api_version(version)}/{t.kind}" in kinds, t.key
            assert schema_name(t, version) in schemas, t.key
