"""PromQL for a whole evaluation cycle, and the parsing of Prometheus's answers.

The standard Istio queries of every rollout due in a cycle are asked in the *same*
query per metric: each rollout's selector and range (its step's age, or the
evaluation window, both at most :data:`MAX_RANGE_S`) is one term, tagged with a
``meshrollout_key`` label, and the terms are joined with ``or``. So a cycle costs a
fixed number of requests however many rollouts it serves. Those terms are built only
from checked metric names and quoted label values (:mod:`rollout.analysis.promql`), so
no spec can change their shape. Counters go through ``increase`` (counter resets
handled by Prometheus).

Custom checks are never joined with anything: :func:`check_query` gives one query per
check, confined to its rollout's namespace and to at most two series. Pure: the
adapter in ``rollout.analysis.prometheus`` sends these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.analysis.observations import Counts, Observation, VersionCounts
from rollout.analysis.promql import Refused, confine, metric_name, quote, re2_literal

KEY_LABEL = "meshrollout_key"
VERSION_LABEL = "destination_version"
SERVICE_LABEL = "destination_service_name"
REPORTERS = ("destination", "waypoint")
"""Who reports the series a rollout is judged on: each sidecar for the requests it
receives (``destination``), or in ambient mode the service's waypoint (``waypoint``,
Istio's "post-migration observability changes"); ambient mode without a waypoint has
no L7 series at all."""
MAX_RANGE_S = 24 * 3600
"""The longest range asked for. A step (or a paused one) older than this is judged on
its last day: plenty to reach any minimum of requests, a bounded cost per series
(5,760 samples at a 15 s scrape), and well inside Prometheus's default retention."""
MAX_CHECKS = 20
"""Custom checks asked per rollout; the rest are "no data"."""
NAMESPACE_LABEL = "namespace"
"""The label a check's selectors are confined by unless it names another: the scrape
target's namespace, set by Kubernetes service discovery, as prom-label-proxy enforces."""
NAMESPACE_LABELS = ("namespace", "destination_service_namespace")
"""Labels a check may be confined by (a platform may narrow this)."""


@dataclass(frozen=True)
class Check:
    """A custom check of the spec: its template, and the label that holds a namespace."""

    name: str
    query: str  # the template, with {namespace}, {service}, {stable}, {canary}, {window}
    namespace_label: str = NAMESPACE_LABEL


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
    checks: tuple[Check, ...] = ()
    reporter: str = "destination"  # one of REPORTERS
    # "version": the pair is two destination_version values of ``service`` (subsets);
    # "service": two backend Services (an HTTPRoute's inventory-v1/-v2), told apart by
    # destination_service_name, held in stable_version/canary_version.
    split_by: str = "version"

    @property
    def split_label(self) -> str:
        """The label that tells stable from canary in this ask's series."""
        return SERVICE_LABEL if self.split_by == "service" else VERSION_LABEL

    def step_seconds(self, at: datetime) -> int:
        """The step's age as a whole-second range, at least 1s and at most a day."""
        return min(MAX_RANGE_S, max(1, math.ceil((at - self.step_started_at).total_seconds())))

    def window_seconds(self) -> int:
        """The evaluation window as a range, 1s to a day."""
        return min(MAX_RANGE_S, max(1, self.window_s))


def problem(ask: Ask) -> str | None:
    """Why this rollout cannot be in the shared standard queries (None: it can)."""
    try:
        _terms(ask, 1, "")
        quote(ask.key)
    except Refused as error:
        return str(error)
    return None


def _terms(ask: Ask, seconds: int, extra: str) -> tuple[str, str]:
    requests = metric_name(ask.requests_metric, "spec.analysis.requestsMetric")
    latency = metric_name(ask.latency_metric, "spec.analysis.latencyMetric")
    versions = "|".join(re2_literal(v) for v in (ask.stable_version, ask.canary_version))
    if ask.reporter not in REPORTERS:
        raise Refused(f"reporter {ask.reporter[:40]!r} is not one of {', '.join(REPORTERS)}")
    parts = [
        f"reporter={quote(ask.reporter)}",
        f"destination_service_namespace={quote(ask.namespace)}",
    ]
    if ask.split_by == "service":
        parts.append(f"{SERVICE_LABEL}=~{quote(versions)}")
    else:
        parts += [f"{SERVICE_LABEL}={quote(ask.service)}", f"{VERSION_LABEL}=~{quote(versions)}"]
    if extra:
        parts.append(extra)
    selector = "{" + ", ".join(parts) + "}" + f"[{seconds}s]"
    return f"increase({requests}{selector})", f"increase({latency}{selector})"


def _tag(expr: str, key: str) -> str:
    return f'label_replace({expr}, "{KEY_LABEL}", {quote(key)}, "", "")'


def _union(terms: list[str]) -> str:
    """The terms joined by ``or`` as a balanced tree: Prometheus's ``a or b`` costs the
    size of both sides, so a left-deep chain of n terms costs n² (a thousand rollouts'
    bucket query took 24 s), a balanced one n log n.

    >>> _union(["a", "b", "c"])
    'a or (b or c)'
    """
    if len(terms) <= 2:
        return " or ".join(terms)
    half = len(terms) // 2
    left, right = _union(terms[:half]), _union(terms[half:])
    return f"{left if half == 1 else '(' + left + ')'} or ({right})"


def requests_query(asks: list[Ask], at: datetime, errors: bool = False) -> str:
    """Requests (or 5xx responses) per rollout and version since the step started.

    Raises :class:`~rollout.analysis.promql.Refused` for an ask with a :func:`problem`.
    """
    extra = 'response_code=~"5.."' if errors else ""
    terms = []
    for ask in asks:
        inner, _ = _terms(ask, ask.step_seconds(at), extra)
        terms.append(_tag(f"sum by ({ask.split_label}) ({inner})", ask.key))
    return _union(terms)


