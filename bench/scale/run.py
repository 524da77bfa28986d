"""One scale measurement per size N, and the report: the figures of issue #16.

For each N: the world comes up (``bench.scale.world``), all N Rollouts are created
at once, and once every one of them carries its first step's weight the controller
is measured for a few analysis intervals ("cycles") of steady state (every step's
clock started and its first evaluation due): CPU seconds (the median cycle) and
RSS (``/proc``), Prometheus query requests (Prometheus's own counter), Kubernetes API
reads and writes (the emulator's audit log), and evaluation lag (from the status
writes: when each verdict was written, against when it was due, that is one interval
after the previous verdict or after the step began). Then rollout 0's canary starts
failing, just after one of its evaluations, and we time fault onset → canary weight 0
in its VirtualService. Last, every
rollout is promoted to the end, and once all are finished with nothing left to deliver
(empty outboxes) the writes of a few quiet cycles are counted: cycles where nothing
changed (lease renewals are counted apart).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.scale.world import World
from meshlab.kubeapi.faults import AuditEntry
from rollout.model import parse_duration
from rollout.model.analysis import Analysis

INTERVAL_S = parse_duration(Analysis().interval).total_seconds()
FIELDS = (
    "rollouts",
    "cpu_s_per_cycle",
    "rss_mb",
    "prometheus_requests_per_cycle",
    "api_reads_per_cycle",
    "api_writes_per_noop_cycle",
    "eval_lag_p50_s",
    "eval_lag_p99_s",
    "reaction_s",
)
TERMINAL = ("Succeeded", "RolledBack", "Failed")


def _wait(what: str, done: Any, timeout: float, every: float = 1.0) -> float:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


def _time(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def evaluation_lags(entries: list[AuditEntry], start: float, end: float) -> list[float]:
    """How late each verdict written in [start, end) was, and how late the evaluations due
    by ``end`` but not yet written are at ``end`` (so a starved rollout counts too)."""
    due: dict[str, float] = {}
    lags: list[float] = []
    for e in entries:
        if not (e.resource.startswith("rollouts.") and e.subresource == "status"):
            continue
        if e.verb not in ("update", "patch") or e.code >= 300 or e.at >= end:
            continue
        status = (e.body or {}).get("status") or {}
        key = f"{e.namespace}/{e.name}"
        verdict_at = _time((status.get("lastVerdict") or {}).get("at"))
        step_at = _time(status.get("stepStartedAt"))
        if status.get("phase") not in ("Progressing", "Paused") or step_at is None:
            due.pop(key, None)
            continue
        last = max(step_at, verdict_at or 0.0)
        new = verdict_at is not None and verdict_at >= step_at and e.at >= start
        if new and key in due and last + INTERVAL_S > due[key]:  # a verdict due at due[key]
            lags.append(max(0.0, e.at - due[key]))
        due[key] = last + INTERVAL_S
    lags += [end - d for d in due.values() if start <= d < end - 1.0]
    return lags


def measure(n: int, workdir: Path, cycles: int = 4, noop_cycles: int = 2) -> dict[str, Any]:
    """Every figure for N rollouts on one controller."""
    world = World(n, workdir).up()
    try:
        return _measure(world, n, cycles, noop_cycles)
    finally:
        world.down()


def _phases(world: World) -> list[tuple[str | None, int]]:
    return [(s.get("phase"), s.get("canaryWeight", 0)) for s in world.statuses()]


def _settled(world: World) -> bool:
    """Every rollout finished, with nothing left to deliver (an empty outbox)."""
    return all(s.get("phase") in TERMINAL and not s.get("outbox") for s in world.statuses())


def _measure(world: World, n: int, cycles: int, noop_cycles: int) -> dict[str, Any]:
    time.sleep(2 * 5)  # Prometheus has two scrapes of every version before anything starts
    mark0 = world.audit_mark()
    world.start_rollouts()
    started_s = _wait(
        f"all {n} rollouts at their first step",
        lambda: all(p == "Progressing" and w > 0 for p, w in _phases(world)),
        timeout=120 + 0.5 * n,
    )
    # A step's clock starts once its weight is confirmed, a reconcile after the weight is
    # written: steady state begins when every clock has started and its first
    # evaluation has come due (the last one's at most an interval and a third later).
    _wait(
        "every step's clock started",
        lambda: all(s.get("stepStartedAt") for s in world.statuses()),
        timeout=60 + 0.1 * n,
    )
    last_start = max(_time(s.get("stepStartedAt")) or 0.0 for s in world.statuses())
    time.sleep(max(0.0, last_start + 1.5 * INTERVAL_S - time.time()))
    # The window starts mid-cycle (so it holds as many evaluation batches as cycles, not
    # one more at each edge); the CPU is read at every cycle's edge, and the figure is
    # the median cycle (one noisy cycle on a shared machine does not move it).
    mark, t_start = world.audit_mark(), time.time()
    queries0 = world.prometheus_queries()
    cpu_marks = [world.cpu()]
    rss = 0.0
    end = t_start + cycles * INTERVAL_S
    while time.time() < end:
        rss = max(rss, world.rss())
        if len(cpu_marks) < cycles and time.time() >= t_start + len(cpu_marks) * INTERVAL_S:
            cpu_marks.append(world.cpu())
        time.sleep(0.2)
    queries1, t_end = world.prometheus_queries(), time.time()
    cpu_marks.append(world.cpu())
    per_cycle = [b - a for a, b in pairwise(cpu_marks)]
    steady = world.audit(mark)
    lags = evaluation_lags(world.audit(mark0), t_start, t_end)
    elapsed_cycles = (t_end - t_start) / INTERVAL_S

    # The fault comes just after rollout 0's evaluation, the worst moment (a whole interval
    # to its next one): at every N the same moment, so the reaction times compare.
    def verdict() -> Any:
        return ((world.rollout(0).get("status") or {}).get("lastVerdict") or {}).get("at")

    last = verdict()
    _wait("a fresh verdict of rollout 0", lambda: verdict() != last, 3 * INTERVAL_S, 0.02)
    world.fault(0, 0.3)
    onset = time.monotonic()
    _wait("the regressing canary at weight 0", lambda: world.canary_weight(0) == 0, 180, 0.05)
    reaction = time.monotonic() - onset

    world.promote_all()
    finished_s = _wait("every rollout finished", lambda: _settled(world), timeout=120 + 0.5 * n)
    time.sleep(3)  # the watch echoes of the last writes
    noop_mark, noop_start = world.audit_mark(), time.time()
    time.sleep(noop_cycles * INTERVAL_S)
    noop = world.audit(noop_mark)
    noop_elapsed = (time.time() - noop_start) / INTERVAL_S
    return {
        "rollouts": n,
        "cpu_s_per_cycle": round(statistics.median(per_cycle), 3),
        "rss_mb": round(rss, 1),
        "prometheus_requests_per_cycle": round((queries1 - queries0) / elapsed_cycles, 2),
        "api_reads_per_cycle": round(world.reads(steady) / elapsed_cycles, 1),
        "api_writes_per_noop_cycle": round(world.writes(noop) / noop_elapsed, 2),
        "eval_lag_p50_s": round(_quantile(lags, 0.5), 2),
        "eval_lag_p99_s": round(_quantile(lags, 0.99), 2),
        "reaction_s": round(reaction, 2),
        "details": {
            "start_all_s": round(started_s, 1),
            "finish_all_s": round(finished_s, 1),
            "cpu_s_per_cycle_mean": round((cpu_marks[-1] - cpu_marks[0]) / elapsed_cycles, 3),
            "cpu_s_each_cycle": [round(c, 2) for c in per_cycle],
            "api_writes_per_cycle": round(world.writes(steady) / elapsed_cycles, 1),
            "lease_writes_per_noop_cycle": round(
                sum(e.resource.startswith("leases") for e in noop) / noop_elapsed, 2
            ),
            "api_reads_per_noop_cycle": round(world.reads(noop) / noop_elapsed, 1),
            "lag_samples": len(lags),
            "cycles": round(elapsed_cycles, 2),
        },
    }


def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON contract: ``interval_s`` and one result per N with exactly the issue's keys."""
    return {
        "interval_s": INTERVAL_S,
        "results": [{k: r[k] for k in FIELDS} for r in results],
        "details": [{"rollouts": r["rollouts"], **r["details"]} for r in results],
    }


