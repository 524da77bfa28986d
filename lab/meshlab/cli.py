"""``rollout lab up|fault|status|down`` and ``rollout demo``: the local mesh from the shell.

The product's CLI offers these two commands where the lab is installed: this
distribution registers them in the ``meshrollout.cli`` entry-point group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

out = Console()
DEFAULT_STATE = Path(tempfile.gettempdir()) / f"meshrollout-lab-{os.getuid()}"


def _state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "state.json"
    if not path.exists():
        raise click.ClickException(f"no lab is up (no {path}); run: rollout lab up")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@click.group()
def lab() -> None:
    """The local mesh: API emulator, Envoy, backends, Prometheus, controller."""


state_option = click.option("--state-dir", type=Path, default=DEFAULT_STATE, show_default=True)


@lab.command()
@state_option
@click.option("--kubeconfig-out", type=Path, help="Also write the lab's kubeconfig here.")
@click.option("--rps", type=float, default=100.0, help="Client requests per second.")
@click.option("--no-controller", is_flag=True, help="Run the mesh without the controller.")
def up(state_dir: Path, kubeconfig_out: Path | None, rps: float, no_controller: bool) -> None:
    """Start the lab in the background and print its addresses."""
    if (state_dir / "state.json").exists() and _alive(_state(state_dir)["supervisor"]):
        raise click.ClickException(f"a lab is already up in {state_dir}")
    state_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "meshlab.run",
        "--state-dir",
        str(state_dir),
        "--rps",
        str(rps),
    ] + (["--no-controller"] if no_controller else [])
    log = (state_dir / "lab.log").open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 90
    while not (state_dir / "state.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"the lab did not come up; see {state_dir}/lab.log")
        time.sleep(0.2)
    state = _state(state_dir)
    if kubeconfig_out:
        kubeconfig_out.write_text(Path(state["kubeconfig"]).read_text())
    for key in ("kubeconfig", "kubeapi", "envoy", "envoyAdmin", "prometheus", "controllerMetrics"):
        if state.get(key):
            out.print(f"{key:18} {state[key]}", highlight=False)
    out.print(
        f"try: rollout start inventory v2 -n shop --kubeconfig {state['kubeconfig']}",
        highlight=False,
    )
    if state.get("prometheus"):
        out.print(
            f"and watch it: rollout dashboard -n shop --kubeconfig {state['kubeconfig']} "
            f"--prometheus-url {state['prometheus']} --rate-window 10s",
            highlight=False,
        )


@lab.command()
@state_option
@click.argument("version")
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of 503 answers (0..1)."
)
@click.option(
    "--latency-ms", type=click.FloatRange(0, 600_000), default=20.0, help="Median latency."
)
def fault(state_dir: Path, version: str, error_rate: float, latency_ms: float) -> None:
    """Make VERSION's backends fail or slow down (0 and 5 ms put them back)."""
    import urllib.request

    state = _state(state_dir)
    ports = state["backends"].get(version)
    if not ports:
        raise click.ClickException(
            f"no backends for {version} (have {', '.join(state['backends'])})"
        )
    body = json.dumps({"errorRate": error_rate, "latencyMs": latency_ms}).encode()
    for port in ports:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_lab/health", data=body, method="POST"
        )
        urllib.request.urlopen(request, timeout=5).close()
    out.print(f"{version}: {error_rate:.0%} errors, {latency_ms:g} ms median", highlight=False)


@lab.command()
@state_option
def status(state_dir: Path) -> None:
    """The lab's processes and what clients have seen."""
    state = _state(state_dir)
    table = Table("PROCESS", "PID", "UP", box=None)
    for name, pid in {"supervisor": state["supervisor"], **state["pids"]}.items():
        table.add_row(name, str(pid), "yes" if _alive(pid) else "no")
    out.print(table)
    traffic = state_dir / "traffic.json"
    if traffic.exists():
        seen = Table("VERSION", "STATUS", "REQUESTS", box=None)
        for row in sorted(
            json.loads(traffic.read_text()), key=lambda r: (r["version"], r["status"])
        ):
            seen.add_row(row["version"], str(row["status"]), str(row["count"]))
        out.print(seen)


@lab.command()
@state_option
def down(state_dir: Path) -> None:
    """Stop every process the lab started."""
    state = _state(state_dir)
    supervisor = int(state["supervisor"])
    if _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(supervisor) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in [supervisor, *state["pids"].values()]:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    (state_dir / "state.json").unlink(missing_ok=True)
    out.print("lab down")


@click.command()
@click.option("--gateway-api", is_flag=True, help="Tell it on an HTTPRoute (Gateway API).")
def demo(gateway_api: bool) -> None:
    """A healthy canary and a failing one on the local mesh, in under three minutes."""
    # Imported here: `rollout --help` loads this module to list the command, and need
    # not load the whole stack for that.
    from meshlab.demo import run_demo

    sys.exit(run_demo(out, traffic_api="httproute" if gateway_api else "virtualservice"))
