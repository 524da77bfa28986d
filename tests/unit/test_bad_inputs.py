"""A catalogue of bad inputs (issue #13): every one is refused with a message naming the field
or argument at fault, none is silently accepted, none reaches a traceback.

Spec entries go through :func:`rollout.model.parse_spec`, as the controller and the CLI
read a Rollout; CLI entries run the `rollout` command in-process against an in-memory
API server and must exit 2 before any request.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.model import SpecError, parse_spec
from tests.unit.cli_fakes import FakeKube, run, shop

MINIMAL: dict[str, Any] = {
    "service": "inventory-service",
    "stableSubset": "v1",
    "canarySubset": "v2",
}
CHECK = {"name": "queue", "query": "sum(queue_depth)", "max": 5}
SLACK = {"mode": "bot", "channel": "#releases", "secretRef": {"name": "slack", "key": "token"}}
LONG = "a" * 5000
CHANNEL = "spec.notifications.slack.channel"


def at(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The minimal spec (or ``base``) with ``value`` at the dotted ``path``."""
    spec = copy.deepcopy(base or MINIMAL)
    node = spec
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return spec


def bad(path: str, value: Any, words: str, field: str | None = None, **kw: Any) -> Any:
    """A catalogue entry: ``value`` at ``path`` is refused naming ``field`` with ``words``."""
    ident = f"{path}={str(value)[:24]}"
    return pytest.param(at(path, value, **kw), field or f"spec.{path}", words, id=ident)


def checks(*items: dict[str, Any]) -> dict[str, Any]:
    """A spec with these custom checks."""
    return at("analysis.customChecks", list(items))