def table(doc: dict[str, Any]) -> str:
    head = (
        "rollouts  cpu s/cycle  rss MB  prom req/cycle  api reads/cycle  "
        "writes/noop cycle  lag p50  lag p99  reaction s"
    )
    rows = [f"scale: one controller, analysis interval {doc['interval_s']:g} s (one cycle)", head]
    for r in doc["results"]:
        rows.append(
            f"{r['rollouts']:>8}  {r['cpu_s_per_cycle']:>11.2f}  {r['rss_mb']:>6.0f}  "
            f"{r['prometheus_requests_per_cycle']:>14.1f}  {r['api_reads_per_cycle']:>15.1f}  "
            f"{r['api_writes_per_noop_cycle']:>17.1f}  {r['eval_lag_p50_s']:>7.1f}  "
            f"{r['eval_lag_p99_s']:>7.1f}  {r['reaction_s']:>10.1f}"
        )
    return "\n".join(rows)


def run(sizes: list[int], json_path: Path | None = None, cycles: int = 6) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="meshrollout-scale-"))
    results = []
    for n in sizes:
        results.append(measure(n, root / f"n{n}", cycles))
        print(f"  N={n}: {json.dumps(results[-1])}", flush=True)
    doc = report(results)
    print(table(doc))
    if json_path:
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
