"""Ask Prometheus for one evaluation cycle; one tenant's checks never spoil another's data.

A cycle sends a fixed number of standard queries whatever the number of rollouts
(``rollout.analysis.queries`` batches them): requests, 5xx and latency buckets,
each since the step started and over the last window. Any failure to get those
answers (refused, timeout, 5xx, an answer that is not JSON) makes every rollout of
the cycle :class:`Unavailable`; it is never a pass. A rollout whose own spec cannot be
put in those queries (a metric name that is not one) is Unavailable alone.

Custom checks come after, one query per check, each with its own short timeout (on
the server too) and no retries, a few rollouts at a time, and a budget per rollout:
a check that is refused, fails, is slow or answers too much is "no data" (None) for
its own rollout only, and the reason is kept in :attr:`PrometheusSource.check_errors`.

Every query is a form POST (no URL length limit, however many rollouts) that names
its evaluation time. ``prometheus-api-client``'s ``custom_query`` puts the query in
the URL even with ``method="POST"``, so this thin adapter uses ``requests`` itself.
The adapter does not judge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import orjson  # a cycle's bucket answer for 1,000 rollouts is megabytes of JSON
import requests

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.promql import Refused
from rollout.analysis.queries import (
    NAMESPACE_LABELS,
    Ask,
    buckets_query,
    by_key,
    check_query,
    check_value,
    observation,
    problem,
    requests_query,
)

Result = dict[str, Observation | Unavailable]
RETRY_STATUS = (502, 503, 504)


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
        check_timeout_s: float = 2.0,
        check_budget_s: float = 5.0,
        check_workers: int = 4,
        namespace_labels: Iterable[str] = NAMESPACE_LABELS,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.session = session or requests.Session()
        self.check_timeout_s = check_timeout_s
        self.check_budget_s = check_budget_s
        self.check_workers = max(1, check_workers)
        self.namespace_labels = tuple(namespace_labels)
        self.check_errors: dict[str, dict[str, str]] = {}
        """Why a check had no value in the last cycle: rollout key → check name → reason."""

    def query(
        self, promql: str, at: datetime, timeout_s: float | None = None, attempts: int = 0
    ) -> list[dict[str, Any]]:
        """An instant query at ``at``; raises :class:`PrometheusError` for any bad answer.

        ``attempts`` (default ``retries + 1``) tries on a refused connection, a timeout
        or a 502/503/504, with a short backoff.
        """
        timeout = self.timeout_s if timeout_s is None else timeout_s
        form = {
            "query": promql,
            "time": f"{at.timestamp():.3f}",
            "timeout": f"{max(1, round(timeout * 1000))}ms",  # Prometheus stops there too
        }
        tries = attempts or self.retries + 1
        for attempt in range(tries):
            last = attempt == tries - 1
            try:
                response = self.session.post(
                    f"{self.url}/api/v1/query", data=form, timeout=timeout + 0.5
                )
            except requests.RequestException as error:
                if last:
                    raise PrometheusError(f"{type(error).__name__}: {_short(str(error))}") from None
            else:
                if response.status_code not in RETRY_STATUS or last:
                    return _result(response)
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[dict[str, Any]]:
        """A range query (the dashboard's charts): each series' ``metric`` and its
        ``values`` as ``[unix time, "text"]``; one try, :class:`PrometheusError` otherwise."""
        form = {
            "query": promql,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{max(step_s, 0.001):.3f}",
            "timeout": f"{max(1, round(self.timeout_s * 1000))}ms",
        }
        try:
            response = self.session.post(
                f"{self.url}/api/v1/query_range", data=form, timeout=self.timeout_s + 0.5
            )
        except requests.RequestException as error:
            raise PrometheusError(f"{type(error).__name__}: {_short(str(error))}") from None
        return _result(response, "matrix")

    def observe(self, asks: list[Ask], at: datetime) -> Result:
        """One observation per ask (keyed by ``ask.key``); Unavailable for all of them when
        the standard queries fail, for one of them when its own spec is the cause."""
        out: Result = {}
        good: list[Ask] = []
        seen: set[str] = set()
        for ask in asks:
            if ask.key in seen:
                continue
            seen.add(ask.key)
            why = problem(ask)
            if why is None:
                good.append(ask)
            else:
                out[ask.key] = Unavailable(at=at, reason=why)
        self.check_errors = {}
        if not good:
            return out
        # Rollouts on Istio's standard metrics share one batch; a rollout that names metrics
        # of its own is asked apart, so its metrics (slow, huge, odd) can only hurt itself.
        # Those are asked side by side, with a check's timeout: a slow metric of one tenant
        # holds the cycle for at most that long, not three queries' worth for each.
        shared = [a for a in good if _standard(a)]
        if shared:
            out.update(self._standard_queries(shared, at))
        own = [a for a in good if not _standard(a)]
        if own:
            workers = min(self.check_workers, len(own))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="own") as pool:
                alone = [
                    pool.submit(self._standard_queries, [a], at, self.check_timeout_s) for a in own
                ]
                for future in alone:
                    out.update(future.result())
        return out

    def _standard_queries(
        self, asks: list[Ask], at: datetime, timeout_s: float | None = None
    ) -> Result:
        """Requests, 5xx and latency buckets for ``asks``, in three queries, and their checks."""
        queries = {
            "requests": requests_query(asks, at),
            "errors": requests_query(asks, at, errors=True),
            "buckets": buckets_query(asks, at),
        }
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        try:
            for name, promql in queries.items():
                grouped[name] = by_key(self.query(promql, at, timeout_s))
        except PrometheusError as error:
            return {a.key: Unavailable(at=at, reason=str(error)) for a in asks}
        checks = self._checks(asks, at)
        out: Result = {}
        for a in asks:
            results = {name: g.get(a.key, []) for name, g in grouped.items()}
            try:
                out[a.key] = observation(a, at, results, checks.get(a.key, {}))
            except (ValueError, TypeError, KeyError) as error:  # an answer we cannot read
                out[a.key] = Unavailable(at=at, reason=f"unreadable answer: {type(error).__name__}")
        return out

    def _checks(self, asks: list[Ask], at: datetime) -> dict[str, dict[str, float | None]]:
        """Every rollout's checks, a few rollouts at a time, each on its own."""
        with_checks = [a for a in asks if a.checks]
        if not with_checks:
            return {}
        workers = min(self.check_workers, len(with_checks))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checks") as pool:
            answers = list(pool.map(lambda a: self._rollout_checks(a, at), with_checks))
        out: dict[str, dict[str, float | None]] = {}
        for ask, (values, errors) in zip(with_checks, answers, strict=True):
            out[ask.key] = values
            if errors:
                self.check_errors[ask.key] = errors
        return out

    def _rollout_checks(
        self, ask: Ask, at: datetime
    ) -> tuple[dict[str, float | None], dict[str, str]]:
        """One rollout's checks, one query each, within the rollout's time budget."""
        deadline = time.monotonic() + self.check_budget_s
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        for index, check in enumerate(ask.checks):
            values[check.name] = None
            left = min(self.check_timeout_s, deadline - time.monotonic())
            try:
                promql = check_query(ask, index, self.namespace_labels)
                if left <= 0.05:
                    raise PrometheusError("the rollout's checks ran out of time this cycle")
                values[check.name] = check_value(self.query(promql, at, left, attempts=1))
            except (Refused, PrometheusError) as error:
                errors[check.name] = str(error)
            except Exception as error:  # noqa: BLE001 a bug in one check must not end the cycle
                errors[check.name] = f"{type(error).__name__} while asking the check"
        return values, errors


def _result(response: requests.Response, kind: str = "vector") -> list[dict[str, Any]]:
    if response.status_code != 200:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(response.json().get("error", ""))
        raise PrometheusError(f"HTTP {response.status_code} {_short(detail, 160)}".strip())
    try:
        data = orjson.loads(response.content)["data"]
        result = data["result"]
    except (ValueError, KeyError, TypeError) as error:
        raise PrometheusError(
            f"the answer is not Prometheus JSON ({type(error).__name__})"
        ) from None
    if data.get("resultType", kind) != kind or not isinstance(result, list):
        raise PrometheusError(f"the answer is not a {kind}")
    return result


def _standard(ask: Ask) -> bool:
    return (ask.requests_metric, ask.latency_metric) == (
        Ask.requests_metric,
        Ask.latency_metric,
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
