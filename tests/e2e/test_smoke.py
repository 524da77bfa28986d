"""The service's own surface: health, readiness, metrics, JSON logs, graceful shutdown."""

from __future__ import annotations

import json
import signal
import urllib.request

from tests.e2e.harness import Stack


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""  # not listening yet


def test_health_metrics_logs_and_graceful_stop(stack: Stack) -> None:
    """/healthz and /readyz answer 200; /metrics counts rollouts and verdicts; logs are
    JSON lines with the rollout bound; SIGTERM releases the lease at once."""
    stack.traffic.set_health("v2")
    proc = stack.start_controller(identity="ctl-a")
    base = f"http://127.0.0.1:{stack.metrics_port}"
    stack.wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=20, what="readiness")
    assert get(f"{base}/healthz")[0] == 200
    started = stack.cli(
        "start",
        "inventory",
        "v2",
        "--step-duration",
        "2s",
        "--interval",
        "1s",
        "--min-requests",
        "10",
    )
    assert started.returncode == 0, started.stderr
    stack.wait_for(lambda: stack.phase() == "Succeeded", timeout=90, what="success")
    stack.wait_for(
        lambda: 'meshrollout_rollouts{phase="Succeeded"} 1.0' in get(f"{base}/metrics")[1],
        timeout=10,
        what="metrics",
    )
    metrics = get(f"{base}/metrics")[1]
    assert 'meshrollout_verdicts_total{outcome="pass"}' in metrics
    assert 'meshrollout_canary_weight{namespace="shop",rollout="inventory"} 100.0' in metrics
    assert "meshrollout_reconcile_duration_seconds_count" in metrics
    stack.kill(proc, signal.SIGTERM)
    assert proc.returncode == 0
    leases = stack.api.registry.find("coordination.k8s.io", "v1", "leases")
    assert leases is not None
    assert (
        stack.api.store.get(leases, "shop", "meshrollout-controller")["spec"]["holderIdentity"]
        == ""
    )
    lines = [
        json.loads(line)
        for line in (stack.workdir / "controller-ctl-a.log").read_text().splitlines()
        if line.strip()
    ]
    decisions = [line for line in lines if line["event"] == "decision"]
    assert decisions
    assert all(line["rollout"] == "shop/inventory" for line in decisions)
    assert lines[-1]["event"] == "controller stopped"
