"""``rollout demo`` / ``make demo``: a story on the local mesh, told on screen.

v2 is healthy and goes 5 → 25 → 50 → 100 and becomes stable; then v3 starts
failing at 25% and is rolled back within seconds, its outlier detection
tightened in the DestinationRule and in Envoy; the notifications are shown as
they would read; then what clients saw, and everything is brought down.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from meshlab.seed import NS
from meshlab.stack import QUICK, LocalStack
from rollout.cli.view import status_panel
from rollout.notify.messages import EMOJI

DECISION_EVENT = {
    "started": "started",
    "promoted": "step-promoted",
    "succeeded": "succeeded",
    "rolled back": "rolled-back",
    "paused": "paused",
}


def _cli(lab: LocalStack, *args: str) -> None:
    result = lab.cli(*args)
    if result.returncode != 0:
        raise RuntimeError(f"rollout {' '.join(args)}: {result.stderr.strip()}")


def _view(lab: LocalStack, note: str) -> Table:
    grid = Table.grid()
    grid.add_row(status_panel(lab.rollout()))
    weights = " ".join(f"{v}={w}%" for v, w in sorted(lab.envoy_weights().items()))
    seen = lab.seen()
    errors = sum(n for (_, status), n in seen.items() if status >= 500 or status == 0)
    grid.add_row(
        Text(
            f"Envoy live weights: {weights}   clients: {sum(seen.values())} "
            f"requests, {errors} failed   {note}"
        )
    )
    return grid


def _follow(
    console: Console,
    lab: LocalStack,
    done: Callable[[dict[str, Any]], bool],
    note: str,
    on_tick: Callable[[], None] = lambda: None,
    limit: float = 120,
) -> bool:
    deadline = time.monotonic() + limit
    with Live(
        _view(lab, note), console=console, refresh_per_second=4, transient=not console.is_terminal
    ) as live:
        while time.monotonic() < deadline:
            on_tick()
            obj = lab.rollout()
            live.update(_view(lab, note))
            if done(obj):
                break
            time.sleep(0.25)
    console.print(_view(lab, note))
    return time.monotonic() < deadline


def _phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def run_demo(
    console: Console, workdir: Path | None = None, traffic_api: str = "virtualservice"
) -> int:
    """Tell the story (on an HTTPRoute with ``traffic_api="httproute"``); 0 when v2
    became stable and v3 was rolled back."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="meshrollout-demo-"))
    console.rule("[bold]meshrollout demo: a local mesh with a real Envoy and Prometheus")
    console.print(
        "Starting the API emulator, 6 backends (two each of v1, v2, v3), Envoy, Prometheus, "
        "traffic at 100 req/s and the controller..."
    )
    lab = LocalStack(workdir, rps=100, traffic_api=traffic_api)
    if traffic_api == "httproute":
        console.print("On the Gateway API: an HTTPRoute with one Service per version.")
    started_at = time.monotonic()
    try:
        lab.up()
        console.print(f"Up in {time.monotonic() - started_at:.0f}s. Envoy routes 100% to v1.")
        console.rule("1. v2 is healthy: 5 → 25 → 50 → 100")
        _cli(lab, "start", "inventory", "v2", *QUICK)
        ok = _follow(console, lab, lambda o: _phase(o) == "Succeeded", "rolling out v2")
        if not ok:
            console.print("[red]v2 did not finish in time")
            return 1
        console.print("[green]v2 serves 100% and is the new stable.")

        console.rule("2. v3 goes bad at 25%")
        _cli(lab, "start", "inventory", "v3", *QUICK)
        fault: dict[str, float] = {}

        def inject() -> None:
            if not fault and lab.envoy_weights().get("v3", 0) >= 25:
                lab.fault("v3", error_rate=0.3)
                fault["at"] = time.monotonic()
                assert lab.traffic is not None
                fault["failed_before"] = lab.traffic.failures_since(0)

        _follow(
            console,
            lab,
            lambda o: _phase(o) == "RolledBack" and lab.envoy_weights().get("v3", 0) == 0,
            "v3 at 30% errors once at 25%",
            on_tick=inject,
        )
        if "at" not in fault or _phase(lab.rollout()) != "RolledBack":
            console.print("[red]v3 was not rolled back")
            return 1
        reaction = time.monotonic() - fault["at"]
        assert lab.traffic is not None
        hurt = lab.traffic.failures_since(0) - fault["failed_before"]
        console.print(
            f"[bold red]Rolled back {reaction:.1f}s after v3 started failing; "
            f"{hurt} client requests failed meanwhile."
        )
        status = lab.rollout()["status"]
        console.print(_outlier_note(lab))
        console.print(f"Envoy's v3 cluster outlier detection: {lab.envoy_outlier('v3')}")
        console.print(f"Why: {status.get('message')}")

        console.rule("3. What the team saw in Slack")
        for entry in status.get("history", []):
            event = DECISION_EVENT.get(entry["decision"])
            if event:
                console.print(
                    f"{EMOJI.get(event, '')} inventory-service: {entry['reason']}", highlight=False
                )

        console.rule("4. What clients saw")
        table = Table("VERSION", "STATUS", "REQUESTS", box=None)
        for (version, code), count in sorted(lab.seen().items()):
            table.add_row(version, str(code), str(count))
        console.print(table)
        console.print(f"Done in {time.monotonic() - started_at:.0f}s.")
        return 0
    finally:
        lab.down()
        console.print("Everything the lab started is stopped.")


def _outlier_note(lab: LocalStack) -> str:
    """Where v3's tightened outlier detection lives: its subset, or its Service's rule."""
    assert lab.api is not None
    if lab.traffic_api == "httproute":
        name = "inventory-v3-meshrollout-outlier"
        rule = lab.api.get("networking.istio.io", "v1", "destinationrules", NS, name)
        detection = rule["spec"]["trafficPolicy"]["outlierDetection"]
        return f"DestinationRule {name} (host inventory-v3) outlier detection: {detection}"
    detection = _subset_outlier(lab, "v3")
    return f"DestinationRule inventory-dr, subset v3 outlier detection now: {detection}"


def _subset_outlier(lab: LocalStack, subset: str) -> Any:
    assert lab.api is not None
    dr = lab.api.get("networking.istio.io", "v1", "destinationrules", NS, "inventory-dr")
    for entry in dr["spec"]["subsets"]:
        if entry["name"] == subset:
            return (entry.get("trafficPolicy") or {}).get("outlierDetection")
    return None
