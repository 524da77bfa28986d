"""``python -m bench judge [--quick] [--runs N] [--json PATH]``: run, summarise, print.

The JSON is a contract other tools read::

    {"runs": N, "scenarios": {SCENARIO: {JUDGE: {
        "false_rollback_rate", "detection_rate", "median_time_to_rollback_s",
        "p90_time_to_rollback_s", "median_excess_failed", "bad_promotion_rate",
        "bad_full_promotion_rate", "median_time_to_promotion_s"}}}}

Judges: ``ours`` (the sequential judge), ``threshold`` (the shipped default judge
with a new user's settings), then the rivals. ``bad_promotion_rate`` is the share
of runs in which a bad canary was promoted past any step; ``bad_full_promotion_rate``
the share in which it reached 100% and the rollout succeeded (what users care
most about: a bad canary caught at 25% cost a few requests, one at 100% costs a release).

A figure that does not apply (detection of a healthy canary, false rollbacks
of a bad one, a median most runs never reached) is ``null``. The table adds a
95% Clopper-Pearson interval to each false-rollback rate.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta

from bench.judge.scenarios import QUICK, Scenario, by_name
from bench.judge.simulate import JUDGES, Outcome, run_many

FIGURES = (
    "false_rollback_rate",
    "detection_rate",
    "median_time_to_rollback_s",
    "p90_time_to_rollback_s",
    "median_excess_failed",
    "bad_promotion_rate",
    "bad_full_promotion_rate",
    "median_time_to_promotion_s",
)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials."""
    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def _quantile(values: list[float], q: float) -> float | None:
    """A quantile where runs that never got there count as infinitely late."""
    if not values:
        return None
    value = float(np.quantile(np.array(values), q, method="inverted_cdf"))
    return None if math.isinf(value) else round(value, 1)