def buckets_query(asks: list[Ask], at: datetime) -> str:
    """Latency bucket counts per rollout, version and ``le`` since the step started."""
    terms = []
    for ask in asks:
        _, inner = _terms(ask, ask.step_seconds(at), "")
        terms.append(_tag(f"sum by ({ask.split_label}, le) ({inner})", ask.key))
    return _union(terms)


CHECK_VARIABLES = ("namespace", "service", "stable", "canary", "window")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_WINDOW = re.compile(r"[1-9][0-9]{0,5}s")
_VALUE_SHAPES = {
    "namespace": _DNS_LABEL,
    "service": _DNS_LABEL,
    "stable": _LABEL_VALUE,
    "canary": _LABEL_VALUE,
    "window": _WINDOW,
}


def render_check(template: str, values: dict[str, str]) -> str:
    """Fill ``{namespace}``, ``{service}``, ``{stable}``, ``{canary}`` and ``{window}``.

    Only those names are replaced, so PromQL's own braces stay as they are. Each value
    must have its shape (a DNS label, a Kubernetes label value, a range in seconds) and
    is escaped as the inside of a PromQL string, or the check is
    :class:`~rollout.analysis.promql.Refused`.

    >>> render_check('rate(jobs_failed{ns="{namespace}"}[{window}])', {"namespace": "shop",
    ...              "window": "30s"})
    'rate(jobs_failed{ns="shop"}[30s])'
    """
    for name, value in values.items():
        shape = _VALUE_SHAPES.get(name)
        if shape is None or len(value) > 63 or not shape.fullmatch(value):
            raise Refused(f"{{{name}}} would be {value[:63]!r}, which is not a valid {name}")
    pattern = re.compile(r"\{(" + "|".join(CHECK_VARIABLES) + r")\}")
    return pattern.sub(
        lambda m: quote(values[m.group(1)])[1:-1] if m.group(1) in values else m.group(0), template
    )


def check_query(ask: Ask, index: int, allowed_labels: Iterable[str] = NAMESPACE_LABELS) -> str:
    """The query for ``ask.checks[index]``: rendered, parsed, confined to the rollout's
    namespace, at most two series. :class:`~rollout.analysis.promql.Refused` with a
    message naming the spec field when it cannot be sent."""
    field = f"spec.analysis.customChecks[{index}]"
    check = ask.checks[index]
    if index >= MAX_CHECKS:
        raise Refused(f"{field}: only the first {MAX_CHECKS} checks are asked")
    if check.namespace_label not in tuple(allowed_labels):
        raise Refused(
            f"{field}.namespaceLabel: {check.namespace_label[:63]!r} is not one of "
            f"{', '.join(allowed_labels)}"
        )
    values = {
        "namespace": ask.namespace,
        "service": ask.service,
        "stable": ask.stable_version,
        "canary": ask.canary_version,
        "window": f"{ask.window_seconds()}s",
    }
    try:
        return confine(render_check(check.query, values), check.namespace_label, ask.namespace)
    except Refused as error:
        raise Refused(f"{field}.query {error}") from None


def template_problem(template: str, namespace_label: str = NAMESPACE_LABEL) -> str | None:
    """Why a check's template can never be sent (None: it can), for the spec's validation.

    >>> template_problem("sum(rate(x[{window}]))") is None
    True
    >>> template_problem("sum((")
    'is not PromQL: unclosed left parenthesis'
    """
    values = {"namespace": "ns", "service": "svc", "stable": "v1", "canary": "v2", "window": "60s"}
    try:
        confine(render_check(template, values), namespace_label, "ns")
    except Refused as error:
        return str(error)
    return None


def check_value(result: list[dict[str, Any]]) -> float | None:
    """A check's value: its one finite sample; None for none, several, NaN or infinite."""
    values = [_value(s) for s in result]
    finite = [v for v in values if not math.isnan(v) and not math.isinf(v)]
    return finite[0] if len(values) == 1 and len(finite) == 1 else None


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


def _per_version(samples: list[dict[str, Any]], version: str, label: str = VERSION_LABEL) -> float:
    values = [_value(s) for s in samples if s["metric"].get(label) == version]
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite)


def _buckets(
    samples: list[dict[str, Any]], version: str, label: str = VERSION_LABEL
) -> tuple[tuple[float, float], ...]:
    out = []
    for s in samples:
        if s["metric"].get(label) != version or "le" not in s["metric"]:
            continue
        value = _value(s)
        try:
            bound = float(s["metric"]["le"])
        except (TypeError, ValueError):
            continue  # not a bucket bound: a metric that is not a histogram
        if not math.isnan(value) and not math.isnan(bound):
            out.append((bound, value))
    return tuple(sorted(out))


def observation(
    ask: Ask,
    at: datetime,
    results: dict[str, list[dict[str, Any]]],
    checks: dict[str, float | None] | None = None,
) -> Observation:
    """Assemble one rollout's observation from the cycle's grouped results.

    ``results`` maps each query name (``requests``, ``errors``, ``buckets``) to that
    query's samples for this rollout;
    ``checks`` holds the custom checks' values (a check missing there has no data).
    """

    def version_counts(version: str) -> VersionCounts:
        label = ask.split_label
        step = Counts(
            requests=_per_version(results.get("requests", []), version, label),
            errors=_per_version(results.get("errors", []), version, label),
            buckets=_buckets(results.get("buckets", []), version, label),
        )
        return VersionCounts(step=step)

    found = checks or {}
    return Observation(
        at=at,
        stable=version_counts(ask.stable_version),
        canary=version_counts(ask.canary_version),
        checks={c.name: found.get(c.name) for c in ask.checks},
    )
