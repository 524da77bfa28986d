"""The `rollout` command's own checks: names before any request, flags as the model bounds
them, and what `start` does to the fields an earlier run left in the spec."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import rollout.cli
from rollout.cli.args import HOST, NAMESPACE, ROLLOUT_NAME, SUBSET
from rollout.cli.discover import BadInput, parse_steps, restart_patch
from rollout.model import parse_spec
from tests.unit.cli_fakes import NS, ROLLOUTS, FakeKube, merge_patch, run, shop, using

COMMANDS = [
    ("status",),
    ("history",),
    ("pause",),
    ("resume",),
    ("promote",),
    ("abort",),
    ("start", "{name}", "v2"),
]


def argv(command: tuple[str, ...], name: str) -> list[str]:
    """The command line for ``command`` with NAME filled in."""
    if len(command) == 1:
        return [command[0], name]
    return [part.format(name=name) for part in command]


BAD_NAMES = [
    pytest.param("inventory/status", id="slash-reaches-a-subresource"),
    pytest.param("inventory?dryRun=All", id="query-string"),
    pytest.param("", id="empty"),
    pytest.param("..", id="dot-dot"),
    pytest.param("Inventory", id="uppercase"),
    pytest.param("inventory%2Fstatus", id="escaped-slash"),
    pytest.param("a" * 254, id="too-long"),
    pytest.param("inventory#x", id="fragment"),
    pytest.param("inventory-", id="trailing-dash"),
    pytest.param("inv entory", id="space"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_a_usage_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], name: str
) -> None:
    """NAME is checked as a Kubernetes name: exit 2 naming it, and nothing is sent."""
    kube = FakeKube(shop())
    result = run(kube, monkeypatch, *argv(command, name))
    assert result.exit_code == 2, result.output
    assert "Invalid value for 'NAME'" in result.output
    assert "a Rollout name" in result.output
    assert kube.calls == []
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "field"),
    [
        pytest.param(["start", "inventory", "V2"], "'VERSION'", id="version-uppercase"),
        pytest.param(["start", "inventory", "v2/x"], "'VERSION'", id="version-slash"),
        pytest.param(["start", "inventory", "v2", "--stable", "v1?x"], "'--stable'", id="stable"),
        pytest.param(["start", "inventory", "v2", "--service", "a b"], "'--service'", id="host"),
        pytest.param(["status", "inventory", "-n", "shop/x"], "'--namespace'", id="namespace"),
        pytest.param(["status", "inventory", "-n", ""], "'--namespace'", id="empty-namespace"),
        pytest.param(["start", "inventory", "v2", "--steps", ","], "'--steps'", id="steps-comma"),
        pytest.param(["start", "inventory", "v2", "--steps", ""], "'--steps'", id="steps-empty"),
        pytest.param(["start", "inventory", "v2", "--steps", "5,,100"], "'--steps'", id="hole"),
        pytest.param(
            ["start", "inventory", "v2", "--steps", "50,5,100"], "steps[1]", id="decrease"
        ),
        pytest.param(
            ["start", "inventory", "v2", "--interval", "100000000h"], "'--interval'", id="huge"
        ),
        pytest.param(
            ["start", "inventory", "v2", "--interval", "99999999999999h"],
            "'--interval'",
            id="overflowing",
        ),
        pytest.param(
            ["start", "inventory", "v2", "--step-duration", "25h"],
            "'--step-duration'",
            id="step-over-a-day",
        ),
        pytest.param(
            ["start", "inventory", "v2", "--min-requests", str(10**12)],
            "'--min-requests'",
            id="min-requests-huge",
        ),
        pytest.param(
            ["start", "inventory", "v2", "--max-inconclusive", "-1"],
            "'--max-inconclusive'",
            id="max-inconclusive-negative",
        ),
    ],
)
def test_bad_flags_are_usage_errors_before_any_request(
    monkeypatch: pytest.MonkeyPatch, args: list[str], field: str
) -> None:
    """Each bad argument exits 2 with a message naming it, before the cluster hears of it."""
    kube = FakeKube(shop())
    result = run(kube, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert kube.calls == []


def test_a_bad_namespace_from_the_kubeconfig_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubeconfig context's namespace is checked like the flag's."""
    kube = FakeKube(shop())
    monkeypatch.setattr("rollout.cli.kubectl.Ctx._context_namespace", lambda self: "a/b")
    with using(monkeypatch, kube):
        result = CliRunner().invoke(rollout.cli.main, ["status", "inventory"])
    assert result.exit_code == 2
    assert "namespace: 'a/b' is not a namespace" in result.output
    assert kube.calls == []


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (ROLLOUT_NAME, ["inventory", "a.b-c", "a" * 253], ["a" * 254, "a_b", "a.", ".a"]),
        (NAMESPACE, ["shop", "a" * 63], ["a" * 64, "a.b", "Shop"]),
        (SUBSET, ["v2", "canary-1"], ["v2.1", "V2", "-v"]),
        (HOST, ["inventory-service", "a.b.svc.cluster.local"], ["a/b", "a b", ""]),
    ],
)
def test_name_rules(kind: Any, good: list[str], bad: list[str]) -> None:
    """Each name type accepts Kubernetes' names and refuses the rest, saying which rule."""
    for name in good:
        assert kind.problem(name) is None, name
    for name in bad:
        assert kind.problem(name), name