def summarise(scenario: Scenario, outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    rolled = [o for o in outcomes if o.rolled_back_at is not None]
    if not scenario.bad:
        return {
            "false_rollback_rate": len(rolled) / n,
            "detection_rate": None,
            "median_time_to_rollback_s": None,
            "p90_time_to_rollback_s": None,
            "median_excess_failed": None,
            "bad_promotion_rate": None,
            "bad_full_promotion_rate": None,
            "median_time_to_promotion_s": _quantile(
                [math.inf if o.succeeded_at is None else o.succeeded_at for o in outcomes], 0.5
            ),
        }
    onset = scenario.onset_s
    caught = [o for o in rolled if o.rolled_back_at is not None and o.rolled_back_at >= onset]
    delays = [
        math.inf
        if o.rolled_back_at is None or o.rolled_back_at < onset
        else o.rolled_back_at - onset
        for o in outcomes
    ]
    return {
        "false_rollback_rate": None,
        "detection_rate": len(caught) / n,
        "median_time_to_rollback_s": _quantile(delays, 0.5),
        "p90_time_to_rollback_s": _quantile(delays, 0.9),
        "median_excess_failed": round(float(np.median([o.excess_failed for o in outcomes])), 1),
        "bad_promotion_rate": sum(o.promoted_while_bad for o in outcomes) / n,
        # Succeeded after the regression began: the judge had the chance to see it.
        "bad_full_promotion_rate": sum(
            o.succeeded_at is not None and o.succeeded_at >= onset for o in outcomes
        )
        / n,
        "median_time_to_promotion_s": None,
    }


def _chunk(
    args: tuple[Scenario, list[int], tuple[str, ...]],
) -> tuple[dict[str, list[Outcome]], float]:
    started = time.process_time()
    return run_many(*args), time.process_time() - started


def simulate(
    scenarios: list[Scenario], runs: int, judges: tuple[str, ...] = JUDGES, workers: int = 2
) -> dict[str, Any]:
    """Every judge through ``runs`` worlds of every scenario; the JSON-ready report."""
    return _simulate(scenarios, runs, judges, workers)[0]


def _simulate(
    scenarios: list[Scenario], runs: int, judges: tuple[str, ...], workers: int
) -> tuple[dict[str, Any], float]:
    """The report, and the CPU seconds its workers spent (what a busy machine cannot hide)."""
    jobs: list[tuple[Scenario, list[int], tuple[str, ...]]] = []
    for scenario in scenarios:
        # Seeds from the name: a scenario's runs are the same whatever else is run with it.
        seeds = [zlib.crc32(scenario.name.encode()) * 100_000 + run for run in range(runs)]
        for share in range(workers * 2):
            jobs.append((scenario, seeds[share :: workers * 2], judges))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        timed = list(pool.map(_chunk, jobs))
    parts = [part for part, _ in timed]
    report: dict[str, Any] = {"runs": runs, "scenarios": {}}
    details: dict[str, dict[str, list[Outcome]]] = {}
    for job, part in zip(jobs, parts, strict=True):
        merged = details.setdefault(job[0].name, {name: [] for name in judges})
        for name, outcomes in part.items():
            merged[name].extend(outcomes)
    for scenario in scenarios:
        report["scenarios"][scenario.name] = {
            name: summarise(scenario, outcomes) for name, outcomes in details[scenario.name].items()
        }
    return report, sum(cpu for _, cpu in timed)


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{100 * value:.1f}%"
    return f"{value:g}"


def table(report: dict[str, Any]) -> str:
    """The report for people: one block per scenario, one row per judge."""
    runs = report["runs"]
    head = (
        f"{'judge':<13}{'false rb (95% CI)':>20}{'detected':>10}{'rb med s':>10}"
        f"{'rb p90 s':>10}{'excess 5xx':>12}{'bad promo':>11}{'bad full':>10}{'promoted s':>12}"
    )
    lines = []
    for scenario, judges in report["scenarios"].items():
        lines += ["", f"{scenario}  ({runs} runs)", head]
        for name, f in judges.items():
            false = f["false_rollback_rate"]
            if false is None:
                rb = "-"
            else:
                low, high = clopper_pearson(round(false * runs), runs)
                rb = f"{100 * false:.1f}% ({100 * low:.1f}-{100 * high:.1f})"
            lines.append(
                f"{name:<13}{rb:>20}{_cell(f['detection_rate'], 'rate'):>10}"
                f"{_cell(f['median_time_to_rollback_s'], 's'):>10}"
                f"{_cell(f['p90_time_to_rollback_s'], 's'):>10}"
                f"{_cell(f['median_excess_failed'], 'n'):>12}"
                f"{_cell(f['bad_promotion_rate'], 'rate'):>11}"
                f"{_cell(f['bad_full_promotion_rate'], 'rate'):>10}"
                f"{_cell(f['median_time_to_promotion_s'], 's'):>12}"
            )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """Two tables for the README: healthy canaries, then bad ones, a column per judge."""
    runs = report["runs"]
    scenarios = report["scenarios"]
    judges = list(next(iter(scenarios.values())))
    head = "| scenario | " + " | ".join(judges) + " |\n" + "|---" * (len(judges) + 1) + "|"
    healthy, bad = [head], [head]
    for name, by_judge in scenarios.items():
        cells = []
        for judge in judges:
            f = by_judge[judge]
            if f["false_rollback_rate"] is not None:
                _, high = clopper_pearson(round(f["false_rollback_rate"] * runs), runs)
                promoted = f["median_time_to_promotion_s"]
                when = "never" if promoted is None else f"{promoted:g} s"
                cells.append(f"{100 * f['false_rollback_rate']:.1f}% ({100 * high:.1f}) · {when}")
            else:
                median = f["median_time_to_rollback_s"]
                when = "-" if median is None else f"{median:g} s"
                cells.append(
                    f"{100 * f['detection_rate']:.0f}% · {when} · {f['median_excess_failed']:g}"
                    f" · {100 * f['bad_promotion_rate']:.1f}%"
                    f" / {100 * f['bad_full_promotion_rate']:.1f}%"
                )
        row = f"| {name} | " + " | ".join(cells) + " |"
        (healthy if by_judge[judges[0]]["false_rollback_rate"] is not None else bad).append(row)
    return "\n".join([*healthy, "", *bad])


def _figure(report: dict[str, Any], scenario: str, judge: str, figure: str) -> Any:
    return report["scenarios"].get(scenario, {}).get(judge, {}).get(figure)


def bar(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's bar (#15), line by line: (what was measured, met?), for the scenarios run."""
    lines: list[tuple[str, bool]] = []
    scenarios = report["scenarios"]

    def promoted(name: str) -> float:
        median = _figure(report, name, "ours", "median_time_to_promotion_s")
        return math.inf if median is None else float(median)

    def when(seconds: float) -> str:
        return "never" if math.isinf(seconds) else f"{seconds:g} s"

    for name, most in (("aa_100rps", 360.0), ("aa_1000rps", 240.0), ("aa_10rps", 3600.0)):
        if name in scenarios:
            median = when(promoted(name))
            text = f"{name}: ours' median time to full promotion {median} (<= {most:g} s)"
            lines.append((text, promoted(name) <= most))
    if "common_mode_100rps" in scenarios and "aa_100rps" in scenarios:
        slow, usual = promoted("common_mode_100rps"), promoted("aa_100rps")
        text = f"common_mode_100rps: ours' median {when(slow)} (<= 2 x {when(usual)})"
        lines.append((text, slow <= 2 * usual))
    for name in [n for n in scenarios if n.startswith(("aa_", "common_mode"))]:
        rate = _figure(report, name, "ours", "false_rollback_rate")
        text = f"{name}: ours rolls back {100 * rate:.1f}% of healthy canaries (<= 1%)"
        lines.append((text, rate <= 0.01))
    for name in ("err2x_100rps", "p99_50pct_100rps", "p99_50pct_tail_100rps", "err4x_10rps"):
        rate = _figure(report, name, "ours", "detection_rate")
        if rate is not None:
            lines.append((f"{name}: ours detects {100 * rate:.1f}% (>= 95%)", rate >= 0.95))
    for name in scenarios:
        if name == "err2x_100rps" or name.startswith(("err4x_", "p99_")):
            rate = _figure(report, name, "ours", "bad_full_promotion_rate")
            text = f"{name}: ours promotes the bad canary to 100% in {100 * rate:.1f}% (<= 1%)"
            lines.append((text, rate <= 0.01))
    ours, oracle, flagger = (
        _figure(report, "err4x_1000rps", judge, "median_excess_failed")
        for judge in ("ours", "wald_oracle", "flagger")
    )
    if ours is not None and oracle is not None and flagger is not None:
        ratio, fewer = ours / max(oracle, 1e-9), flagger / max(ours, 1e-9)
        text = f"err4x_1000rps: excess 5xx ours {ours:g}, oracle {oracle:g}: {ratio:.2f}x (<= 2x)"
        lines.append((text, ours <= 2 * oracle))
        text = f"err4x_1000rps: flagger {flagger:g} / ours {ours:g}: {fewer:.1f}x fewer (>= 8x)"
        lines.append((text, flagger >= 8 * ours))
    return lines


def main(
    quick: bool, runs: int | None, json_path: Path | None, only: tuple[str, ...] | None
) -> dict[str, Any]:
    names = only or (QUICK if quick else None)
    scenarios = by_name(names)
    runs = runs or (40 if quick else 1000)
    started = time.monotonic()
    workers = 2
    report, cpu = _simulate(scenarios, runs, JUDGES, workers)
    print(table(report))
    # The machine is shared: the CPU time says what the run costs on idle cores.
    print(
        f"\n{len(scenarios)} scenarios x {runs} runs x {len(JUDGES)} judges "
        f"in {time.monotonic() - started:.0f} s ({cpu:.0f} CPU s in {workers} workers: "
        f"{cpu / workers:.0f} s on {workers} idle cores)\n\nthe bar (issue #15):"
    )
    for line, met in bar(report):
        print(f"  {'met    ' if met else 'NOT MET'}  {line}")
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        json_path.with_suffix(".md").write_text(markdown(report) + "\n")
    return report
