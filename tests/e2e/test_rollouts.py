"""End to end: the controller and the CLI as subprocesses, the emulator, a real
Prometheus, traffic that follows the weights."""

from __future__ import annotations

import json
import time

from tests.e2e.harness import Stack

FAST = ("--step-duration", "2s", "--interval", "1s", "--min-requests", "10")


def start(stack: Stack, version: str = "v2", *extra: str) -> None:
    result = stack.cli("start", "inventory", version, *FAST, *extra)
    assert result.returncode == 0, result.stderr


def patch_spec(stack: Stack, **spec: object) -> None:
    t = stack.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert t is not None
    stack.api.store.update(t, "shop", "inventory", lambda d: {**d, "spec": {**d["spec"], **spec}})


def canary_weight(stack: Stack) -> int:
    return int(stack.traffic.current_weights().get("v2", 0))


def test_healthy_canary_becomes_stable_and_other_routes_stay(stack: Stack) -> None:
    """5 → 25 → 50 → 100, then v2 alone on the route; healthz and retries untouched."""
    stack.traffic.set_health("v2")
    stack.start_controller()
    before = stack.virtual_service()["spec"]["http"]
    start(stack)
    seen: set[int] = set()

    def done() -> bool:
        seen.add(canary_weight(stack))
        return stack.phase() == "Succeeded"

    stack.wait_for(done, timeout=90, what="success")
    assert {5, 25, 50} <= seen

    def route() -> list[str]:
        return [
            e["destination"]["subset"] for e in stack.virtual_service()["spec"]["http"][1]["route"]
        ]

    # The status is written before the mesh (its outbox makes that crash-safe): the route
    # follows "Succeeded" by one write.
    stack.wait_for(lambda: route() == ["v2"], timeout=10, what="v2 alone on the route")
    http = stack.virtual_service()["spec"]["http"]
    assert http[0] == before[0]
    assert {k: v for k, v in http[1].items() if k != "route"} == {
        k: v for k, v in before[1].items() if k != "route"
    }
    assert [e["destination"]["subset"] for e in http[1]["route"]] == ["v2"]
    history = [h["decision"] for h in stack.status()["history"]]
    assert history == ["started", "promoted", "promoted", "promoted", "succeeded"]


def test_5xx_regression_at_25_rolls_back_mid_step(stack: Stack) -> None:
    """v2 turns bad once at 25%: rolled back before the step ends, outlier detection
    tightened, and the status names the failing metric with its value."""
    stack.traffic.set_health("v2")
    stack.start_controller()
    start(stack, "v2", "--step-duration", "30s")
    stack.wait_for(lambda: canary_weight(stack) == 25, timeout=120, what="25%")
    reached = time.monotonic()
    stack.traffic.set_health("v2", error_rate=0.2)
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=25, what="rollback")
    assert time.monotonic() - reached < 30, "rolled back only at the end of the step"
    status = stack.status()
    # The decision is written before the mesh is changed (crash-safe): wait for the mesh.
    stack.wait_for(lambda: canary_weight(stack) == 0, timeout=10, what="weight 0")
    assert status["rollbackReason"] == "regression"
    assert "5xx ratio" in status["message"]
    failing = [m for m in status["lastVerdict"]["metrics"] if m["outcome"] == "fail"]
    assert any(m["name"] == "5xx ratio" and m["value"] > 0.01 for m in failing)
    assert status["evidence"]["current"]["errors"]["worse"]  # the default judge's memory

    def tightened() -> bool:
        subsets = stack.destination_rule()["spec"]["subsets"]
        subset = next(s for s in subsets if s["name"] == "v2")
        outlier = subset.get("trafficPolicy", {}).get("outlierDetection", {})
        return bool(outlier.get("consecutive5xxErrors") == 1)

    stack.wait_for(tightened, timeout=10, what="outlier detection tightened")


def test_p99_regression_rolls_back(stack: Stack) -> None:
    """v2 slows to a 900 ms median: rolled back on the P99."""
    stack.traffic.set_health("v2", median_ms=900)
    stack.start_controller()
    start(stack)
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=60, what="rollback")
    message = stack.status()["message"]
    assert "slower than" in message or "P99" in message


