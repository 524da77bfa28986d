"""The default queries for each data plane against a real Prometheus, with Istio-shaped
series backfilled by ``promtool``: sidecars (``reporter="destination"``, the version in
``destination_version``), version Services behind an HTTPRoute (the version in the
backend Service's ``destination_service_name``), and ambient mode with a waypoint
(``reporter="waypoint"``). Series another reporter writes for the same requests (the
client's ``source`` ones, or the waypoint's beside a sidecar's) are never counted twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meshlab.istio_metrics import Load, Version, openmetrics
from meshlab.prometheus import PrometheusServer
from rollout.analysis.observations import Observation
from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.queries import Ask, requests_query
from rollout.analysis.threshold import judge
from rollout.model import Analysis, Stage
from tests.conftest import need_prometheus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NS = "reporters"
STABLE = Load(rps=90, error_rate=0.005, median_ms=20)
CANARY = Load(rps=10, error_rate=0.005, median_ms=20)
FAILING = Load(rps=10, error_rate=0.05, median_ms=20)
STAGE = Stage(kind="weight", weight=10, duration="1m", min_requests=100)


def series(service: str, version: str, load: Load, reporter: str = "destination") -> Version:
    return Version(NS, service, version, [(T0.timestamp(), load)], reporter=reporter)


HISTORY = [
    # sidecars, subsets: the client's own (source) series double every request
    series("sidecar", "v1", STABLE),
    series("sidecar", "v2", CANARY),
    series("sidecar", "v1", STABLE, reporter="source"),
    series("sidecar", "v2", FAILING, reporter="source"),
    # an HTTPRoute's version Services
    series("inventory-v1", "v1", STABLE),
    series("inventory-v2", "v2", FAILING),
    # ambient mode with a waypoint: its series only (ztunnel has no L7 ones)
    series("ambient", "v1", STABLE, reporter="waypoint"),
    series("ambient", "v2", CANARY, reporter="waypoint"),
]


@pytest.fixture(scope="module")
def history() -> Iterator[PrometheusSource]:
    need_prometheus()
    server = PrometheusServer()
    server.backfill(openmetrics(HISTORY, T0.timestamp(), T0.timestamp() + 1200, 15))
    server.start()
    yield PrometheusSource(server.url, timeout_s=5)
    server.cleanup()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ask(service: str, stable: str, canary: str, **extra: Any) -> Ask:
    return Ask(f"{NS}/{service}", NS, service, stable, canary, at(300), 60, **extra)


ASKS = {
    "sidecar": ask("sidecar", "v1", "v2"),
    "httproute": ask("inventory-service", "inventory-v1", "inventory-v2", split_by="service"),
    "waypoint": ask("ambient", "v1", "v2", reporter="waypoint"),
}


def observe(source: PrometheusSource, a: Ask) -> Observation:
    result = source.observe([a], at(540))[a.key]
    assert isinstance(result, Observation)
    return result


@pytest.mark.parametrize(
    ("mode", "error_rate", "outcome"),
    [("sidecar", 0.005, "pass"), ("httproute", 0.05, "fail"), ("waypoint", 0.005, "pass")],
)
def test_each_data_plane_is_counted_once_and_judged(
    history: PrometheusSource, mode: str, error_rate: float, outcome: str
) -> None:
    """Exact step counts per version from the one reporter asked; the judge's outcome."""
    obs = observe(history, ASKS[mode])
    assert obs.canary.step.requests == pytest.approx(10 * 240, rel=1e-9)
    assert obs.canary.step.errors == pytest.approx(10 * 240 * error_rate, rel=1e-9)
    assert obs.stable.step.requests == pytest.approx(90 * 240, rel=1e-9)
    assert obs.canary.step.buckets
    assert judge(obs, Analysis(), STAGE).outcome == outcome


def test_all_modes_in_one_batch(history: PrometheusSource) -> None:
    """One cycle asks every rollout in the same queries, whatever its mode."""
    found = history.observe(list(ASKS.values()), at(540))
    for a in ASKS.values():
        result = found[a.key]
        assert isinstance(result, Observation)
        assert result.canary.step.requests == pytest.approx(2400, rel=1e-9)
    shape = requests_query([ASKS["waypoint"], ASKS["httproute"]], at(540))
    assert 'reporter="waypoint"' in shape
    assert 'destination_service_name=~"inventory-v1|inventory-v2"' in shape


def test_the_wrong_reporter_sees_nothing(history: PrometheusSource) -> None:
    """Asked as sidecars, an ambient service with a waypoint has no data: never a pass."""
    obs = observe(history, ask("ambient", "v1", "v2"))
    assert obs.canary.step.requests == 0
    assert judge(obs, Analysis(), STAGE).outcome == "inconclusive"
