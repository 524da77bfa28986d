"""Fuzzing of what tenants and users type (issue #13): the model and the `rollout` command.

Whatever the input, the model answers with a spec or a :class:`SpecError` (never another
exception), a spec it accepts is also accepted by the CRD schema and never overflows the
controller's clock; the CLI exits 0, 1 or 2 with a message, never with a traceback, and
sends nothing when a name is not a Kubernetes name.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rollout.cli
from meshlab.kubeapi.validation import SchemaChecker
from rollout.cli.args import ROLLOUT_NAME
from rollout.crd import build_crd
from rollout.model import RolloutSpec, SpecError, parse_duration, parse_spec
from strategies import plan
from tests.unit.cli_fakes import NS, FakeKube, shop, using

MINIMAL: dict[str, Any] = {
    "service": "inventory-service",
    "stableSubset": "v1",
    "canarySubset": "v2",
}
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["15s", "1h", "100000000h", "99999999999999h", "0s", "v2", "#x", "https://x"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
durations = st.sampled_from(
    ["1ms", "1s", "30s", "5m", "1h", "24h", "1h0m1s", "25h", "0s", "100000000h", "99999999999999h"]
)
names = st.sampled_from(["v3", "inventory-route", "a.b", "x-qa", "", "V3", "a/b"])
counts = st.integers(-1, 2000) | st.sampled_from([10**9, 10**9 + 1])
ratios = st.floats(0, 1) | st.floats(-1, 20)
steps = st.lists(st.integers(0, 101), min_size=0, max_size=5).map(lambda w: sorted({*w, 100}))
# For each field, values around its bounds, so that many specs are accepted and used further.
PATHS: dict[str, st.SearchStrategy[Any]] = {
    "service": st.sampled_from(["cart", "a.b.svc.cluster.local", "A", "a" * 254]),
    "virtualService": names,
    "destinationRule": names,
    "routes": st.lists(st.sampled_from(["primary", "beta", "a\nb", ""]), max_size=3),
    "stableSubset": names,
    "canarySubset": names,
    "paused": st.booleans(),
    "onDrift": st.sampled_from(["revert", "pause", "x"]),
    "command": st.fixed_dictionaries(
        {"name": st.sampled_from(["abort", "promote", "x"]), "id": st.sampled_from(["1", ""])}
    ),
    "strategy.steps": steps,
    "strategy.stepDuration": durations,
    "strategy.headerRoute": st.just({}) | st.just({"header": "x-qa", "value": "1"}),
    "strategy.headerRoute.header": names,
    "strategy.headerRoute.value": st.sampled_from(["true", "a\r\nb", "v" * 257]),
    "strategy.headerRoute.duration": durations,
    "strategy.headerRoute.minRequests": counts,
    "analysis.interval": durations,
    "analysis.minRequests": counts,
    "analysis.maxErrorRate": ratios,
    "analysis.maxP99Ms": st.floats(0, 4_000_000),
    "analysis.latencyFloorMs": st.floats(-1, 4_000_000),
    "analysis.alpha": ratios,
    "analysis.tolerance": ratios,
    "analysis.maxInconclusive": counts,
    "analysis.requestsMetric": st.sampled_from(["requests_total", "a b"]),
    "analysis.customChecks": st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["q", "p", "Q"]),
                "query": st.sampled_from(["sum(up)", "", "up\x00"]),
                "max": st.floats(-1e16, 1e16),
            }
        ),
        max_size=3,
    ),
    "onRegression.outlierDetection": st.just({}) | st.just({"maxEjectionPercent": 100}),
    "onRegression.outlierDetection.interval": durations,
    "onRegression.outlierDetection.baseEjectionTime": durations,
    "onRegression.outlierDetection.consecutive5xxErrors": counts,
    "notifications.slack": st.just({"secretRef": {"name": "slack", "key": "token"}}),
    "notifications.slack.channel": st.sampled_from(["#releases", "<!channel>", "C0123"]),
    "notifications.links": st.dictionaries(
        st.sampled_from(["grafana", "kiali", "a\nb"]),
        st.sampled_from(["https://grafana.example/d/1", "javascript:x", "https://a b"]),
    ),
    "preflight.mtls": st.sampled_from(["warn", "block", "off", "on"]),
}


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    node = spec
    *parents, last = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


@st.composite
def specs(draw: st.DrawFn) -> Any:
    """Mostly a valid spec with a few fields replaced by anything JSON-ish; sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    spec = copy.deepcopy(MINIMAL)
    for path in draw(st.lists(st.sampled_from(sorted(PATHS)), min_size=1, max_size=4)):
        _set(spec, path, draw(PATHS[path] if draw(st.integers(0, 3)) else json_values))
    return spec


