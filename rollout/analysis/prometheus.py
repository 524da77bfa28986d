"""Ask Prometheus, through ``prometheus-api-client``, for one evaluation cycle.

A cycle sends a fixed number of queries whatever the number of rollouts
(``rollout.analysis.queries`` batches them): requests, 5xx and latency
buckets, each since the step started and over the last window, and one for
all custom checks. Every query names its evaluation time, so history can be
replayed, and has a timeout and bounded retries. Any failure to get an answer
(refused, timeout, 5xx, an answer that is not JSON) makes the whole cycle
:class:`Unavailable`; it is never a pass. The adapter does not judge.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.queries import (
    Ask,
    buckets_query,
    by_key,
    checks_query,
    observation,
    requests_query,
)

Result = dict[str, Observation | Unavailable]


class PrometheusError(Exception):
    """Prometheus did not give a usable answer."""


class PrometheusSource:
    """Observations for every rollout of a cycle, from one Prometheus server."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        retries: int = 2,
        session: requests.Session | None = None,
    ) -> None:
        retry = Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        self.client = PrometheusConnect(url=url, retry=retry, session=session, timeout=timeout_s)
        self.timeout_s = timeout_s
        self.url = url

    def query(self, promql: str, at: datetime) -> list[dict[str, Any]]:
        """An instant query at ``at``; raises :class:`PrometheusError` for any bad answer."""
        try:
            result = self.client.custom_query(
                promql,
                params={"time": f"{at.timestamp():.3f}"},
                timeout=self.timeout_s,
            )
        except PrometheusApiClientException as error:
            raise PrometheusError(_short(str(error))) from error
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise PrometheusError(f"{type(error).__name__}: {_short(str(error))}") from error
        if not isinstance(result, list):
            raise PrometheusError("the answer is not an instant vector")
        return result

    def observe(self, asks: list[Ask], at: datetime) -> Result:
        """One observation per ask (keyed by ``ask.key``), or Unavailable for all of them."""
        if not asks:
            return {}
        queries: dict[str, str] = {}
        for scope, window in (("step", False), ("window", True)):
            queries[f"requests_{scope}"] = requests_query(asks, at, window)
            queries[f"errors_{scope}"] = requests_query(asks, at, window, errors=True)
            queries[f"buckets_{scope}"] = buckets_query(asks, at, window)
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        try:
            for name, promql in queries.items():
                grouped[name] = by_key(self.query(promql, at))
            grouped["checks"] = self._checks(asks, at)
        except PrometheusError as error:
            return {a.key: Unavailable(at=at, reason=str(error)) for a in asks}
        return {
            a.key: observation(a, at, {name: g.get(a.key, []) for name, g in grouped.items()})
            for a in asks
        }

    def _checks(self, asks: list[Ask], at: datetime) -> dict[str, list[dict[str, Any]]]:
        """All custom checks in one query; if Prometheus refuses it (a bad PromQL), ask
        check by check so the others still get their values (the bad one: no data)."""
        with_checks = [a for a in asks if a.checks]
        if not with_checks:
            return {}
        try:
            return by_key(self.query(checks_query(with_checks), at))
        except PrometheusError as error:
            if "400" not in str(error) and "422" not in str(error):
                raise
        grouped: dict[str, list[dict[str, Any]]] = {}
        for ask in with_checks:
            for check in ask.checks:
                single = replace(ask, checks=(check,))
                try:
                    found = by_key(self.query(checks_query([single]), at))
                except PrometheusError as error:
                    if "400" not in str(error) and "422" not in str(error):
                        raise
                    continue
                grouped.setdefault(ask.key, []).extend(found.get(ask.key, []))
        return grouped


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
