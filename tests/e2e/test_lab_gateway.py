"""A rollout on an HTTPRoute, end to end through the lab: `rollout start` finds the
HTTPRoute (parent: the inventory-service Service) and its version Services, the controller
moves the backendRefs' weights, judges on Istio-shaped series per backend Service from a
real Prometheus, and real Envoy serves it: a healthy v2 promoted, a failing v3 rolled back
with outlier detection tightened on its Service's host, the other rule untouched."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from meshlab.seed import NS
from meshlab.stack import QUICK, LocalStack
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait

ROUTE = ("gateway.networking.k8s.io", "v1", "httproutes", NS, "inventory-route")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(tmp_path_factory.mktemp("lab-gateway"), rps=100, traffic_api="httproute")
    yield mesh.up()
    mesh.down()


def phase(lab: LocalStack) -> str:
    return str(lab.status().get("phase"))


def outlier(lab: LocalStack, cluster: str) -> Any:
    url = f"http://127.0.0.1:{lab.admin_port}/config_dump?resource=dynamic_active_clusters"
    with urllib.request.urlopen(url, timeout=5) as answer:
        dump = json.load(answer)
    for config in dump.get("configs", []):
        if config["cluster"]["name"] == cluster:
            return config["cluster"].get("outlier_detection")
    return None


def test_a_healthy_v2_is_promoted_on_the_httproute(lab: LocalStack) -> None:
    """Found and listed by the CLI, promoted step by step, v2 alone in Envoy at the end;
    the healthz rule is byte for byte what it was; clients saw no error."""
    assert lab.api is not None
    before = lab.api.get(*ROUTE)
    failed = sum(n for (_, s), n in lab.seen().items() if s != 200)
    started = lab.cli("start", "inventory", "v2", *QUICK)
    assert started.returncode == 0, started.stderr
    assert "HTTPRoute inventory-route (parents: inventory-service)" in started.stderr
    spec = lab.rollout()["spec"]
    assert spec["httpRoute"] == {
        "name": "inventory-route",
        "stableService": "inventory-v1",
        "canaryService": "inventory-v2",
        "reporter": "destination",
    }
    wait(
        lambda: phase(lab) == "Succeeded", 480, "success", lab=lab
    )  # the gate's evidence, under load
    wait(lambda: lab.envoy_weights() == {"v2": 100}, timeout=10, what="v2 alone in Envoy")
    after = lab.api.get(*ROUTE)
    assert after["spec"]["rules"][0] == before["spec"]["rules"][0]
    assert sum(n for (_, s), n in lab.seen().items() if s != 200) == failed
    history = [h["decision"] for h in lab.status()["history"]]
    assert history[-1] == "succeeded"


def test_a_failing_v3_is_rolled_back_and_its_service_tightened(lab: LocalStack) -> None:
    """v3 turns bad at 25%: rolled back to v2 alone; a DestinationRule for inventory-v3's
    host carries the tightened outlier detection, and Envoy has it."""
    lab.fault("v3", error_rate=0.0)
    assert lab.cli("start", "inventory", "v3", *QUICK).returncode == 0
    wait(lambda: lab.envoy_weights().get("v3", 0) >= 25, what="v3 at 25%")
    lab.fault("v3", error_rate=0.3)
    wait(lambda: phase(lab) == "RolledBack", timeout=60, what="rollback", lab=lab)
    wait(lambda: lab.envoy_weights() == {"v2": 100}, timeout=10, what="v2 alone in Envoy")
    assert "5xx ratio" in lab.status()["message"]
    wait(lambda: outlier(lab, "inventory-v3|shop|v3") is not None, 10, "outliers in Envoy")
    assert outlier(lab, "inventory-v3|shop|v3")["consecutive_5xx"] == 1
    assert lab.api is not None
    rule = lab.api.get(
        "networking.istio.io", "v1", "destinationrules", NS, "inventory-v3-meshrollout-outlier"
    )
    assert rule["spec"]["host"] == "inventory-v3"
    lab.fault("v3", error_rate=0.0)
