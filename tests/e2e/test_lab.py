"""End to end on the local mesh: real Envoy, real backends, real Prometheus, the controller."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reaction import one_run
from meshlab.seed import NS
from meshlab.stack import QUICK, LocalStack
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait

ROOT = Path(__file__).resolve().parents[2]
# By itself, after the rest: the time to rollback on two cores (< 10 s) measured beside
# another end-to-end file measured both (13.95 s once in CI).
pytestmark = pytest.mark.alone


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(tmp_path_factory.mktemp("lab"), rps=100).up()
    yield mesh
    mesh.down()


def cli(lab: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.cli(*args)


def phase(lab: LocalStack) -> str:
    return str(lab.status().get("phase"))


def test_healthy_promotion_through_envoy(lab: LocalStack) -> None:
    """v2 goes all the way; Envoy's live config ends with v2 alone; clients saw no error."""
    before = sum(n for (_, s), n in lab.seen().items() if s != 200)
    assert cli(lab, "start", "inventory", "v2", *QUICK).returncode == 0
    wait(lambda: phase(lab) == "Succeeded", timeout=420, lab=lab)  # the gate's evidence, under load
    wait(lambda: lab.envoy_weights() == {"v2": 100}, timeout=5)
    assert sum(n for (_, s), n in lab.seen().items() if s != 200) == before
    assert lab.seen()[("v2", 200)] > 100


def test_5xx_regression_rolled_back_and_tightened_in_envoy(lab: LocalStack) -> None:
    """v3 fails at 25%: rolled back within seconds; the DestinationRule's tightened outlier
    detection is in Envoy's own config dump."""
    result = one_run(lab, "v3")
    assert result["reaction_s"] < 10
    outlier = lab.envoy_outlier("v3")
    assert outlier is not None
    assert (outlier["consecutive_5xx"], outlier["interval"], outlier["base_ejection_time"]) == (
        1,
        "1s",
        "300s",
    )


def run_number(lab: LocalStack) -> int:
    return int(lab.status().get("run", 0))


def test_latency_regression_rolled_back(lab: LocalStack) -> None:
    """v3 slows to a 600 ms median once it serves traffic: rolled back on the P99."""
    before = run_number(lab)
    lab.fault("v3", error_rate=0.0, latency_ms=600)
    assert cli(lab, "start", "inventory", "v3", *QUICK).returncode == 0
    wait(lambda: run_number(lab) > before and phase(lab) == "RolledBack", timeout=60, lab=lab)
    lab.fault("v3", error_rate=0.0, latency_ms=20)
    wait(lambda: lab.envoy_weights().get("v3", 0) == 0, timeout=5)
    message = lab.status()["message"]  # the share above stable's P99 bucket, or the P99 SLO
    assert "slower than" in message or "P99" in message


def test_tightened_outlier_detection_ejects_failing_hosts(lab: LocalStack) -> None:
    """With rollback off, a regression pauses and tightens; Envoy then ejects v3's failing
    hosts, as its outlier-ejection stats show."""
    assert lab.api is not None
    t = lab.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert t is not None
    lab.fault("v3", error_rate=0.0)
    assert cli(lab, "start", "inventory", "v3", *QUICK).returncode == 0
    lab.api.store.update(
        t,
        NS,
        "inventory",
        lambda d: {**d, "spec": {**d["spec"], "onRegression": {"rollback": False}}},
    )
    wait(lambda: lab.envoy_weights().get("v3", 0) >= 5)
    lab.fault("v3", error_rate=0.5)
    wait(lambda: phase(lab) == "Paused", timeout=60, lab=lab)
    stat = "cluster.inventory-service|shop|v3.outlier_detection.ejections_enforced_total"
    wait(lambda: lab.envoy_stat(stat) > 0, timeout=30)
    lab.fault("v3", error_rate=0.0)
    assert cli(lab, "abort", "inventory").returncode == 0
    wait(lambda: phase(lab) == "RolledBack", timeout=30, lab=lab)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _port_free(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_lab_commands_leave_nothing_behind(tmp_path: Path) -> None:
    """`rollout lab up`, `fault`, `status` and `down`: afterwards no process or port is left."""
    need_prometheus()
    state_dir = tmp_path / "lab"

    def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollout", "lab", *args, "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    up = lab_cli("up", "--kubeconfig-out", str(tmp_path / "kc"), "--no-controller")
    assert up.returncode == 0, up.stderr
    assert "envoy" in up.stdout
    state = json.loads((state_dir / "state.json").read_text())
    assert (tmp_path / "kc").read_text() == Path(state["kubeconfig"]).read_text()
    assert lab_cli("fault", "v2", "--error-rate", "0.5").returncode == 0
    time.sleep(1.5)
    shown = lab_cli("status")
    assert "envoy" in shown.stdout
    assert "v1" in shown.stdout
    assert lab_cli("down").returncode == 0
    pids = [state["supervisor"], *state["pids"].values()]
    assert not [p for p in pids if _alive(p)]
    for key in ("envoy", "envoyAdmin", "prometheus", "kubeapi"):
        assert _port_free(state[key]), key


def test_interrupted_demo_leaves_no_process(tmp_path: Path) -> None:
    """Ctrl-C in the middle of `rollout demo`: every process it started is stopped."""
    need_prometheus()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "rollout", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Ctrl-C as a terminal sends it: a suite started in the background (`make test &`
        # from a script) hands its children SIGINT ignored, and the demo would run on.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    pids_files: list[Path] = []
    while not pids_files:
        assert time.monotonic() < deadline, "the demo never started its processes"
        pids_files = list(tmp_path.glob("meshrollout-demo-*/pids.json"))
        time.sleep(0.2)
    time.sleep(8)
    demo.send_signal(signal.SIGINT)
    try:
        demo.wait(timeout=60)
    except subprocess.TimeoutExpired:
        demo.kill()  # not left running beside the next tests
        raise
    pids = json.loads(pids_files[0].read_text())
    assert len(pids) >= 8  # six backends, Envoy, Prometheus (and the controller)
    assert not [name for name, pid in pids.items() if _alive(pid)]
