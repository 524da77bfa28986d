"""How fast a bad canary is rolled back on the local mesh, and how many users it hurt.

Each run: a canary (v3) starts; once Envoy sends it 25% of the traffic, its
backends start answering 30% 503s; we time fault onset → the canary's weight at
0 in Envoy's live config, and count the failed requests clients saw meanwhile.
Real Envoy, real Prometheus scraping every second, the real controller.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from meshlab.stack import QUICK, LocalStack


def _phase(lab: LocalStack) -> str:
    return str(lab.status().get("phase"))


def one_run(lab: LocalStack, canary: str = "v3", timeout: float = 90) -> dict[str, float]:
    lab.fault(canary, error_rate=0.0)
    started = lab.cli("start", "inventory", canary, *QUICK)
    if started.returncode != 0:
        raise RuntimeError(started.stderr.strip())
    deadline = time.monotonic() + timeout
    while lab.envoy_weights().get(canary, 0) < 25:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{canary} never reached 25% (phase {_phase(lab)})")
        time.sleep(0.05)
    assert lab.traffic is not None
    lab.fault(canary, error_rate=0.3)
    onset = time.monotonic()
    while lab.envoy_weights().get(canary, 0) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{canary} was not rolled back (phase {_phase(lab)})")
        time.sleep(0.05)
    reaction = time.monotonic() - onset
    failed = lab.traffic.failures_since(onset)
    lab.fault(canary, error_rate=0.0)
    while _phase(lab) != "RolledBack":
        time.sleep(0.1)
    # Prometheus sees the errors a scrape and a rule evaluation late: let them age out
    # before the next run, or they would be counted in its first step.
    time.sleep(5)
    return {"reaction_s": reaction, "failed_requests": float(failed)}


def run(runs: int, json_path: Path | None = None) -> dict[str, Any]:
    lab = LocalStack(Path(tempfile.mkdtemp(prefix="meshrollout-bench-")), rps=100).up()
    try:
        results = [one_run(lab) for _ in range(runs)]
    finally:
        lab.down()
    reactions = sorted(r["reaction_s"] for r in results)
    failed = sorted(r["failed_requests"] for r in results)

    def p90(values: list[float]) -> float:
        return values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]

    report: dict[str, Any] = {
        "runs": runs,
        "rps": 100,
        "fault": "30% 503s once the canary serves 25%",
        "reaction_s": {
            "median": statistics.median(reactions),
            "p90": p90(reactions),
            "all": reactions,
        },
        "failed_requests": {"median": statistics.median(failed), "p90": p90(failed), "all": failed},
    }
    print(f"reaction over {runs} runs (fault onset → canary at 0% in Envoy's live config)")
    print(
        f"  time to rollback   median {report['reaction_s']['median']:.2f} s   "
        f"p90 {report['reaction_s']['p90']:.2f} s"
    )
    print(
        f"  failed requests    median {report['failed_requests']['median']:.0f}       "
        f"p90 {report['failed_requests']['p90']:.0f}   (at 100 req/s, canary at 25%)"
    )
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    return report
