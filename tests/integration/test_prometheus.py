"""The Prometheus adapter and the threshold judge against a real Prometheus.

History is backfilled with ``promtool`` from exactly known Istio-shaped series
(``meshlab.istio_metrics``), then queried at fixed evaluation times, so the
values Prometheus answers can be asserted exactly.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from meshlab.istio_metrics import Exporter, Load, Version, openmetrics
from meshlab.prometheus import PrometheusServer, free_port
from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.queries import Ask, Check
from rollout.analysis.threshold import judge
from rollout.model import Analysis, CustomCheck, Stage
from tests.conftest import need_prometheus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NS = "replay"
HEALTHY = Load(rps=90, error_rate=0.005, median_ms=20)
CANARY = Load(rps=10, error_rate=0.005, median_ms=20)
STAGE = Stage(kind="weight", weight=10, duration="1m", min_requests=100)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pair(
    service: str, canary: list[tuple[float, Load]], stable: Load = HEALTHY, **canary_extra: Any
) -> list[Version]:
    start = T0.timestamp()
    return [
        Version(NS, service, "v1", [(start, stable)]),
        Version(NS, service, "v2", [(start + s, load) for s, load in canary], **canary_extra),
    ]


SCENARIOS = {
    "healthy": pair("healthy", [(0, CANARY)]),
    "errors": pair("errors", [(0, CANARY), (600, Load(10, 0.05, 20))]),
    "latency": pair("latency", [(0, CANARY), (600, Load(10, 0.005, 400))]),
    "reset": pair("reset", [(0, CANARY)], resets=[T0.timestamp() + 900]),
    "gap": pair("gap", [(0, CANARY)], gaps=[(T0.timestamp() + 1200, T0.timestamp() + 1800)]),
    "common": pair("common", [(0, Load(10, 0.05, 20))], stable=Load(90, 0.05, 20)),
    "idle": pair("idle", [(0, CANARY)])[:1],
}


@pytest.fixture(scope="module")
def history() -> Iterator[PrometheusSource]:
    need_prometheus()
    server = PrometheusServer()
    versions = [v for vs in SCENARIOS.values() for v in vs]
    server.backfill(openmetrics(versions, T0.timestamp(), T0.timestamp() + 3600, 15))
    server.start()
    yield PrometheusSource(server.url, timeout_s=5)
    server.cleanup()


def ask(service: str, step_start: float, window_s: int = 60, **extra: Any) -> Ask:
    return Ask(f"{NS}/{service}", NS, service, "v1", "v2", at(step_start), window_s, **extra)


def observe(source: PrometheusSource, a: Ask, when: float) -> Observation:
    result = source.observe([a], at(when))[a.key]
    assert isinstance(result, Observation)
    return result


def test_healthy_canary_counts_are_exact(history: PrometheusSource) -> None:
    """Step counts are the rates times the step's age, exactly."""
    obs = observe(history, ask("healthy", 300), 540)
    assert obs.canary.step.requests == pytest.approx(10 * 240, rel=1e-9)
    assert obs.canary.step.errors == pytest.approx(10 * 240 * 0.005, rel=1e-9)
    assert obs.stable.step.requests == pytest.approx(90 * 240, rel=1e-9)
    verdict = judge(obs, Analysis(), STAGE)
    assert verdict.outcome == "pass"
    assert verdict.canary_requests == 2400


def test_our_p99_equals_prometheus_histogram_quantile(history: PrometheusSource) -> None:
    """The judge's P99 from buckets is what histogram_quantile() answers, to the bit."""
    obs = observe(history, ask("latency", 660), 900)
    promql = (
        "histogram_quantile(0.99, sum by (le) (increase(istio_request_duration_milliseconds_bucket"
        '{destination_service_name="latency", destination_version="v2"}[240s])))'
    )
    (answer,) = history.query(promql, at(900))
    assert obs.canary.step.quantile(0.99) == float(answer["value"][1])


