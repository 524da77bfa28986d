"""What only the emulator offers: fault injection, the audit log, and running alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from rollout.kube import KubeError, RetryPolicy, Unavailable
from rollout.kube.resources import virtual_services
from tests.integration.conftest import Cluster
from tests.unit.istio import in_namespace, seed_vs

VS = virtual_services("v1")


def test_latency_is_added_to_every_request(cluster: Cluster) -> None:
    """With 200 ms latency a request takes at least 200 ms."""
    cluster.emulator.faults.set(latency_ms=200)
    kube = cluster.kube()
    started = time.monotonic()
    kube.list(VS, cluster.namespace)
    assert time.monotonic() - started >= 0.2


def test_error_rate_answers_the_chosen_codes(cluster: Cluster) -> None:
    """About the configured share of requests fail, with the configured codes."""
    cluster.emulator.faults.set(error_rate=0.5, error_codes=[503], seed=7)
    kube = cluster.kube(retry=RetryPolicy(attempts=1))
    outcomes = []
    for _ in range(200):
        try:
            kube.list(VS, cluster.namespace)
            outcomes.append(200)
        except Unavailable as error:
            outcomes.append(error.status or 0)
    assert set(outcomes) == {200, 503}
    assert 70 <= outcomes.count(503) <= 130


def test_429_carries_retry_after_and_is_retried(cluster: Cluster) -> None:
    """A 429 says Retry-After; our client waits that long and tries again."""
    cluster.emulator.faults.set(error_rate=1.0, error_codes=[429])
    waits: list[float] = []
    kube = cluster.kube(retry=RetryPolicy(attempts=3), sleep=waits.append)
    with pytest.raises(Unavailable) as caught:
        kube.list(VS, cluster.namespace)
    assert caught.value.status == 429
    assert waits == [1.0, 1.0]


def test_faults_can_target_one_identity(cluster: Cluster) -> None:
    """With ``users`` set, only that client's requests fail."""
    cluster.emulator.faults.set(error_rate=1.0, error_codes=[500], users=["victim"])
    cluster.kube("bystander").list(VS, cluster.namespace)
    with pytest.raises(Unavailable):
        cluster.kube("victim", retry=RetryPolicy(attempts=1)).list(VS, cluster.namespace)


def test_dropped_watch_streams_break_mid_stream(cluster: Cluster) -> None:
    """A dropped watch ends without its closing chunk: the client sees a broken stream."""
    cluster.emulator.faults.set(drop_watches_after_s=0.3)
    kube = cluster.kube()
    started = time.monotonic()
    with pytest.raises(KubeError):
        list(kube.watch(VS, cluster.namespace, "0", timeout_s=5))
    assert time.monotonic() - started < 3


def test_audit_log_records_writes_with_identity(cluster: Cluster) -> None:
    """Every write is logged with verb, resource, name, code and the writer's identity."""
    kube = cluster.kube("controller-a")
    made = kube.create(VS, cluster.namespace, in_namespace(seed_vs(), cluster.namespace))
    stale = {"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}}
    kube.patch(VS, cluster.namespace, "inventory-route", {**stale, "spec": {"hosts": ["a"]}})
    with pytest.raises(KubeError):
        kube.patch(VS, cluster.namespace, "inventory-route", {**stale, "spec": {"hosts": ["b"]}})
    kube.list(VS, cluster.namespace)
    entries = cluster.writes()
    assert [(e.verb, e.name, e.code) for e in entries] == [
        ("create", "inventory-route", 201),
        ("patch", "inventory-route", 200),
        ("patch", "inventory-route", 409),
    ]
    assert all("controller-a" in e.user for e in entries)


def test_faults_and_audit_over_http(cluster: Cluster) -> None:
    """Tests in another process steer faults and read the audit log over HTTP."""
    api = cluster.emulator
    request = urllib.request.Request(
        f"{api.url}/_lab/faults", data=json.dumps({"latency_ms": 5}).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer)["latency_ms"] == 5
    assert api.faults.current.latency_ms == 5
    cluster.kube().create(VS, cluster.namespace, in_namespace(seed_vs(), cluster.namespace))
    with urllib.request.urlopen(f"{api.url}/_lab/audit") as answer:
        entries = json.load(answer)["entries"]
    assert any(e["namespace"] == cluster.namespace and e["verb"] == "create" for e in entries)


def test_runs_alone_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    """`python -m meshlab.kubeapi` serves until SIGTERM, with our CRD registered."""
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshlab.kubeapi",
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("kubeapi serving http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        api: Any = k8s.CustomObjectsApi(k8s_config.new_client_from_config(str(kubeconfig)))
        listed = api.list_namespaced_custom_object(
            "meshrollout.dev", "v1alpha1", "default", "rollouts"
        )
        assert listed["items"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
