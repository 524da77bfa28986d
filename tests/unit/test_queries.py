"""The shared standard queries cannot be bent by a spec, ranges are bounded, and each
custom check becomes one confined query (``rollout.analysis.queries``, pure)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser as pp
import pytest

from rollout.analysis.promql import Refused
from rollout.analysis.queries import (
    KEY_LABEL,
    MAX_CHECKS,
    MAX_RANGE_S,
    Ask,
    Check,
    buckets_query,
    check_query,
    check_value,
    problem,
    render_check,
    requests_query,
    template_problem,
)

NOW = datetime(2026, 1, 31, tzinfo=UTC)
ASK = Ask("shop/web", "shop", "web", "v1", "v2", NOW - timedelta(minutes=5), 30)


def matchers(query: str) -> list[dict[str, tuple[pp.MatchOp, str]]]:
    """The matchers of every selector of a query, parsed back."""
    found: list[dict[str, tuple[pp.MatchOp, str]]] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.VectorSelector):
            found.append({m.name: (m.op, m.value) for m in node.matchers.matchers})
        return True

    pp.walk(pp.parse(query), visit)
    return found


def ranges(query: str) -> list[timedelta]:
    """The ranges of every matrix selector of a query."""
    found: list[timedelta] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.MatrixSelector):
            found.append(node.range)
        return True

    pp.walk(pp.parse(query), visit)
    return found


INJECTED_METRICS = [
    ("requests_metric", 'istio_requests_total{a="b"}[1s]) or vector(1) or (x', "requestsMetric"),
    ("requests_metric", "up) or vector(1", "requestsMetric"),
    ("latency_metric", 'x_bucket{namespace="victim"}', "latencyMetric"),
    ("latency_metric", "x\nor vector(1)", "latencyMetric"),
    ("latency_metric", "", "latencyMetric"),
]


@pytest.mark.parametrize(("field", "value", "named"), INJECTED_METRICS)
def test_a_metric_name_that_is_not_one_is_refused(field: str, value: str, named: str) -> None:
    """Metric names go into the shared queries only when they are metric names."""
    bad = replace(ASK, **{field: value})  # type: ignore[arg-type]
    assert problem(bad) is not None
    assert f"spec.analysis.{named}" in (problem(bad) or "")
    with pytest.raises(Refused):
        requests_query([ASK, bad], NOW)
    with pytest.raises(Refused):
        buckets_query([bad, ASK], NOW)


ODD_VALUES = [
    ("stable_version", 'v1"} or vector(1) or x{a="'),
    ("canary_version", "v2\nb"),
    ("canary_version", "v2.0|.*"),
    ("service", 'web", destination_service_namespace="victim'),
    ("namespace", "shop\\"),
    ("key", 'shop/web", "", "") or vector(1) or label_replace(x, "a", "'),
    ("canary_version", "日本\u2028"),
]


@pytest.mark.parametrize(("field", "value"), ODD_VALUES)
def test_label_values_are_quoted_in_the_shared_queries(field: str, value: str) -> None:
    """Whatever a label value holds, the shared query parses into the same shape: one
    selector per term, matching that exact value."""
    other = replace(ASK, key="other/api", namespace="other", service="api")
    odd = replace(ASK, **{field: value})  # type: ignore[arg-type]
    for query in (
        requests_query([other, odd], NOW),
        requests_query([odd, other], NOW, errors=True),
        buckets_query([other, odd], NOW),
    ):
        tree = pp.parse(query)
        assert isinstance(tree, pp.BinaryExpr)
        assert str(tree.op) == "or"
        found = matchers(query)
        assert len(found) == 2
        mine = next(m for m in found if m["destination_service_namespace"][1] == odd.namespace)
        assert mine["destination_service_name"] == (pp.MatchOp.Equal, odd.service)
        op, regex = mine["destination_version"]
        assert op == pp.MatchOp.Re
        assert re.fullmatch(regex, odd.stable_version)
        assert re.fullmatch(regex, odd.canary_version)
        assert not re.fullmatch(regex, "v3")
        keys = [
            call.args[2].val
            for call in _calls(query, "label_replace")
            if call.args[1].val == KEY_LABEL
        ]
        assert sorted(keys) == sorted([other.key, odd.key])


def _calls(query: str, name: str) -> list[pp.Call]:
    found: list[pp.Call] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.Call) and node.func.name == name:
            found.append(node)
        return True

    pp.walk(pp.parse(query), visit)
    return found


STEP_AGES = [
    (timedelta(seconds=0.2), 1),
    (timedelta(minutes=5), 300),
    (timedelta(hours=23, minutes=59, seconds=59), 86399),
    (timedelta(days=1), MAX_RANGE_S),
    (timedelta(days=30), MAX_RANGE_S),  # a paused rollout, a month on
    (timedelta(days=100000), MAX_RANGE_S),
]


@pytest.mark.parametrize(("age", "seconds"), STEP_AGES)
def test_the_step_range_is_bounded(age: timedelta, seconds: int) -> None:
    """A paused or very long step never asks for more than a day."""
    ask = replace(ASK, step_started_at=NOW - age)
    assert ask.step_seconds(NOW) == seconds
    for query in (requests_query([ask], NOW), buckets_query([ask], NOW)):
        assert ranges(query) == [timedelta(seconds=seconds)]


@pytest.mark.parametrize(("window", "seconds"), [(0, 1), (15, 15), (10**12, MAX_RANGE_S)])
def test_the_window_range_is_bounded(window: int, seconds: int) -> None:
    """``{window}`` in checks (the evaluation window) is 1 s to a day."""
    ask = replace(ASK, window_s=window, checks=(Check("w", "rate(x[{window}])"),))
    assert ranges(check_query(ask, 0)) == [timedelta(seconds=seconds)]


VALUES = {"namespace": "shop", "service": "web", "stable": "v1", "canary": "v2", "window": "30s"}
BAD_VALUES = [
    ("namespace", 'shop"} or up{a="'),
    ("service", "web\n"),
    ("stable", 'v1"'),
    ("canary", "v2` or up"),
    ("canary", "-v2"),
    ("canary", "v" * 64),
    ("window", "30s]) or up[1s"),
    ("window", "0s"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_render_check_refuses_values_of_the_wrong_shape(name: str, value: str) -> None:
    """A template value that could leave its string is refused, naming the variable."""
    with pytest.raises(Refused, match=f"{{{name}}}"):
        render_check('x{a="{namespace}", b="{canary}"}', {**VALUES, name: value})


def test_render_check_fills_known_names_only() -> None:
    """PromQL's own braces and unknown names stay as they are."""
    text = 'sum by (le) (rate(x{ns="{namespace}", v=~"{stable}|{canary}", o="{other}"}[{window}]))'
    assert render_check(text, VALUES) == (
        'sum by (le) (rate(x{ns="shop", v=~"v1|v2", o="{other}"}[30s]))'
    )


