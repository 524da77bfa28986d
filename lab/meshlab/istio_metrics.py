"""Istio-shaped request metrics, made up exactly: for backfilling a real Prometheus
with history, and for a live exporter it scrapes.

A :class:`Version` is one service version's traffic as a list of phases (from
a time on: so many requests per second, such a 5xx share, latencies
log-normal around a median), with optional counter resets (the process
restarted) and scrape gaps. Counters are integrals of the rates, so the
counts between two instants are known exactly and tests can assert what
Prometheus answers. The series carry Istio's standard names and labels
(``istio_requests_total``, ``istio_request_duration_milliseconds_bucket``,
``reporter="destination"``), so the controller's default queries work as on
a real mesh.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, MetricsHandler
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

ISTIO_BUCKETS_MS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)


@dataclass(frozen=True)
class Load:
    """Traffic of one version during a phase."""

    rps: float
    error_rate: float = 0.0
    median_ms: float = 20.0
    sigma: float = 0.5

    def below(self, bound_ms: float) -> float:
        """The share of requests that take at most ``bound_ms`` (log-normal CDF)."""
        if bound_ms <= 0:
            return 0.0
        z = (math.log(bound_ms) - math.log(self.median_ms)) / (self.sigma * math.sqrt(2))
        return 0.5 * (1 + math.erf(z))


@dataclass
class Version:
    """One version of one service: its phases, restarts and missed scrapes (seconds)."""

    namespace: str
    service: str
    version: str
    phases: list[tuple[float, Load]]  # (from time, load), ascending
    resets: list[float] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    reporter: str = "destination"  # "waypoint": as an ambient-mode waypoint reports them

    def labels(self) -> dict[str, str]:
        return {
            "reporter": self.reporter,
            "destination_service_namespace": self.namespace,
            "destination_service_name": self.service,
            "destination_workload": f"{self.service}-{self.version}",
            "destination_version": self.version,
            "source_workload": "loadgen",
        }

    def _integral(self, start: float, end: float) -> tuple[float, float, list[float]]:
        """(requests, 5xx, cumulative bucket counts) served between two instants."""
        requests = errors = 0.0
        buckets = [0.0] * len(ISTIO_BUCKETS_MS)
        for i, (begin, load) in enumerate(self.phases):
            finish = self.phases[i + 1][0] if i + 1 < len(self.phases) else math.inf
            lo, hi = max(start, begin), min(end, finish)
            if hi <= lo:
                continue
            n = load.rps * (hi - lo)
            requests += n
            errors += n * load.error_rate
            for j, bound in enumerate(ISTIO_BUCKETS_MS):
                buckets[j] += n * load.below(bound)
        return requests, errors, buckets

    def counters(self, t: float) -> tuple[float, float, list[float]] | None:
        """Counter values a scrape at ``t`` sees (since the last restart); None in a gap."""
        if any(a <= t < b for a, b in self.gaps) or t < self.phases[0][0]:
            return None
        # A restart at a scrape instant happens just after that scrape.
        restarted = max([r for r in self.resets if r < t], default=self.phases[0][0])
        # Not rounded: counters are floats to Prometheus, and exact integrals let tests
        # predict what increase() answers.
        return self._integral(restarted, t)

    def families(self, t: float) -> list[Any]:
        values = self.counters(t)
        if values is None:
            return []
        requests, errors, buckets = values
        labels = self.labels()
        names = [*labels, "response_code"]
        counter = CounterMetricFamily("istio_requests", "Requests.", labels=names)
        counter.add_metric([*labels.values(), "200"], requests - errors)
        counter.add_metric([*labels.values(), "503"], errors)
        histogram = HistogramMetricFamily(
            "istio_request_duration_milliseconds", "Request duration.", labels=list(labels)
        )
        pairs = [(_le(b), c) for b, c in zip(ISTIO_BUCKETS_MS, buckets, strict=True)]
        histogram.add_metric(
            list(labels.values()), [*pairs, ("+Inf", requests)], sum_value=requests * 20.0
        )
        return [counter, histogram]


def _le(bound: float) -> str:
    return f"{float(bound):g}" if bound < 1e5 else f"{float(bound):.1f}"


def _labels_text(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def openmetrics(versions: list[Version], start: float, end: float, scrape_s: float) -> str:
    """OpenMetrics text of every scrape from ``start`` to ``end``, for
    ``promtool tsdb create-blocks-from openmetrics``."""
    times = [start + i * scrape_s for i in range(int((end - start) / scrape_s) + 1)]
    counter_lines: list[str] = []
    histogram_lines: list[str] = []
    for version in versions:
        labels = version.labels()
        for code in ("200", "503"):
            for t in times:
                values = version.counters(t)
                if values is not None:
                    requests, errors, _ = values
                    value = errors if code == "503" else requests - errors
                    text = _labels_text({**labels, "response_code": code})
                    counter_lines.append(f"istio_requests_total{{{text}}} {value} {t:.3f}")
        for bucket_index, bound in enumerate([*ISTIO_BUCKETS_MS, math.inf]):
            le = "+Inf" if math.isinf(bound) else _le(bound)
            for t in times:
                values = version.counters(t)
                if values is not None:
                    requests, _, buckets = values
                    value = requests if math.isinf(bound) else buckets[bucket_index]
                    text = _labels_text({**labels, "le": le})
                    histogram_lines.append(
                        f"istio_request_duration_milliseconds_bucket{{{text}}} {value} {t:.3f}"
                    )
        for suffix in ("count", "sum"):
            for t in times:
                values = version.counters(t)
                if values is not None:
                    value = values[0] if suffix == "count" else values[0] * 20.0
                    histogram_lines.append(
                        f"istio_request_duration_milliseconds_{suffix}{{{_labels_text(labels)}}}"
                        f" {value} {t:.3f}"
                    )
    return "\n".join(
        [
            "# TYPE istio_requests counter",
            *counter_lines,
            "# TYPE istio_request_duration_milliseconds histogram",
            *histogram_lines,
            "# EOF",
            "",
        ]
    )


class _Collector:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        t = self.exporter.clock()
        for version in self.exporter.versions():
            yield from version.families(t)


class Exporter:
    """A live ``/metrics`` endpoint for Istio-shaped series whose loads tests can change."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str, str], Version] = {}
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        handler = MetricsHandler.factory(registry)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def versions(self) -> list[Version]:
        with self._lock:
            return list(self._versions.values())

    def set_load(self, namespace: str, service: str, version: str, load: Load) -> None:
        """From now on, ``version`` serves ``load`` (counters keep counting from where they are)."""
        now = self.clock()
        with self._lock:
            key = (namespace, service, version)
            current = self._versions.get(key)
            if current is None:
                self._versions[key] = Version(namespace, service, version, [(now, load)])
            else:
                current.phases.append((now, load))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
