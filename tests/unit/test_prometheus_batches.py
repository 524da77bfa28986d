"""The Prometheus adapter's batches, with its HTTP replaced: rollouts on Istio's standard
metrics share three queries, a rollout naming metrics of its own is asked apart (so only it
suffers from them), and an answer that cannot be read is that rollout's Unavailable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.prometheus import PrometheusError, PrometheusSource
from rollout.analysis.queries import Ask

NOW = datetime(2026, 11, 25, tzinfo=UTC)
STEP = NOW - timedelta(minutes=1)


def ask(key: str, latency_metric: str = Ask.latency_metric) -> Ask:
    namespace, name = key.split("/")
    return Ask(key, namespace, name, "v1", "v2", STEP, 30, latency_metric=latency_metric)


class Recording(PrometheusSource):
    """Answers every query with one sample per rollout it names; fails or garbles the ones
    that mention ``poison``."""

    def __init__(self, poison: str, garble: bool = False) -> None:
        super().__init__("http://prometheus.invalid")
        self.poison, self.garble = poison, garble
        self.sent: list[str] = []

    def query(
        self, promql: str, at: datetime, timeout_s: float | None = None, attempts: int = 0
    ) -> list[dict[str, Any]]:
        self.sent.append(promql)
        if self.poison in promql and not self.garble:
            raise PrometheusError("timeout")
        keys = [k for k in ("team-a/web", "team-b/web") if f'"{k}"' in promql]
        le = "not-a-number" if self.poison in promql else "25"
        return [
            {
                "metric": {"meshrollout_key": k, "destination_version": v, "le": le},
                "value": [at.timestamp(), "100"],
            }
            for k in keys
            for v in ("v1", "v2")
        ]


def test_a_rollout_with_metrics_of_its_own_is_asked_apart() -> None:
    """Tenant A names a slow metric: its three queries fail, tenant B's batch is untouched."""
    source = Recording(poison="slow_metric")
    asks = [ask("team-b/web"), ask("team-a/web", latency_metric="slow_metric")]
    answers = source.observe(asks, NOW)
    assert isinstance(answers["team-a/web"], Unavailable)
    b = answers["team-b/web"]
    assert isinstance(b, Observation)
    assert b.canary.step.requests == 100
    b_queries = [q for q in source.sent if '"team-b/web"' in q]
    assert len(b_queries) == 3  # the shared batch: three queries, none with A's metric
    assert not any("slow_metric" in q for q in b_queries)
    assert all('"team-b/web"' not in q for q in source.sent if "slow_metric" in q)


def test_an_answer_that_cannot_be_read_is_no_data_for_that_rollout() -> None:
    """A histogram whose ``le`` is not a number (a metric that is no histogram): tenant A
    gets no buckets, nothing raises, tenant B is read as usual."""
    source = Recording(poison="odd_metric", garble=True)
    asks = [ask("team-b/web"), ask("team-a/web", latency_metric="odd_metric")]
    answers = source.observe(asks, NOW)
    a, b = answers["team-a/web"], answers["team-b/web"]
    assert isinstance(a, Observation)
    assert a.canary.step.buckets == ()
    assert isinstance(b, Observation)
    assert b.canary.step.buckets == ((25.0, 100.0),)