def test_5xx_regression_fails_with_its_values(history: PrometheusSource) -> None:
    """5% errors after onset: error-rate fails with value 0.05 against 0.01."""
    verdict = judge(observe(history, ask("errors", 660), 900), Analysis(), STAGE)
    assert verdict.outcome == "fail"
    rate = next(m for m in verdict.metrics if m.name == "error-rate")
    assert rate.value == pytest.approx(0.05, rel=1e-9)
    assert rate.threshold == 0.01


def test_latency_regression_fails_on_p99(history: PrometheusSource) -> None:
    """Median 400 ms after onset: P99 over 500 ms, and far over stable's."""
    verdict = judge(observe(history, ask("latency", 660), 900), Analysis(), STAGE)
    assert verdict.outcome == "fail"
    assert [m.name for m in verdict.failing()] == ["p99-latency", "p99-vs-stable"]


def test_counter_reset_is_handled(history: PrometheusSource) -> None:
    """A restart mid-step (counters back to zero) does not lose or invent requests."""
    obs = observe(history, ask("reset", 840), 960)
    assert obs.canary.step.requests == pytest.approx(10 * 120, rel=1e-6)
    assert judge(obs, Analysis(), STAGE).outcome == "pass"


def test_version_without_traffic_is_no_data(history: PrometheusSource) -> None:
    """No canary series at all: zero requests, inconclusive, never a pass."""
    obs = observe(history, ask("idle", 300), 540)
    assert not obs.canary.step.has_data
    assert obs.stable.step.has_data
    verdict = judge(obs, Analysis(), STAGE)
    assert verdict.outcome == "inconclusive"
    assert verdict.reason == "0 canary requests so far, 100 needed"


def test_scrape_gap_empties_a_step_inside_it_not_one_before(history: PrometheusSource) -> None:
    """Missed scrapes: a step begun inside the gap has no data; one begun before it keeps
    what was scraped before the gap."""
    assert not observe(history, ask("gap", 1300), 1500).canary.step.has_data
    assert observe(history, ask("gap", 900), 1500).canary.step.requests > 0


def test_common_mode_incident_holds(history: PrometheusSource) -> None:
    """Both versions at 5%: the judge holds and names the shared incident."""
    verdict = judge(observe(history, ask("common", 300), 540), Analysis(), STAGE)
    assert verdict.outcome == "inconclusive"
    assert "common-mode" in verdict.reason


def test_custom_checks_values_nan_and_bad_queries(history: PrometheusSource) -> None:
    """A check's value is read; NaN is no data; one bad query spoils only itself."""
    checks = (Check("steady", "vector(3)"), Check("nan", "vector(0) / 0"), Check("broken", "sum(("))
    obs = observe(history, ask("healthy", 300, checks=checks), 540)
    assert obs.checks == {"steady": 3.0, "nan": None, "broken": None}
    analysis = Analysis(custom_checks=[CustomCheck(name="steady", query="x", max=5)])
    healthy = observe(history, ask("healthy", 300, checks=checks[:1]), 540)
    assert judge(healthy, analysis, STAGE).outcome == "pass"


