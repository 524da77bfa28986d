"""Smoke: a healthy v2 goes all the way, driven by the CLI and the controller."""

from __future__ import annotations

from tests.e2e.harness import Stack


def test_healthy_rollout_end_to_end(stack: Stack) -> None:
    """start → 5 → 25 → 50 → 100 → Succeeded; /healthz stays pinned to v1."""
    stack.traffic.set_health("v2")
    stack.start_controller()
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
    vs = stack.virtual_service()
    assert vs["spec"]["http"][0]["route"] == [
        {"destination": {"host": "inventory-service", "port": {"number": 8080}, "subset": "v1"}}
    ]