SPECS = [
    # names and hosts
    bad("service", "", "at least 1"),
    bad("service", "a" * 254, "at most 253"),
    bad("service", "inventory service", "host name"),
    bad("service", "inventory/x", "host name"),
    bad("service", 42, "valid string"),
    bad("stableSubset", "v1.0", "DNS-1123 label"),
    bad("stableSubset", "", "at least 1"),
    bad("canarySubset", "v" * 64, "at most 63"),
    bad("canarySubset", "-v2", "DNS-1123 label"),
    bad("virtualService", "Inventory", "Kubernetes name"),
    bad("virtualService", "a" * 254, "at most 253"),
    bad("virtualService", "inventory/route", "Kubernetes name"),
    bad("virtualService", "route.", "Kubernetes name"),
    bad("destinationRule", "dr?x=1", "Kubernetes name"),
    bad("destinationRule", "", "at least 1"),
    # routes
    bad("routes", ["r"] * 33, "at most 32"),
    bad("routes", [f"r{i}" for i in range(40)], "at most 32"),
    bad("routes", [""], "at least 1", field="spec.routes[0]"),
    bad("routes", ["a" * 254], "at most 253", field="spec.routes[0]"),
    bad("routes", ["pri\nmary"], "printable", field="spec.routes[0]"),
    bad("routes", ["a", "\x1b[31m"], "printable", field="spec.routes[1]"),
    bad("routes", "primary", "valid list"),
    # steps
    bad("strategy.steps", list(range(1, 102)), "at most 100"),
    bad("strategy.steps", [10**30, 100], "1..100", field="spec.strategy.steps[0]"),
    bad("strategy.steps", [-5, 100], "1..100", field="spec.strategy.steps[0]"),
    bad("strategy.steps", ["five", 100], "valid integer", field="spec.strategy.steps[0]"),
    bad("strategy.steps", [5.5, 100], "valid integer", field="spec.strategy.steps[0]"),
    bad("strategy.steps", [], "at least one"),
    bad("strategy.steps", [100, 100], "strictly increase", field="spec.strategy.steps[1]"),
    # durations
    bad("analysis.interval", "100000000h", "longer than 1h"),
    bad("analysis.interval", "99999999999999h", "longer than 1h"),
    bad("analysis.interval", "9" * 40 + "h", "at most 32"),
    bad("analysis.interval", "61m", "longer than 1h"),
    bad("analysis.interval", "500ms", "shorter than 1s"),
    bad("analysis.interval", "0s", "longer than zero"),
    bad("analysis.interval", "15", "duration"),
    bad("analysis.interval", "1d", "duration"),
    bad("analysis.interval", "-1s", "duration"),
    bad("analysis.interval", 15, "valid string"),
    bad("analysis.interval", "", "duration"),
    bad("analysis.interval", "1.5s", "duration"),
    bad("strategy.stepDuration", "25h", "longer than 24h"),
    bad("strategy.stepDuration", "1440m1ms", "longer than 24h"),
    bad("strategy.stepDuration", "100000000h", "longer than 24h"),
    bad("strategy.stepDuration", "99999999999999999999999h", "longer than 24h"),
    bad("strategy.stepDuration", "5 min", "duration"),
    bad("strategy.headerRoute.duration", "48h", "longer than 24h"),
    bad("strategy.headerRoute.duration", "0ms", "longer than zero"),
    bad("onRegression.outlierDetection.interval", "2h", "longer than 1h"),
    bad("onRegression.outlierDetection.interval", "0ms", "longer than zero"),
    bad("onRegression.outlierDetection.baseEjectionTime", "8785h", "longer than 24h"),
    bad("onRegression.outlierDetection.baseEjectionTime", "forever", "duration"),
    # counts and numbers
    bad("analysis.minRequests", 10**12, "less than or equal to 1000000000"),
    bad("analysis.minRequests", -1, "greater than or equal to 0"),
    bad("analysis.minRequests", "many", "valid integer"),
    bad("analysis.maxInconclusive", 1001, "less than or equal to 1000"),
    bad("analysis.maxInconclusive", 10**100, "less than or equal to 1000"),
    bad("analysis.maxP99Ms", 3_600_001, "less than or equal to 3600000"),
    bad("analysis.maxP99Ms", float("inf"), "finite"),
    bad("analysis.maxP99Ms", -5, "greater than 0"),
    bad("analysis.latencyFloorMs", -1, "greater than or equal to 0"),
    bad("analysis.latencyFloorMs", 3_600_001, "less than or equal to 3600000"),
    bad("analysis.latencyFloorMs", float("nan"), "finite"),
    bad("analysis.latencyFloorMs", "25ms", "valid number"),
    bad("analysis.latencyFloorMS", 25, "unknown field"),
    bad("analysis.maxErrorRate", 2, "less than or equal to 1"),
    bad("analysis.maxErrorRate", float("nan"), "finite"),
    bad("analysis.alpha", 0.5, "less than 0.5"),
    bad("analysis.tolerance", 11, "less than or equal to 10"),
    bad("strategy.headerRoute.minRequests", 10**10, "less than or equal to 1000000000"),
    bad("onRegression.outlierDetection.consecutive5xxErrors", 2**32, "less than or equal"),
    bad("onRegression.outlierDetection.maxEjectionPercent", 101, "less than or equal to 100"),
    bad("onRegression.outlierDetection.minHealthPercent", -1, "greater than or equal to 0"),
    # metric names
    bad("analysis.requestsMetric", "a" * 201, "at most 200"),
    bad("analysis.requestsMetric", 'up{job="x"}', "Prometheus metric name"),
    bad("analysis.latencyMetric", "rate(x[5m])", "Prometheus metric name"),
    bad("analysis.latencyMetric", "", "Prometheus metric name"),
    # header route
    bad("strategy.headerRoute.header", "X-Canary", "lowercase"),
    bad("strategy.headerRoute.header", "x" * 257, "at most 256"),
    bad("strategy.headerRoute.header", "", "at least 1"),
    bad("strategy.headerRoute.value", "yes\r\nx-admin: 1", "printable"),
    bad("strategy.headerRoute.value", "v" * 257, "at most 256"),
    bad("strategy.headerRoute.value", "", "at least 1"),
    # enums and booleans
    bad("analysis.judge", "vibes", "'threshold' or 'sequential'"),
    bad("preflight.mtls", "never", "'warn', 'block' or 'off'"),
    bad("onDrift", "ignore", "'revert' or 'pause'"),
    bad("paused", "maybe", "valid boolean"),
    # commands
    bad("command", {"name": "abort", "id": "x" * 65}, "at most 64", field="spec.command.id"),
    bad("command", {"name": "abort", "id": "a b"}, "letters, digits", field="spec.command.id"),
    bad("command", {"name": "abort", "id": ""}, "at least 1", field="spec.command.id"),
    bad("command", {"name": "abort"}, "Field required", field="spec.command.id"),
    # notifications
    bad("notifications.slack", {**SLACK, "channel": "<!channel>"}, "Slack channel", field=CHANNEL),
    bad("notifications.slack", {**SLACK, "channel": "#a" * 50}, "at most 81", field=CHANNEL),
    bad("notifications.slack", {**SLACK, "channel": "rel eases"}, "Slack channel", field=CHANNEL),
    bad("notifications.slack", {**SLACK, "channel": "@here"}, "Slack channel", field=CHANNEL),
    bad(
        "notifications.slack.secretRef",
        {"name": "Slack_Token", "key": "token"},
        "Kubernetes name",
        field="spec.notifications.slack.secretRef.name",
        base=at("notifications.slack", SLACK),
    ),
    bad(
        "notifications.slack.secretRef",
        {"name": "slack", "key": "to/ken"},
        "letters, digits",
        field="spec.notifications.slack.secretRef.key",
        base=at("notifications.slack", SLACK),
    ),
    bad(
        "notifications.slack.secretRef",
        {"name": "s" * 254, "key": "token"},
        "at most 253",
        field="spec.notifications.slack.secretRef.name",
        base=at("notifications.slack", SLACK),
    ),
    bad(
        "notifications.webhook",
        {"secretRef": {"name": "hook", "key": "k" * 254}},
        "at most 253",
        field="spec.notifications.webhook.secretRef.key",
    ),
    bad(
        "notifications.links",
        {"grafana": "javascript:alert(1)"},
        "http(s) URL",
        field="spec.notifications.links.grafana",
    ),
    bad(
        "notifications.links",
        {"grafana": "https://example.com/|<!channel>"},
        "http(s) URL",
        field="spec.notifications.links.grafana",
    ),
    bad(
        "notifications.links",
        {"grafana": "https://x/" + "a" * 2048},
        "at most 2048",
        field="spec.notifications.links.grafana",
    ),
    bad(
        "notifications.links",
        {f"l{i}": "https://x" for i in range(11)},
        "at most 10",
    ),
    bad(
        "notifications.links",
        {"a\nb": "https://x"},
        "one line",
        field="spec.notifications.links.'a\\nb'",
    ),
    bad(
        "notifications.links",
        {"n" * 64: "https://x"},
        "at most 63",
        field=f"spec.notifications.links.{'n' * 64}",
    ),
    # unknown fields
    bad("analysis.intervall", "15s", "unknown field"),
    bad("strategy.stepsDuration", "1m", "unknown field"),
]

