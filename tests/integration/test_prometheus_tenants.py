"""One tenant's custom checks cannot touch another's observation (a real Prometheus).

Two tenants share a Prometheus and a cycle: ``tenant-b`` is well behaved, ``tenant-a``
tries what a hostile tenant would: checks that read or fake ``tenant-b``'s data, a
slow check, a check answering thousands of series, too many checks, a metric name
that is PromQL. ``tenant-b`` must get its exact data and its own checks right; the
attacker's tricks only ever cost the attacker's own checks.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from meshlab.istio_metrics import Load, Version, openmetrics
from meshlab.prometheus import PrometheusServer
from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.prometheus import PrometheusSource
from rollout.analysis.queries import MAX_CHECKS, Ask, Check
from tests.conftest import need_prometheus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, B = "tenant-a", "tenant-b"
LOAD = Load(rps=10, error_rate=0.0, median_ms=20)
BIG = 2000  # series of big_series in tenant-a
WHEN = 540.0  # evaluation time, seconds after T0; steps start at 300


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def gauges(start: float, end: float) -> list[str]:
    """OpenMetrics lines of the tenants' own gauges (with the ``namespace`` label a
    Kubernetes scrape gives)."""
    times = [start + i * 15 for i in range(int((end - start) / 15) + 1)]
    lines = ["# TYPE queue_depth gauge"]
    for namespace, service, value in ((A, "api", 50), (B, "web", 3)):
        lines += [
            f'queue_depth{{namespace="{namespace}",service="{service}"}} {value} {t:.3f}'
            for t in times
        ]
    lines.append("# TYPE big_series gauge")
    recent = [t for t in times if t >= start + WHEN - 60 and t <= start + WHEN]
    lines += [
        f'big_series{{namespace="{A}",i="{i}"}} 1 {t:.3f}' for i in range(BIG) for t in recent
    ]
    return lines


@pytest.fixture(scope="module")
def server() -> Iterator[PrometheusServer]:
    need_prometheus()
    prometheus = PrometheusServer()
    start, end = T0.timestamp(), T0.timestamp() + 900
    services = ((A, "api"), (B, "web"))
    versions = [Version(ns, svc, v, [(start, LOAD)]) for ns, svc in services for v in ("v1", "v2")]
    istio = openmetrics(versions, start, end, 15).replace("# EOF\n", "")
    prometheus.backfill(istio + "\n".join([*gauges(start, end), "# EOF", ""]))
    prometheus.start()
    yield prometheus
    prometheus.cleanup()


class Recording(requests.Session):
    """Records every request's query and the size of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.queries: list[str] = []
        self.sizes: list[int] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        with self.lock:
            self.queries.append(str((kwargs.get("data") or {}).get("query", "")))
            self.sizes.append(len(response.content))
        return response


WEB_CHECKS = (
    Check("queue", 'max(queue_depth{service="{service}"})'),
    Check(
        "canary-rps",
        'sum(rate(istio_requests_total{destination_service_name="{service}", '
        'destination_version="{canary}", response_code="200"}[{window}]))',
        namespace_label="destination_service_namespace",
    ),
)


def victim() -> Ask:
    return Ask(f"{B}/web", B, "web", "v1", "v2", at(300), 60, checks=WEB_CHECKS)


def attacker(*checks: Check) -> Ask:
    return Ask(f"{A}/api", A, "api", "v1", "v2", at(300), 60, checks=checks)


def assert_victim_intact(result: Observation | Unavailable) -> None:
    """tenant-b's data and checks are exactly its own."""
    assert isinstance(result, Observation), result
    assert result.canary.step.requests == pytest.approx(10 * 240, rel=1e-9)
    assert result.stable.step.requests == pytest.approx(10 * 240, rel=1e-9)
    assert result.checks["queue"] == 3.0
    assert result.checks["canary-rps"] == pytest.approx(10.0, rel=1e-9)