CHECKER = SchemaChecker(build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _durations(spec: RolloutSpec) -> list[str]:
    found = [spec.strategy.step_duration, spec.analysis.interval]
    outlier = spec.on_regression.outlier_detection
    found += [outlier.interval, outlier.base_ejection_time]
    route = spec.strategy.header_route
    if route is not None and route.duration is not None:
        found.append(route.duration)
    return found


@settings(max_examples=400, deadline=None)
@given(specs())
def test_any_spec_is_accepted_or_refused_cleanly(data: Any) -> None:
    """parse_spec raises nothing but SpecError; an accepted spec fits the CRD schema, plans,
    and its durations cannot overflow the controller's clock."""
    try:
        spec = parse_spec(data)
    except SpecError as error:
        problems = error.problems
        assert problems
        assert all(p.field.startswith("spec") for p in problems)
        return
    _, causes = CHECKER.admit({"apiVersion": "x", "kind": "Rollout", "spec": spec.wire()})
    assert causes == []
    assert plan(spec)
    for text in _durations(spec):
        assert FAR_FUTURE + parse_duration(text) > FAR_FUTURE


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), json_values, st.from_regex(r"[0-9]{1,40}(ms|s|m|h)")))
def test_parse_duration_raises_only_spec_error(text: Any) -> None:
    """Any text or value: a timedelta of at most a year, or SpecError."""
    try:
        value = parse_duration(text)
    except SpecError:
        return
    assert value.days <= 366


COMMANDS = ["start", "status", "list", "history", "pause", "resume", "promote", "abort"]
FLAGS = [
    "--steps",
    "--step-duration",
    "--interval",
    "--min-requests",
    "--max-inconclusive",
    "--service",
    "--stable",
    "-n",
    "--full",
    "-o",
    "-A",
]
words = st.one_of(
    st.sampled_from(["inventory", "v2", "v3", "5,25,50,100", ",", "", "1s", "-1", "json", "A"]),
    st.sampled_from(["inventory", "v2", "v3", "shop", "10", "50,100", "2m", "yaml", "v1"]),
    st.text(alphabet=st.sampled_from("aZ09-./?%#=&,: _\n\\"), max_size=12),
    st.text(max_size=8),
)


PER_COMMAND = {
    "start": [
        "--steps",
        "--step-duration",
        "--interval",
        "--min-requests",
        "--max-inconclusive",
        "--service",
        "--stable",
    ],
    "status": ["-o"],
    "list": ["-A"],
    "promote": ["--full"],
}
VALUES = {
    "--steps": st.sampled_from(["5,25,50,100", "50,100", ",", "100", "5,,100", "0,100"]),
    "--step-duration": st.sampled_from(["2m", "25h", "0s", "x"]),
    "--interval": st.sampled_from(["15s", "100000000h", "99999999999999h", "1d"]),
    "--min-requests": st.sampled_from(["10", "-1", "1e3", str(10**20)]),
    "--max-inconclusive": st.sampled_from(["3", "1001"]),
    "--service": st.sampled_from(["inventory-service", "cart", "a/b"]),
    "--stable": st.sampled_from(["v1", "v2", "V1"]),
    "-o": st.sampled_from(["json", "yaml", "xml"]),
    "-n": st.sampled_from(["shop", "other", "A", ""]),
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A subcommand, its positional words and flags (its own, mostly), in any order."""
    command = draw(st.sampled_from(COMMANDS))
    args = [command]
    if draw(st.integers(0, 3)):
        args.append(draw(st.sampled_from(["inventory", "missing"]) | words))
        if command == "start":
            args.append(draw(st.sampled_from(["v3", "v2", "v1", "v9"]) | words))
    for _ in range(draw(st.integers(0, 3))):
        own = [*PER_COMMAND.get(command, []), "-n"]
        flag = draw(st.sampled_from(own) if draw(st.integers(0, 4)) else st.sampled_from(FLAGS))
        args.append(flag)
        if flag not in ("--full", "-A"):
            args.append(draw(VALUES.get(flag, words) if draw(st.integers(0, 3)) else words))
    return args


def ran_before() -> dict[str, Any]:
    """The inventory Rollout after a rolled-back run, with a verdict and history to show."""
    return {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "inventory", "namespace": NS, "resourceVersion": "3"},
        "spec": {**MINIMAL, "canarySubset": "v2", "analysis": {"interval": "1s"}},
        "status": {
            "phase": "RolledBack",
            "run": 1,
            "plan": [{"kind": "weight", "weight": 100, "duration": "1m", "minRequests": 1}],
            "stepIndex": 0,
            "message": "[red]rolled back[/] [/x]",
            "lastVerdict": {
                "outcome": "fail",
                "at": "2026-01-01T00:00:00Z",
                "metrics": [{"name": "[bold]q", "value": 1.0, "outcome": "fail"}],
            },
            "history": [
                {"at": "2026-01-01T00:00:00Z", "run": 1, "decision": "[/]", "reason": "[x"}
            ],
        },
    }


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines(), st.booleans())
def test_any_command_line_ends_cleanly(args: list[str], down: bool) -> None:
    """Exit 0, 1 or 2; never an exception; nothing sent for a NAME that is no Kubernetes name."""
    kube = FakeKube(down=True) if down else FakeKube(shop(ran_before()))
    with pytest.MonkeyPatch.context() as monkeypatch, using(monkeypatch, kube):
        result = CliRunner().invoke(rollout.cli.main, ["-n", NS, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.output,
    )
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert "Traceback" not in result.output
    named = args[0] not in ("list",) and len(args) > 1 and not args[1].startswith("-")
    if named and ROLLOUT_NAME.problem(args[1]):
        assert kube.calls == [], args