CHECKS = [
    pytest.param(
        checks(*[{**CHECK, "name": f"c{i}"} for i in range(11)]),
        "spec.analysis.customChecks",
        "at most 10",
        id="eleven-checks",
    ),
    pytest.param(
        checks({**CHECK, "query": "x" * 2049}),
        "spec.analysis.customChecks[0].query",
        "at most 2048",
        id="long-query",
    ),
    pytest.param(
        checks({**CHECK, "query": ""}),
        "spec.analysis.customChecks[0].query",
        "at least 1",
        id="empty-query",
    ),
    pytest.param(
        checks({**CHECK, "query": "up\x00"}),
        "spec.analysis.customChecks[0].query",
        "printable",
        id="nul-in-query",
    ),
    pytest.param(
        checks({**CHECK, "query": "sum(("}),
        "spec.analysis.customChecks[0].query",
        "is not PromQL",
        id="query-not-promql",
    ),
    pytest.param(
        checks({**CHECK, "query": "sum(rate(x[1m]) @ 100)"}),
        "spec.analysis.customChecks[0].query",
        "@",
        id="query-with-at-modifier",
    ),
    pytest.param(
        checks({**CHECK, "query": 'label_join(up, "a", ",", "b")[5m:1m]'}),
        "spec.analysis.customChecks[0].query",
        "range vector",
        id="query-answers-a-range-vector",
    ),
    pytest.param(
        checks({**CHECK, "namespaceLabel": "team"}),
        "spec.analysis.customChecks[0].namespaceLabel",
        "namespace",
        id="check-namespace-label",
    ),
    pytest.param(
        checks({**CHECK, "name": "Queue Depth"}),
        "spec.analysis.customChecks[0].name",
        "DNS-1123 label",
        id="check-name",
    ),
    pytest.param(
        checks({**CHECK, "name": "q" * 64}),
        "spec.analysis.customChecks[0].name",
        "at most 63",
        id="long-check-name",
    ),
    pytest.param(
        checks(CHECK, CHECK),
        "spec.analysis.customChecks[1].name",
        "listed twice",
        id="check-twice",
    ),
    pytest.param(
        checks({**CHECK, "max": 1e300}),
        "spec.analysis.customChecks[0].max",
        "less than or equal to 1000000000000000",
        id="huge-max",
    ),
    pytest.param(
        checks({**CHECK, "min": float("-inf")}),
        "spec.analysis.customChecks[0].min",
        "finite",
        id="minus-infinity",
    ),
    pytest.param(
        checks({**CHECK, "max": float("nan")}),
        "spec.analysis.customChecks[0].max",
        "finite",
        id="nan-max",
    ),
    pytest.param(
        checks({"name": "q", "query": "up"}),
        "spec.analysis.customChecks[0].max",
        "min, max or both",
        id="no-bound",
    ),
]


