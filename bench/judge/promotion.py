"""``python -m bench judge --promotion-table [--runs N] [--override JSON]...``: how long a
healthy canary takes to reach 100% with ours, against traffic and the spec's settings.

Healthy canaries (A/A: both versions alike) at 1, 10, 100 and 1,000 requests per
second go through ours (the sequential judge and the engine, as in the benchmark)
once per set of ``spec.analysis`` overrides, e.g. ``{"tolerance": 0.5}``; each set
is merged into the spec as a user would write it, so any field of ``Analysis`` can
be compared, including ones added after this was written. The markdown table (the
median time to full promotion, "never" when most runs did not get there within the
hour, and the false rollback rate) is printed and written to ``bench/promotion.md``,
for the README: a team reads off the traffic it has and the bound it can accept.
"""

from __future__ import annotations

import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.judge.ours import ours
from bench.judge.report import summarise
from bench.judge.scenarios import Scenario, by_name
from bench.judge.simulate import Outcome, run_many
from rollout.model import Analysis

OUT = Path(__file__).resolve().parents[1] / "promotion.md"
TRAFFIC = (Scenario("aa_1rps", 1), *by_name(("aa_10rps", "aa_100rps", "aa_1000rps")))


def default_overrides() -> list[dict[str, Any]]:
    """The spec's defaults, then looser regression bounds: ``mustCatch`` once the judge has
    it (issue #15), the tolerance until then."""
    if "must_catch" in Analysis.model_fields:
        return [
            {},
            {"mustCatch": {"errors": 1.5, "slowRequests": 2.0}},
            {"mustCatch": {"errors": 3.0, "slowRequests": 4.0}},
        ]
    return [{}, {"tolerance": 1.0}, {"tolerance": 3.0}]


def label(overrides: dict[str, Any]) -> str:
    """A column's name: the overrides as a user writes them under ``analysis``."""
    if not overrides:
        return "defaults"
    return "`" + json.dumps(overrides, separators=(", ", ": ")) + "`"


def _chunk(args: tuple[Scenario, list[int], dict[str, Any]]) -> list[Outcome]:
    scenario, seeds, overrides = args
    return run_many(scenario, seeds, ("ours",), overrides)["ours"]


def measure(
    runs: int,
    overrides: list[dict[str, Any]],
    traffic: tuple[Scenario, ...] = TRAFFIC,
    workers: int = 2,
) -> dict[str, dict[str, dict[str, Any]]]:
    """{scenario: {column label: the report's figures}}: ours, ``runs`` worlds per cell."""
    for override in overrides:
        ours(traffic[0], override)  # a spec with a typo fails here, before any work
    jobs: list[tuple[Scenario, list[int], dict[str, Any]]] = []
    for scenario in traffic:
        # The benchmark's seeds: aa_100rps here sees the worlds it sees in the benchmark.
        seeds = [zlib.crc32(scenario.name.encode()) * 100_000 + run for run in range(runs)]
        for override in overrides:
            for share in range(workers * 2):
                jobs.append((scenario, seeds[share :: workers * 2], override))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_chunk, jobs))
    merged: dict[tuple[str, str], list[Outcome]] = {}
    for (scenario, _, override), part in zip(jobs, parts, strict=True):
        merged.setdefault((scenario.name, label(override)), []).extend(part)
    return {
        scenario.name: {
            label(o): summarise(scenario, merged[(scenario.name, label(o))]) for o in overrides
        }
        for scenario in traffic
    }


def markdown(figures: dict[str, dict[str, dict[str, Any]]], runs: int) -> str:
    """The README's table: a row per traffic level, a column per set of overrides."""
    columns = list(next(iter(figures.values())))
    lines = [
        f"Median time to full promotion of a healthy canary, ours, {runs} runs per cell "
        "(false rollbacks in brackets; `never`: most runs not promoted within the hour). "
        "Steps 5/25/50/100 of at least 1 minute; `python -m bench judge --promotion-table`.",
        "",
        "| traffic | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, by_column in figures.items():
        rps = next(s.rps for s in TRAFFIC if s.name == name)
        cells = []
        for column in columns:
            f = by_column[column]
            median = f["median_time_to_promotion_s"]
            when = "never" if median is None else f"{median:g} s"
            cells.append(f"{when} ({100 * f['false_rollback_rate']:.1f}%)")
        lines.append(f"| {rps:g} req/s | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(runs: int | None, overrides: list[dict[str, Any]] | None, out: Path = OUT) -> str:
    runs = runs or 200
    started = time.monotonic()
    table = markdown(measure(runs, overrides or default_overrides()), runs)
    print(table)
    print(f"in {time.monotonic() - started:.0f} s; written to {out}")
    out.write_text(table)
    return table