@pytest.mark.parametrize("text", [",", "", " ", "5,,100", "5,25,", "5;100", "\u0665,100", "1e2"])
def test_steps_that_are_no_list_of_numbers_are_refused(text: str) -> None:
    """--steps never falls back to the default plan silently."""
    with pytest.raises(BadInput, match="whole numbers"):
        parse_steps(text)


def finished(spec: dict[str, Any], phase: str = "Succeeded") -> dict[str, Any]:
    """A Rollout named inventory that ran before with ``spec`` and ended in ``phase``."""
    return {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "inventory", "namespace": NS, "resourceVersion": "3"},
        "spec": spec,
        "status": {"phase": phase, "canaryWeight": 100},
    }


PREVIOUS = {
    "service": "inventory-service",
    "virtualService": "inventory-route",
    "destinationRule": "inventory-dr",
    "stableSubset": "v1",
    "canarySubset": "v2",
    "strategy": {"steps": [50, 100], "stepDuration": "2s", "headerRoute": {"header": "x-qa"}},
    "analysis": {"interval": "1s", "minRequests": 10, "maxInconclusive": 5, "maxP99Ms": 250},
}


def test_start_again_resets_the_fields_it_owns_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second start without flags gets the default plan and interval, not the last run's;
    each change is announced; fields start has no flag for (SLOs, header route) are kept."""
    kube = FakeKube(shop(finished(PREVIOUS, "RolledBack")))
    result = run(kube, monkeypatch, "start", "inventory", "v3")
    assert result.exit_code == 0, result.output
    spec = parse_spec(kube.objects[f"{ROLLOUTS}/inventory"]["spec"])
    assert spec.strategy.steps == [5, 25, 50, 100]
    assert spec.strategy.step_duration == "1m"
    assert spec.analysis.interval == "15s"
    assert spec.analysis.min_requests == 100
    assert spec.analysis.max_p99_ms == 250
    assert spec.strategy.header_route is not None
    assert spec.canary_subset == "v3"
    for words in ("spec.analysis.interval", "--interval 1s", "--steps 50,100", "--min-requests"):
        assert words in result.output
    # Unset, maxInconclusive is the judge's own (an hour of evaluations for the sequential
    # judge): the last run's 5 is no longer what applies, and the note says so.
    assert "maxInconclusive is unset, so the judge's own default applies" in result.output


def test_start_again_with_flags_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flags given to a second start replace what the last run had."""
    kube = FakeKube(shop(finished(PREVIOUS, "RolledBack")))
    result = run(kube, monkeypatch, "start", "inventory", "v3", "--interval", "5s")
    assert result.exit_code == 0, result.output
    spec = parse_spec(kube.objects[f"{ROLLOUTS}/inventory"]["spec"])
    assert spec.analysis.interval == "5s"
    assert "spec.analysis.interval" not in result.output


def test_restart_patch_is_a_pure_function_of_the_old_spec_and_the_flags() -> None:
    """The patch nulls each owned field not given, so the API server's default applies."""
    patch, notes = restart_patch(PREVIOUS, {"canarySubset": "v3"}, {"--steps": [10, 100]})
    assert patch["strategy"] == {"steps": [10, 100], "stepDuration": None}
    assert patch["analysis"] == {"interval": None, "minRequests": None, "maxInconclusive": None}
    after = merge_patch(PREVIOUS, patch)
    assert after["analysis"] == {"maxP99Ms": 250}
    assert after["strategy"] == {"steps": [10, 100], "headerRoute": {"header": "x-qa"}}
    assert len(notes) == 4


def test_a_cluster_that_does_not_answer_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No server: one line, exit 1, no traceback, for every command."""
    for command in COMMANDS:
        result = run(FakeKube(down=True), monkeypatch, *argv(command, "inventory"))
        assert result.exit_code in (1, 2), (command, result.output)
        assert "error:" in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )


def test_start_again_checks_the_fields_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kept field that is no longer valid is named before anything is written."""
    old = {**PREVIOUS, "strategy": {"headerRoute": {"duration": "48h"}}}
    kube = FakeKube(shop(finished(old, "RolledBack")))
    result = run(kube, monkeypatch, "start", "inventory", "v3")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: spec.strategy.headerRoute.duration: '48h'")
    assert [c for c in kube.calls if c[0] != "GET"] == []


def test_start_mid_run_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Progressing rollout must be aborted before it can start again."""
    kube = FakeKube(shop(finished(PREVIOUS, "Progressing")))
    result = run(kube, monkeypatch, "start", "inventory", "v3")
    assert result.exit_code == 2
    assert "abort it first" in result.output
    assert [c for c in kube.calls if c[0] != "GET"] == []


def test_text_from_the_resource_is_never_read_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reason or metric name like `[/]` is printed as it is (rich would raise on it)."""
    rollout = finished(PREVIOUS, "RolledBack")
    rollout["status"] |= {
        "history": [{"at": "2026-01-01T00:00:00Z", "run": 1, "decision": "[/]", "reason": "[/x]"}],
        "lastVerdict": {
            "outcome": "fail",
            "at": "2026-01-01T00:00:00Z",
            "metrics": [{"name": "[/q]", "outcome": "nodata"}],
        },
    }
    kube = FakeKube(shop(rollout))
    for command in ("history", "status"):
        result = run(kube, monkeypatch, command, "inventory")
        assert result.exit_code == 0, result.output
    assert "[/x]" in run(kube, monkeypatch, "history", "inventory").output
    assert "[/q]" in run(kube, monkeypatch, "status", "inventory").output