@pytest.mark.parametrize(("data", "field", "words"), SPECS + CHECKS)
def test_bad_spec_is_refused_naming_the_field(data: dict[str, Any], field: str, words: str) -> None:
    """The one problem is reported under the field a person has to change."""
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    assert caught.value.fields == [field], caught.value.problems
    assert words in str(caught.value)
    assert len(str(caught.value)) < 400, "a message echoes input at length"


CLI = [
    (["abort", "inventory/status"], "'NAME'"),
    (["abort", "inventory?dryRun=All"], "'NAME'"),
    (["status", ""], "'NAME'"),
    (["status", LONG], "'NAME'"),
    (["pause", "inventory\n"], "'NAME'"),
    (["resume", "../inventory"], "'NAME'"),
    (["promote", "INVENTORY"], "'NAME'"),
    (["history", "inventory%00"], "'NAME'"),
    (["start", "inventory", "v2.0"], "'VERSION'"),
    (["start", "inventory", ""], "'VERSION'"),
    (["start", "inventory", "v2", "--steps", ","], "'--steps'"),
    (["start", "inventory", "v2", "--steps", "5,a,100"], "'--steps'"),
    (["start", "inventory", "v2", "--steps", "5,50"], "'--steps'"),
    (["start", "inventory", "v2", "--steps", ",".join(["1"] * 101)], "'--steps'"),
    (["start", "inventory", "v2", "--interval", "100000000h"], "'--interval'"),
    (["start", "inventory", "v2", "--interval", "99999999999999h"], "'--interval'"),
    (["start", "inventory", "v2", "--interval", "soon"], "'--interval'"),
    (["start", "inventory", "v2", "--step-duration", "0s"], "'--step-duration'"),
    (["start", "inventory", "v2", "--min-requests", "1e3"], "'--min-requests'"),
    (["start", "inventory", "v2", "--max-inconclusive", "5000"], "'--max-inconclusive'"),
    (["start", "inventory", "v2", "--stable", "V1"], "'--stable'"),
    (["start", "inventory", "v2", "--service", "inventory/x"], "'--service'"),
    (["status", "inventory", "-n", "kube-system/secrets"], "'--namespace'"),
    (["list", "-n", "A"], "'--namespace'"),
]


@pytest.mark.parametrize(("args", "argument"), CLI, ids=lambda v: str(v)[:40])
def test_bad_cli_argument_is_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, args: list[str], argument: str
) -> None:
    """Exit 2, one line `error: ...` naming the argument, and not one request sent."""
    kube = FakeKube(shop())
    result = run(kube, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: Invalid value for ")
    assert len(result.output.strip().splitlines()) == 1
    assert argument in result.output
    assert "Traceback" not in result.output
    assert kube.calls == []


def test_the_catalogue_is_large() -> None:
    """Issue #13 asks for at least 100 bad inputs."""
    assert len(SPECS) + len(CHECKS) + len(CLI) >= 100
