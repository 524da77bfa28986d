"""PromQL for a whole evaluation cycle, and the parsing of Prometheus's answers.

Every rollout due in a cycle is asked for in the *same* query per metric: each
rollout's selector and range (its step's age, or the evaluation window) is one
term, tagged with a ``meshrollout_key`` label, and the terms are joined with
``or``. So a cycle costs a fixed number of requests however many rollouts it
serves. Counters go through ``increase`` (counter resets handled by
Prometheus). Pure: the adapter in ``rollout.analysis.prometheus`` sends these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.analysis.observations import Counts, Observation, VersionCounts

KEY_LABEL = "meshrollout_key"
CHECK_LABEL = "meshrollout_check"
VERSION_LABEL = "destination_version"


@dataclass(frozen=True)
class Ask:
    """What to observe for one rollout in this cycle."""

    key: str  # namespace/name of the Rollout
    namespace: str
    service: str  # the destination_service_name (the host's first label)
    stable_version: str  # destination_version values (the subsets' version labels)
    canary_version: str
    step_started_at: datetime
    window_s: int
    requests_metric: str = "istio_requests_total"
    latency_metric: str = "istio_request_duration_milliseconds_bucket"
    checks: tuple[tuple[str, str], ...] = ()  # (name, rendered PromQL)

    def step_seconds(self, at: datetime) -> int:
        """The step's age as a whole-second range (at least 1s)."""
        return max(1, math.ceil((at - self.step_started_at).total_seconds()))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(ask: Ask, extra: str = "") -> str:
    versions = "|".join(re.escape(v) for v in (ask.stable_version, ask.canary_version))
    parts = [
        'reporter="destination"',
        f"destination_service_namespace={_quote(ask.namespace)}",
        f"destination_service_name={_quote(ask.service)}",
        f"{VERSION_LABEL}=~{_quote(versions)}",
    ]
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


def _tag(expr: str, key: str, label: str = KEY_LABEL) -> str:
    return f'label_replace({expr}, "{label}", {_quote(key)}, "", "")'


def _union(terms: Iterable[str]) -> str:
    return " or ".join(terms)


def requests_query(asks: list[Ask], at: datetime, window: bool, errors: bool = False) -> str:
    """Requests (or 5xx responses) per rollout and version, since step start or in the window."""
    extra = 'response_code=~"5.."' if errors else ""
    terms = []
    for ask in asks:
        seconds = ask.window_s if window else ask.step_seconds(at)
        inner = f"increase({ask.requests_metric}{_selector(ask, extra)}[{seconds}s])"
        terms.append(_tag(f"sum by ({VERSION_LABEL}) ({inner})", ask.key))
    return _union(terms)


def buckets_query(asks: list[Ask], at: datetime, window: bool) -> str:
    """Latency bucket counts per rollout, version and ``le``."""
    terms = []
    for ask in asks:
        seconds = ask.window_s if window else ask.step_seconds(at)
        inner = f"increase({ask.latency_metric}{_selector(ask)}[{seconds}s])"
        terms.append(_tag(f"sum by ({VERSION_LABEL}, le) ({inner})", ask.key))
    return _union(terms)


CHECK_VARIABLES = ("namespace", "service", "stable", "canary", "window")


def render_check(template: str, values: dict[str, str]) -> str:
    """Fill ``{namespace}``, ``{service}``, ``{stable}``, ``{canary}`` and ``{window}``.

    Only those names are replaced, so PromQL's own braces stay as they are.

    >>> render_check('rate(jobs_failed{ns="{namespace}"}[{window}])', {"namespace": "shop",
    ...              "window": "30s"})
    'rate(jobs_failed{ns="shop"}[30s])'
    """
    pattern = re.compile(r"\{(" + "|".join(CHECK_VARIABLES) + r")\}")
    return pattern.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def checks_query(asks: list[Ask]) -> str:
    """Every custom check of every rollout, each tagged with its rollout and name."""
    terms = [
        _tag(_tag(f"({query})", name, CHECK_LABEL), ask.key)
        for ask in asks
        for name, query in ask.checks
    ]
    return _union(terms)


def _value(sample: dict[str, Any]) -> float:
    raw = sample.get("value") or [0, "NaN"]
    try:
        return float(raw[1])
    except (TypeError, ValueError, IndexError):
        return math.nan


def by_key(result: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group an instant-vector result by the rollout key label."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for sample in result:
        key = (sample.get("metric") or {}).get(KEY_LABEL)
        if key is not None:
            grouped.setdefault(key, []).append(sample)
    return grouped


def _per_version(samples: list[dict[str, Any]], version: str) -> float:
    values = [_value(s) for s in samples if s["metric"].get(VERSION_LABEL) == version]
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite)


def _buckets(samples: list[dict[str, Any]], version: str) -> tuple[tuple[float, float], ...]:
    out = []
    for s in samples:
        if s["metric"].get(VERSION_LABEL) != version or "le" not in s["metric"]:
            continue
        value = _value(s)
        if not math.isnan(value):
            out.append((float(s["metric"]["le"]), value))
    return tuple(sorted(out))


def observation(
    ask: Ask,
    at: datetime,
    results: dict[str, list[dict[str, Any]]],
) -> Observation:
    """Assemble one rollout's observation from the cycle's grouped results.

    ``results`` maps each query name (``requests``/``errors``/``buckets`` with a
    ``_step`` or ``_window`` suffix, and ``checks``) to that query's samples for
    this rollout.
    """

    def counts(version: str, scope: str) -> Counts:
        return Counts(
            requests=_per_version(results.get(f"requests_{scope}", []), version),
            errors=_per_version(results.get(f"errors_{scope}", []), version),
            buckets=_buckets(results.get(f"buckets_{scope}", []), version),
        )

    def version_counts(version: str) -> VersionCounts:
        return VersionCounts(step=counts(version, "step"), window=counts(version, "window"))

    checks: dict[str, float | None] = {}
    for name, _ in ask.checks:
        values = [
            _value(s) for s in results.get("checks", []) if s["metric"].get(CHECK_LABEL) == name
        ]
        finite = [v for v in values if not math.isnan(v) and not math.isinf(v)]
        checks[name] = finite[0] if len(finite) == 1 else None
    return Observation(
        at=at,
        stable=version_counts(ask.stable_version),
        canary=version_counts(ask.canary_version),
        checks=checks,
    )