def test_check_query_names_the_field_of_a_check_that_does_not_parse() -> None:
    """The refusal names spec.analysis.customChecks[i].query."""
    ask = replace(ASK, checks=(Check("ok", "vector(1)"), Check("bad", "sum((")))
    assert check_query(ask, 0) == "topk(2, vector(1.0))"
    with pytest.raises(Refused, match=r"^spec\.analysis\.customChecks\[1\]\.query is not PromQL"):
        check_query(ask, 1)


def test_check_query_confines_to_the_rollouts_namespace() -> None:
    """The template's {namespace} and the enforced matcher are the rollout's namespace."""
    ask = replace(ASK, checks=(Check("c", 'rate(x{namespace="victim", v="{canary}"}[1m])'),))
    query = check_query(ask, 0)
    assert matchers(query) == [
        {"v": (pp.MatchOp.Equal, "v2"), "namespace": (pp.MatchOp.Equal, "shop")}
    ]


def test_check_query_enforces_the_chosen_label_only_when_allowed() -> None:
    """A check may be confined by another namespace label, if the platform allows it."""
    check = Check("c", "istio_requests_total", namespace_label="destination_service_namespace")
    ask = replace(ASK, checks=(check,))
    assert matchers(check_query(ask, 0)) == [
        {"destination_service_namespace": (pp.MatchOp.Equal, "shop")}
    ]
    with pytest.raises(Refused, match=r"customChecks\[0\]\.namespaceLabel"):
        check_query(ask, 0, allowed_labels=("namespace",))
    rogue = replace(ASK, checks=(Check("c", "up", namespace_label="job"),))
    with pytest.raises(Refused, match="namespaceLabel"):
        check_query(rogue, 0)


def test_only_the_first_checks_are_asked() -> None:
    """Checks past the bound are refused (their value: no data)."""
    ask = replace(ASK, checks=tuple(Check(f"c{i}", "vector(1)") for i in range(MAX_CHECKS + 1)))
    assert check_query(ask, MAX_CHECKS - 1)
    with pytest.raises(Refused, match=f"first {MAX_CHECKS} checks"):
        check_query(ask, MAX_CHECKS)


def _sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1.0, value]}


CHECK_VALUES = [
    ([], None),
    ([_sample("3")], 3.0),
    ([_sample("NaN")], None),
    ([_sample("+Inf")], None),
    ([_sample("1", a="x"), _sample("2", a="y")], None),
    ([_sample("1", a="x"), _sample("NaN", a="y")], None),
    ([{"metric": {}, "value": "junk"}], None),
]


@pytest.mark.parametrize(("result", "value"), CHECK_VALUES)
def test_check_value_is_one_finite_sample(result: list[dict[str, Any]], value: float) -> None:
    """More than one series, none, NaN or infinite: no data."""
    assert check_value(result) == value


TEMPLATES = [
    ('sum(rate(jobs_failed{service="{service}"}[{window}]))', None),
    ('max(queue{v=~"{stable}|{canary}"}) / 2', None),
    ("sum((", "is not PromQL"),
    ("x[{window}]", "answers a range vector"),
    ("x @ 100", "@ modifier"),
    ("x" + " + x" * 1100, "characters long"),
]


@pytest.mark.parametrize(("template", "message"), TEMPLATES)
def test_template_problem_for_the_specs_validation(template: str, message: str | None) -> None:
    """What the model can refuse up front, with the reason."""
    problem_text = template_problem(template)
    if message is None:
        assert problem_text is None
    else:
        assert problem_text is not None
        assert message in problem_text
