"""The judge benchmark's model of ``increase()`` against a real Prometheus.

Every judge in ``python -m bench judge`` sees counts through
``bench.judge.traffic.prometheus_increase``; if it differed from Prometheus,
the benchmark would measure a world users never see. Here the simulator's own
scrapes (missed ones and counter resets included) are backfilled into a real
Prometheus, and ``increase`` over many ranges must agree to the last digit.
"""

from __future__ import annotations

import itertools
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from bench.judge.scenarios import by_name
from bench.judge.traffic import Path, World, prometheus_increase
from meshlab.prometheus import PrometheusServer
from tests.conftest import need_prometheus

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: t = 0 of the simulated run
COLUMNS = (0, 1, 9)  # requests, 5xx, the 250 ms bucket
HORIZON = 1200


def _path() -> Path:
    scenario = by_name(("err4x_100rps",))[0]
    world = World(scenario, seed=3, horizon_s=HORIZON)
    world.resets = {"stable": [400], "canary": [250, 700]}  # resets we know are there
    # Two missed scrapes we know of: the samples after them have no neighbour 15 s before.
    world.scrapes["stable"] = np.delete(world.scrapes["stable"], [20, 40])
    path = Path(world, 5)
    path.set_weight(300, 25)
    path.set_weight(600, 50)
    return path


@pytest.fixture(scope="module")
def replay() -> Iterator[tuple[Path, str]]:
    need_prometheus()
    path = _path()
    lines = ["# TYPE sim counter"]
    for version in ("stable", "canary"):
        times, values = path.samples(version, 0, HORIZON)
        for column in COLUMNS:
            for t, row in zip(times, values, strict=True):
                labels = f'version="{version}",column="{column}"'
                lines.append(f"sim_total{{{labels}}} {row[column]:.1f} {EPOCH + t:.3f}")
    server = PrometheusServer()
    server.backfill("\n".join([*lines, "# EOF", ""]))
    server.start()
    yield path, server.url
    server.cleanup()


def _prometheus(url: str, version: str, column: int, start: int, end: int) -> float | None:
    query = f'increase(sim_total{{version="{version}",column="{column}"}}[{end - start}s])'
    params = urllib.parse.urlencode({"query": query, "time": EPOCH + end})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as answer:
        result = json.load(answer)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 20), (0, 30), (0, 45), (0, 299), (100, 400), (240, 260), (240, 290), (300, 1199),
     (590, 700), (10, 1200), (650, 680)],
)  # fmt: skip
def test_increase_matches_prometheus(replay: tuple[Path, str], start: int, end: int) -> None:
    """Extrapolation, the clamp at zero, resets and too few samples, as Prometheus 2.x does."""
    path, url = replay
    for version in ("stable", "canary"):
        times, values = path.samples(version, start, end)
        ours = prometheus_increase(times, values, float(start), float(end))
        for column in COLUMNS:
            theirs = _prometheus(url, version, column, start, end)
            if theirs is None:
                assert ours is None, (version, column)
            else:
                assert ours is not None, (version, column)
                assert ours[column] == pytest.approx(theirs, rel=1e-9, abs=1e-6), (version, column)


def test_extrapolation_threshold_is_one_point_one_intervals(replay: tuple[Path, str]) -> None:
    """A range whose first sample comes 16 s after its start (15 s scrapes, the one before
    missed) is extrapolated to the start: Prometheus stretches up to 1.1 average intervals;
    18 s is beyond that and gets half an interval."""
    path, url = replay
    scrapes = path.world.scrapes["stable"]
    after_gaps = [int(b) for a, b in itertools.pairwise(scrapes) if b - a > 20]
    assert len(after_gaps) >= 2
    for first, gap in ((after_gaps[0], 16), (after_gaps[1], 18)):
        start, end = first - gap, first + 100
        times, values = path.samples("stable", start, end)
        assert times[0] == first
        ours = prometheus_increase(times, values, float(start), float(end))
        assert ours is not None
        assert ours[0] == pytest.approx(_prometheus(url, "stable", 0, start, end), rel=1e-9)
