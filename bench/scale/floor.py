"""The floor under the scale benchmark's CPU figure: what a status write per rollout per
cycle costs a Python process through the official ``kubernetes`` client, with nothing
else done (no reconcile, no judge, no Prometheus).

``python -m bench scale-floor [--rollouts N] [--rounds R] [--json PATH]``: N Rollouts in
the emulator, each with the status a rollout on the default (sequential) judge carries mid-step
(``sample_rollout.json``, 9 KB, taken from a scale run); a writer process lists them,
watches them, and each round replaces every status (a new verdict time) through our
``KubeClient``, as the controller does once per evaluation, while its watch decodes the
echoes. The writer's CPU seconds per round are the least a controller that writes its
status every evaluation can spend per cycle at N; the scale benchmark's figure is
compared against it (README, "Scale").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).with_name("sample_rollout.json")
NAMESPACE = "floor"


def _writer(kubeconfig: str, n: int, rounds: int) -> None:
    """Run in the writer process: every status replaced ``rounds`` times, CPU per round."""
    from rollout.kube import KubeClient
    from rollout.kube.resources import ROLLOUTS

    kube = KubeClient.connect(kubeconfig, None, "floor")
    objects, version = kube.list(ROLLOUTS, NAMESPACE)
    echoes = [0]

    def watch() -> None:
        for _event in kube.watch(ROLLOUTS, NAMESPACE, version, timeout_s=600):
            echoes[0] += 1

    threading.Thread(target=watch, daemon=True).start()
    for index in range(rounds):
        started = time.process_time()
        for i, obj in enumerate(objects):
            verdict = {**obj["status"]["lastVerdict"], "at": f"2026-01-01T00:{index:02d}:00Z"}
            status = {**obj["status"], "lastVerdict": verdict}
            name = obj["metadata"]["name"]
            objects[i] = kube.replace(
                ROLLOUTS, NAMESPACE, name, {**obj, "status": status}, sub="status"
            )
        deadline = time.monotonic() + 30
        while echoes[0] < (index + 1) * n and time.monotonic() < deadline:
            time.sleep(0.05)
        print(json.dumps({"cpu_s": round(time.process_time() - started, 3)}), flush=True)


def run(n: int = 1000, rounds: int = 5, json_path: Path | None = None) -> dict[str, Any]:
    """The writer's CPU seconds per round of N status writes (median and each round)."""
    from meshlab.kubeapi import KubeAPI

    sample = json.loads(SAMPLE.read_text())
    api = KubeAPI.start(history_limit=max(2_000, n * (rounds + 2)))
    try:
        kind = api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
        assert kind is not None
        for i in range(n):
            body = {**sample, "metadata": {"name": f"r{i:04d}"}}
            body.pop("status")
            api.store.create(kind, NAMESPACE, body)
            api.store.update(
                kind,
                NAMESPACE,
                f"r{i:04d}",
                lambda doc: {**doc, "status": sample["status"]},
                subresource="status",
            )
        kubeconfig = api.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig", "floor")
        answer = subprocess.run(
            [sys.executable, "-m", "bench.scale.floor", str(kubeconfig), str(n), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
            timeout=600,
        )
    finally:
        api.stop()
    each = [json.loads(line)["cpu_s"] for line in answer.stdout.splitlines() if line]
    doc = {"rollouts": n, "cpu_s_per_round": statistics.median(each), "cpu_s_each_round": each}
    if json_path:
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"floor: {n} status writes (+ their watch echoes) through the kubernetes client: "
        f"{doc['cpu_s_per_round']:.2f} CPU s per round (median of {rounds}: {each})"
    )
    return doc


if __name__ == "__main__":
    _writer(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