def test_checks_that_reach_for_another_tenant_read_only_their_own(
    server: PrometheusServer,
) -> None:
    """Reading, or faking, tenant-b's check from tenant-a's gets tenant-a's own data or
    nothing; tenant-b's observation is untouched."""
    forged = (
        'vector(1)), "meshrollout_check", "queue", "", ""), "meshrollout_key", '
        f'"{B}/web", "", "") or label_replace(label_replace((vector(99)'
    )
    checks = (
        Check("steal", f'max(queue_depth{{namespace="{B}"}})'),
        Check("regex", 'max(queue_depth{namespace=~".+"})'),
        Check("union", f'sum(queue_depth{{namespace="{A}"}} or queue_depth{{namespace="{B}"}})'),
        Check("everything", 'count({__name__=~".+"})'),
        Check("forged", forged),
        Check("subquery", f'max_over_time(queue_depth{{namespace="{B}"}}[10m:1m])'),
    )
    source = PrometheusSource(server.url)
    result = source.observe([attacker(*checks), victim()], at(WHEN))
    assert_victim_intact(result[f"{B}/web"])
    mine = result[f"{A}/api"]
    assert isinstance(mine, Observation)
    assert mine.canary.step.requests == pytest.approx(10 * 240, rel=1e-9)
    assert mine.checks == {
        "steal": 50.0,
        "regex": 50.0,
        "union": 50.0,
        "everything": 1 + BIG,  # queue_depth and big_series of tenant-a, nothing else
        "forged": None,
        "subquery": 50.0,
    }
    assert "customChecks[4].query is not PromQL" in source.check_errors[f"{A}/api"]["forged"]
    assert f"{B}/web" not in source.check_errors


def test_a_slow_check_costs_only_its_own_rollout(server: PrometheusServer) -> None:
    """A check slower than its timeout is no data for its rollout; the others get theirs,
    and the cycle is not held for long."""
    slow = Check("slow", "max_over_time(vector(1)[1h:1ms])")  # seconds of work
    source = PrometheusSource(server.url, check_timeout_s=0.5, check_budget_s=1.2)
    started = time.monotonic()
    result = source.observe([attacker(slow, slow, slow, slow), victim()], at(WHEN))
    assert time.monotonic() - started < 4
    assert_victim_intact(result[f"{B}/web"])
    mine = result[f"{A}/api"]
    assert isinstance(mine, Observation)
    assert mine.checks == {"slow": None}
    assert mine.canary.step.has_data


def test_a_huge_check_is_no_data_and_stays_small(server: PrometheusServer) -> None:
    """A check answering thousands of series comes back as two (no data); too many and
    too long checks are refused; no answer of the cycle is large."""
    session = Recording()
    source = PrometheusSource(server.url, session=session)
    many = tuple(Check(f"c{i}", "vector(1)") for i in range(MAX_CHECKS + 10))
    checks = (Check("huge", "big_series"), Check("long", "vector(1)" + " + 1" * 2000), *many)
    result = source.observe([attacker(*checks), victim()], at(WHEN))
    assert_victim_intact(result[f"{B}/web"])
    mine = result[f"{A}/api"]
    assert isinstance(mine, Observation)
    assert mine.checks["huge"] is None
    assert mine.checks["long"] is None
    asked = [c for c in many if mine.checks[c.name] == 1.0]
    assert len(asked) == MAX_CHECKS - 2
    assert max(session.sizes) < 20_000
    assert len(session.queries) == 3 + 1 + (MAX_CHECKS - 2) + len(WEB_CHECKS)


def test_a_metric_name_that_is_promql_spoils_only_its_rollout(server: PrometheusServer) -> None:
    """requestsMetric holding PromQL (past the model) makes its own rollout Unavailable;
    the shared standard queries still serve tenant-b."""
    injected = 'up[1s]) or label_replace(vector(1e9), "a", "b", "", "") or (up'
    bad = replace(attacker(), requests_metric=injected)
    source = PrometheusSource(server.url)
    result = source.observe([bad, victim()], at(WHEN))
    assert isinstance(result[f"{A}/api"], Unavailable)
    assert "spec.analysis.requestsMetric" in result[f"{A}/api"].reason  # type: ignore[union-attr]
    assert_victim_intact(result[f"{B}/web"])


def test_a_long_batch_is_posted_not_put_in_the_url(server: PrometheusServer) -> None:
    """1,900 rollouts with the longest names Kubernetes allows: each shared query is over
    a megabyte, which Prometheus refuses in a URL; as form posts they are answered (in
    seconds: the ``or`` tree is balanced), and every rollout has its data."""
    name = "r" * 240  # with the namespace and a number: a key of ~253 characters
    asks = [Ask(f"{B}/{name}-{i}", B, "web", "v1", "v2", at(300), 60) for i in range(1900)]
    session = Recording()
    source = PrometheusSource(server.url, timeout_s=60, session=session)
    result = source.observe([*asks, victim()], at(WHEN))
    longest = max(session.queries, key=len)
    assert len(urllib.parse.quote(longest)) > (1 << 20) + 4096  # Go's limit on a request head
    assert_victim_intact(result[f"{B}/web"])
    assert all(
        isinstance(o, Observation) and o.canary.step.requests == pytest.approx(2400, rel=1e-9)
        for o in result.values()
    )
