"""The judge benchmark's model of ``sum(increase())`` against a real Prometheus.

Every judge in ``python -m bench judge`` sees counts through
``bench.judge.traffic.Path.increase``; if it differed from Prometheus, the
benchmark would measure a world users never see. Here the simulator's own
series (three pods per version, each scraped at its own drifting, jittered
times, missed scrapes, restarted pods as new series, 5xx series that appear at
their first error) are backfilled into a real Prometheus, and
``sum(increase())`` over many ranges must agree to the last digit.
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
    # Restarts we know are there: a pod's new series from 400 s, two for a canary pod.
    world.restarts = {"stable": [[400], [], []], "canary": [[250, 700], [], [530]]}
    # Two missed scrapes we know of: the samples after them have no neighbour 15 s before.
    world.scrape_times["stable"][0] = np.delete(world.scrape_times["stable"][0], [20, 40])
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
        for number, (times, values) in enumerate(path.series(version, 0, HORIZON)):
            for column in COLUMNS:
                labels = f'version="{version}",series="{number}",column="{column}"'
                for t, row in zip(times, values, strict=True):
                    lines.append(f"sim_total{{{labels}}} {float(row[column])!r} {EPOCH + t:.3f}")
    server = PrometheusServer()
    server.backfill("\n".join([*lines, "# EOF", ""]))
    server.start()
    yield path, server.url
    server.cleanup()


def _prometheus(url: str, version: str, column: int, start: int, end: int) -> float | None:
    selector = f'sim_total{{version="{version}",column="{column}"}}[{end - start}s]'
    params = urllib.parse.urlencode({"query": f"sum(increase({selector}))", "time": EPOCH + end})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as answer:
        result = json.load(answer)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_the_world_is_as_unkind_as_istio() -> None:
    """Several series per version: pods, a restarted pod's new series, and a canary 5xx
    series that starts at its first error, after the canary's first requests."""
    path = _path()
    canary = list(path.series("canary", 0, HORIZON))
    assert len(canary) >= 2 * (3 + 3)  # 3 pods + 3 restarts, a 200 and a 503 series each
    errors = [times for times, values in canary if values[-1, 1] > 0]
    assert errors
    assert min(times[0] for times in errors) > min(times[0] for times, _ in canary)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 20), (0, 30), (0, 45), (0, 299), (100, 400), (240, 260), (240, 290), (300, 1199),
     (590, 700), (10, 1200), (650, 680)],
)  # fmt: skip
def test_increase_matches_prometheus(replay: tuple[Path, str], start: int, end: int) -> None:
    """Extrapolation per series, the clamp at zero, stale and new series, too few samples,
    summed over series, as Prometheus 2.x does."""
    path, url = replay
    for version in ("stable", "canary"):
        ours = path.increase(version, start, end)
        for column in COLUMNS:
            theirs = _prometheus(url, version, column, start, end)
            if theirs is None:
                assert ours is None, (version, column)
            else:
                assert ours is not None, (version, column)
                assert ours[column] == pytest.approx(theirs, rel=1e-9, abs=1e-6), (version, column)


def test_one_series_as_prometheus_does(replay: tuple[Path, str]) -> None:
    """``prometheus_increase`` (one series, resets included) agrees with the batched sum."""
    path, _ = replay
    for start, end in ((0, 45), (100, 400), (590, 700), (10, 1200)):
        for version in ("stable", "canary"):
            parts = [
                prometheus_increase(times, values, float(start), float(end))
                for times, values in path.series(version, start, end)
            ]
            total = sum(p for p in parts if p is not None)
            ours = path.increase(version, start, end)
            assert ours is not None
            assert np.allclose(ours, total, rtol=1e-12)


def test_extrapolation_threshold_is_one_point_one_intervals(replay: tuple[Path, str]) -> None:
    """A range whose first sample comes 16 s after its start (15 s scrapes, the one before
    missed) is extrapolated to the start: Prometheus stretches up to 1.1 average intervals;
    18 s is beyond that and gets half an interval."""
    path, url = replay
    scrapes = path.world.scrape_times["stable"][0]
    after_gaps = [float(b) for a, b in itertools.pairwise(scrapes) if b - a > 20]
    assert len(after_gaps) >= 2
    for first, gap in ((after_gaps[0], 16), (after_gaps[1], 18)):
        start, end = round(first - gap), round(first + 100)
        times, values = next(iter(path.series("stable", start, end)))  # pod 0's 200 series
        assert times[0] == first
        ours = prometheus_increase(times, values, float(start), float(end))
        assert ours is not None
        query = f'sim_total{{version="stable",series="0",column="0"}}[{end - start}s]'
        params = urllib.parse.urlencode({"query": f"increase({query})", "time": EPOCH + end})
        with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as answer:
            theirs = float(json.load(answer)["data"]["result"][0]["value"][1])
        assert ours[0] == pytest.approx(theirs, rel=1e-9)