class CountingSession(requests.Session):
    """Counts the HTTP requests the adapter makes (from several threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        with self.lock:
            self.count += 1
        return super().request(*args, **kwargs)


def test_a_cycle_costs_the_same_requests_for_200_rollouts(history: PrometheusSource) -> None:
    """200 rollouts in one cycle: three standard queries, not 600; custom checks are
    asked one by one on top (never joined with another tenant's)."""
    session = CountingSession()
    source = PrometheusSource(history.url, session=session)
    services = ["healthy", "errors", "latency", "common"]
    asks = [Ask(f"{NS}/r{i}", NS, services[i % 4], "v1", "v2", at(300 + i), 60) for i in range(200)]
    result = source.observe(asks, at(1000))
    assert session.count == 3
    assert all(isinstance(o, Observation) and o.canary.step.has_data for o in result.values())
    first, other = result[f"{NS}/r0"], result[f"{NS}/r4"]
    assert isinstance(first, Observation)
    assert isinstance(other, Observation)
    assert first.canary.step.requests == pytest.approx(10 * 700, rel=1e-9)
    assert other.canary.step.requests == pytest.approx(10 * 696, rel=1e-9)
    session.count = 0
    with_checks = [
        Ask(
            a.key,
            a.namespace,
            a.service,
            "v1",
            "v2",
            a.step_started_at,
            60,
            checks=(Check("one", "vector(1)"),),
        )
        for a in asks[:20]
    ]
    observed = source.observe(with_checks, at(1000))
    assert session.count == 3 + 20
    assert all(isinstance(o, Observation) and o.checks == {"one": 1.0} for o in observed.values())


def test_stopped_prometheus_is_unavailable() -> None:
    """Connection refused: every rollout of the cycle is Unavailable, the verdict holds."""
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=1, retries=0)
    (result,) = source.observe([ask("healthy", 0)], at(60)).values()
    assert isinstance(result, Unavailable)
    assert judge(result, Analysis(), STAGE).outcome == "inconclusive"


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """A stand-in that answers like a broken Prometheus or a proxy in front of one."""

    mode = "html"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

    def do_GET(self) -> None:
        if self.mode == "slow":
            time.sleep(2)
        status, body, kind = {
            "html": (200, b"<html>login</html>", "text/html"),
            "503": (503, b"busy", "text/plain"),
            "slow": (200, b'{"status":"success","data":{"result":[]}}', "application/json"),
            "empty": (
                200,
                b'{"status":"success","data":{"resultType":"vector","result":[]}}',
                "application/json",
            ),
        }[self.mode]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("mode", ["html", "503", "slow"])
def test_broken_answers_are_unavailable(mode: str) -> None:
    """HTML, a 503 and an answer slower than the timeout are all Unavailable."""
    handler = type("Handler", (Misbehaving,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = PrometheusSource(
            f"http://127.0.0.1:{server.server_address[1]}", timeout_s=0.5, retries=0
        )
        (result,) = source.observe([ask("healthy", 0)], at(60)).values()
        assert isinstance(result, Unavailable)
    finally:
        server.shutdown()


def test_empty_answers_are_no_data() -> None:
    """An empty vector is no data (zero requests), not a failure to answer."""
    handler = type("Handler", (Misbehaving,), {"mode": "empty"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = PrometheusSource(f"http://127.0.0.1:{server.server_address[1]}")
        (result,) = source.observe([ask("healthy", 0)], at(60)).values()
        assert isinstance(result, Observation)
        assert not result.canary.step.has_data
        assert judge(result, Analysis(), STAGE).outcome == "inconclusive"
    finally:
        server.shutdown()


def test_live_scrapes_reach_the_adapter() -> None:
    """An exporter serves Istio-shaped counters, Prometheus scrapes it every second, and the
    adapter sees a change of error rate within seconds."""
    need_prometheus()
    exporter = Exporter(clock=time.time)
    exporter.set_load(NS, "live", "v1", Load(50, 0.0))
    exporter.set_load(NS, "live", "v2", Load(50, 0.0))
    server = PrometheusServer(
        scrape_configs=[
            {"job_name": "istio", "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}
        ],
        scrape_interval_s=1,
    ).start()
    try:
        source = PrometheusSource(server.url)
        started = datetime.now(UTC)
        live = Ask(f"{NS}/live", NS, "live", "v1", "v2", started, 5)

        def latest() -> Observation:
            result = source.observe([live], datetime.now(UTC))[live.key]
            assert isinstance(result, Observation)
            return result

        deadline = time.monotonic() + 20
        while not latest().canary.step.has_data:
            assert time.monotonic() < deadline, "no scrape reached Prometheus"
            time.sleep(0.5)
        assert latest().canary.step.errors == 0
        exporter.set_load(NS, "live", "v2", Load(50, 0.5))
        live = replace(live, step_started_at=datetime.now(UTC))  # a new step, only new data
        while (latest().canary.step.error_rate or 0) < 0.2:
            assert time.monotonic() < deadline + 20, "the new error rate never showed"
            time.sleep(0.5)
    finally:
        server.cleanup()
        exporter.stop()