def test_prometheus_down_holds_then_pauses(stack: Stack) -> None:
    """Prometheus stops mid-rollout: the weight holds, and after maxInconclusive the
    rollout pauses (the spec's no-data policy); it is never promoted meanwhile."""
    stack.traffic.set_health("v2")
    stack.start_controller()
    start(stack, "v2", "--step-duration", "3s")
    stack.wait_for(lambda: canary_weight(stack) == 25, timeout=90, what="25%")
    patch_spec(stack, analysis={**stack.rollout()["spec"]["analysis"], "maxInconclusive": 3})
    stack.prometheus.stop()
    stack.wait_for(lambda: stack.phase() == "Paused", timeout=30, what="pause on no data")
    status = stack.status()
    assert status["pauseReason"] == "inconclusive"
    assert "Prometheus unavailable" in status["message"]
    assert canary_weight(stack) == 25


def test_cli_pause_resume_promote_abort(stack: Stack) -> None:
    """Each command is a patch of the resource, carried out once by the controller."""
    stack.traffic.set_health("v2")
    stack.start_controller()
    start(stack, "v2", "--step-duration", "60s")
    stack.wait_for(lambda: canary_weight(stack) == 5, timeout=30, what="5%")
    assert stack.cli("pause", "inventory").returncode == 0
    stack.wait_for(lambda: stack.phase() == "Paused", timeout=10, what="pause")
    assert stack.cli("resume", "inventory").returncode == 0
    stack.wait_for(lambda: stack.phase() == "Progressing", timeout=10, what="resume")
    assert stack.cli("promote", "inventory").returncode == 0
    stack.wait_for(lambda: canary_weight(stack) == 25, timeout=10, what="promote")
    shown = stack.cli("status", "inventory")
    assert shown.returncode == 0
    assert "25%" in shown.stdout
    as_json = json.loads(stack.cli("status", "inventory", "-o", "json").stdout)
    assert as_json["status"]["canaryWeight"] == 25
    assert stack.cli("abort", "inventory").returncode == 0
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=10, what="abort")
    stack.wait_for(lambda: canary_weight(stack) == 0, timeout=10, what="weight 0")
    assert stack.status()["rollbackReason"] == "aborted"
    listed = stack.cli("list")
    assert "inventory" in listed.stdout
    assert "RolledBack" in listed.stdout
    assert "aborted by a user" in stack.cli("history", "inventory").stdout


def test_start_wait_exit_codes(stack: Stack) -> None:
    """--wait exits 0 on success and 1 on a rollback; bad input exits 2, writing nothing."""
    stack.start_controller()
    stack.traffic.set_health("v2")
    ok = stack.cli("start", "inventory", "v2", *FAST, "--wait")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    stack.traffic.set_health("v3", error_rate=0.3)
    bad = stack.cli("start", "inventory", "v3", *FAST, "--wait")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    before = len(stack.api.audit.entries())
    for args in (
        ("start", "inventory", "v9"),
        ("start", "nothing", "v2"),
        ("pause", "nothing"),
        ("start", "inventory", "v2", "--steps", "50,10"),
    ):
        refused = stack.cli(*args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr.startswith("error: ")
        assert len(refused.stderr.strip().splitlines()) == 1
    cli_writes = [e for e in stack.api.audit.entries()[before:] if e.user == "cli"]
    assert cli_writes == []


def test_start_finds_the_seed_route_by_name(stack: Stack) -> None:
    """`rollout start inventory v2` finds inventory-route, which routes inventory-service."""
    start(stack)
    spec = stack.rollout()["spec"]
    assert (spec["virtualServices"], spec["destinationRule"]) == (
        ["inventory-route"],
        "inventory-dr",
    )
    assert (spec["service"], spec["stableSubset"]) == ("inventory-service", "v1")


def test_threshold_judge_stays_available(stack: Stack) -> None:
    """analysis.judge: threshold (no longer the default), end to end: v2 at 20% errors is
    rolled back on the error-rate threshold, with no sequential evidence in the status."""
    stack.traffic.set_health("v2", error_rate=0.2)
    stack.start_controller()
    start(stack, "v2", "--step-duration", "30s")
    patch_spec(stack, analysis={**stack.rollout()["spec"]["analysis"], "judge": "threshold"})
    stack.wait_for(lambda: stack.phase() == "RolledBack", timeout=60, what="rollback")
    status = stack.status()
    assert "error-rate" in status["message"]
