"""The lab on the Gateway API, through real Envoy and Prometheus: an HTTPRoute whose parent
is the inventory-service Service, with version Services as backends. Its weights, the
testers' header rule and the canary Service's outlier detection (as the HTTPRoute and
host-rule transforms write them) are what Envoy serves, and the lab's recording rules
report the traffic as Istio does (the backend Service as destination_service_name)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from meshlab.seed import NS
from meshlab.stack import LocalStack
from rollout.analysis.prometheus import PrometheusSource
from rollout.mesh.hostrule import tighten_host
from rollout.mesh.httproute import Backends, set_header_route, set_weights
from rollout.model import OnRegression
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait

B = Backends("inventory-v1", "inventory-v2", namespace=NS)
ROUTE = ("gateway.networking.k8s.io", "v1", "httproutes")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(
        tmp_path_factory.mktemp("lab-httproute"),
        rps=100,
        with_controller=False,
        traffic_api="httproute",
    ).up()
    yield mesh
    mesh.down()


def ask(lab: LocalStack, headers: dict[str, str]) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", lab.listen_port, timeout=5)
    try:
        conn.request("GET", "/", headers=headers)
        return conn.getresponse().read().decode(errors="replace").strip()
    finally:
        conn.close()


def edit(lab: LocalStack, change: Any) -> None:
    assert lab.api is not None
    t = lab.api.registry.find(*ROUTE)
    assert t is not None
    lab.api.store.update(t, NS, "inventory-route", change)


def test_weights_and_the_header_rule_in_envoy(lab: LocalStack) -> None:
    """25% to inventory-v2 and x-canary: true always to it; healthz stays on v1; the
    document's other rule is untouched; the traffic splits about as asked."""
    assert lab.api is not None
    wait(lambda: lab.envoy_weights() == {"v1": 1}, what="the HTTPRoute in Envoy")
    before = lab.api.get(*ROUTE, NS, "inventory-route")
    edit(lab, lambda d: set_header_route(set_weights(d, B, 25), B, "x-canary", "true"))
    wait(lambda: lab.envoy_weights() == {"v1": 75, "v2": 25}, what="75/25 in Envoy")
    after = lab.api.get(*ROUTE, NS, "inventory-route")
    assert after["spec"]["rules"][0] == before["spec"]["rules"][0]
    assert {ask(lab, {"x-canary": "true"}) for _ in range(20)} == {"v2"}
    seen_before = lab.seen()
    time.sleep(4)
    seen = lab.seen() - seen_before
    v2 = seen[("v2", 200)] / max(1, seen[("v1", 200)] + seen[("v2", 200)])
    assert 0.1 < v2 < 0.45, seen


def test_outlier_detection_for_the_canary_service_and_istio_series(lab: LocalStack) -> None:
    """A DestinationRule for inventory-v2's host (created as the controller would) is the
    v2 cluster's outlier detection in Envoy; Prometheus has istio_requests_total for the
    backend Service with its version, reporter destination."""
    assert lab.api is not None
    t = lab.api.registry.find("networking.istio.io", "v1", "destinationrules")
    assert t is not None
    rule = tighten_host(None, "inventory-v2", NS, OnRegression().outlier_detection.wire())
    lab.api.store.create(t, NS, rule)

    def outlier() -> Any:
        url = f"http://127.0.0.1:{lab.admin_port}/config_dump?resource=dynamic_active_clusters"
        with urllib.request.urlopen(url, timeout=5) as answer:
            dump = json.load(answer)
        for config in dump.get("configs", []):
            if config["cluster"]["name"] == "inventory-v2|shop|v2":
                return config["cluster"].get("outlier_detection")
        return None

    wait(lambda: outlier() is not None, what="the outlier detection in Envoy")
    assert (outlier()["consecutive_5xx"], outlier()["max_ejection_percent"]) == (1, 50)
    assert lab.prometheus is not None
    source = PrometheusSource(lab.prometheus.url)
    query = (
        "sum by (destination_service_name, destination_version, reporter) "
        '(istio_requests_total{destination_service_name=~"inventory-v[12]"})'
    )

    def series() -> set[tuple[str, str, str]]:
        found = source.query(query, datetime.now(UTC))
        return {
            (s["metric"]["destination_service_name"], s["metric"]["destination_version"],
             s["metric"]["reporter"])
            for s in found
        }  # fmt: skip

    wait(lambda: len(series()) == 2, timeout=30, what="Istio-shaped series")
    assert series() == {
        ("inventory-v1", "v1", "destination"),
        ("inventory-v2", "v2", "destination"),
    }
