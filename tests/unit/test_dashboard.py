"""The dashboard's pure parts: chart data from a rollout (``timeline``), the SVG charts
(``charts``) and the HTML (``pages``): step lines, marks, recorded verdicts, closeness to
a decision, Prometheus matrices, escaping, buttons and their confirmations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from rollout.dashboard.charts import error_chart, weight_chart
from rollout.dashboard.pages import list_fragment, rollout_fragment
from rollout.dashboard.timeline import (
    Recorder,
    closeness,
    matrix_points,
    of_weights,
    timeline,
    weight_line,
)
from rollout.model import MetricVerdict, Verdict, parse_status

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DOT = re.compile(r'<circle[^>]*class="dot ')


def dots(svg: str) -> int:
    """The plotted points of an SVG chart (pygal draws each as a circle of class dot)."""
    return len(DOT.findall(svg))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def entry(t: float, weight: int, decision: str, step: int = 0, run: int = 2) -> dict[str, Any]:
    return {
        "at": at(t),
        "run": run,
        "stepIndex": step,
        "canaryWeight": weight,
        "decision": decision,
        "reason": f"{decision} <b>",
    }


def verdict(t: float, rate: float, outcome: str = "pass") -> dict[str, Any]:
    return {
        "outcome": outcome,
        "at": at(t),
        "canaryRequests": 500,
        "metrics": [
            {"name": "error-rate", "value": rate, "threshold": 0.01, "outcome": outcome},
            {"name": "p99-latency", "value": 80.0, "threshold": 500.0, "outcome": "pass"},
        ],
    }


def rollout(phase: str = "Progressing", weight: int = 25, **extra: Any) -> dict[str, Any]:
    plan = [
        {"kind": "weight", "weight": w, "duration": "1m", "minRequests": 100} for w in (5, 25, 100)
    ]
    status = {
        "phase": phase,
        "run": 2,
        "plan": plan,
        "stepIndex": 1,
        "canaryWeight": weight,
        "startedAt": at(0),
        "message": "<script>alert(1)</script>",
        "history": [
            entry(-500, 100, "succeeded", run=1),  # the previous run: not drawn
            entry(0, 5, "started"),
            entry(60, 25, "promoted", 1),
            entry(70, 25, "paused", 1),
        ],
        "lastVerdict": verdict(65, 0.004),
        **extra,
    }
    return {
        "metadata": {"namespace": "shop", "name": "inventory", "uid": "u1"},
        "spec": {"service": "inventory", "stableSubset": "v1", "canarySubset": "v2"},
        "status": status,
    }


def test_weight_line_is_a_step_line_of_the_current_run() -> None:
    """The weight steps at each change, a boundary at each step's start, a mark at each
    decision of this run only, and the line reaches now."""
    line = weight_line(parse_status(rollout()["status"]), T0 + timedelta(seconds=90))
    assert line.weight == [(0.0, 0.0), (0.0, 0.0), (0.0, 5.0), (60.0, 5.0), (60.0, 25.0), (90, 25)]
    assert line.boundaries == [0.0, 60.0]
    assert [m.decision for m in line.marks] == ["started", "promoted", "paused"]
    assert line.end == 90


def test_an_ended_run_stops_at_its_end() -> None:
    """A finished run's axis ends when it finished, however late the page is read."""
    doc = rollout("RolledBack", 0, finishedAt=at(80))
    line = weight_line(parse_status(doc["status"]), T0 + timedelta(hours=3))
    assert line.end == 80
    assert line.weight[-1] == (80, 0.0)


def test_no_start_means_no_line() -> None:
    """A rollout that never started has nothing to draw (and the chart says no data)."""
    line = weight_line(parse_status(None), T0)
    assert line.start is None
    assert line.weight == []
    assert "no data" in weight_chart(of_weights(line))


def test_recorder_keeps_each_evaluation_once_and_bounded() -> None:
    """Polls of the same verdict add nothing; a new run starts a new list; at most
    ``keep`` per run."""
    recorder = Recorder(keep=3)
    doc = rollout()
    for t in (10, 10, 20, 30, 40, 40):
        doc["status"]["lastVerdict"] = verdict(t, 0.001)
        seen = recorder.see(doc)
    assert [v.at for v in seen] == [T0 + timedelta(seconds=t) for t in (20, 30, 40)]
    doc["status"]["run"] = 3
    assert len(recorder.see(doc)) == 1


def test_series_from_verdicts_carry_their_thresholds() -> None:
    """Without Prometheus the canary's 5xx and P99 come from the verdicts seen, each with
    the judge's threshold at that evaluation."""
    seen = Recorder()
    doc = rollout()
    for t, rate in ((20, 0.001), (40, 0.02)):
        doc["status"]["lastVerdict"] = verdict(t, rate)
        verdicts = seen.see(doc)
    line = timeline(doc, T0 + timedelta(seconds=90), verdicts)
    assert line.source == "verdicts"
    assert line.errors["canary"] == [(20, 0.001), (40, 0.02)]
    assert line.errors["threshold"] == [(20, 0.01), (40, 0.01)]
    svg = error_chart(line)
    assert dots(svg) == 2  # the canary's two values; the threshold has none


def test_closeness_to_a_decision() -> None:
    """The sequential judge's own evidence (towards a rollback and towards 100%), maxima
    as value/threshold, minima capped at met; the judge's estimate of the time left."""
    v = Verdict(
        outcome="inconclusive",
        at=T0,
        decision_in_s=150.0,
        metrics=[
            MetricVerdict(
                name="5xx ratio",
                value=0.005,
                stable=0.004,
                threshold=0.0048,
                outcome="nodata",
                regression=0.5,
                promotion=0.25,
                unit="ratio",
            ),
            MetricVerdict(name="error-rate", value=0.005, threshold=0.01, outcome="pass"),
            MetricVerdict(name="requests", value=300, threshold=100, op=">=", outcome="pass"),
            MetricVerdict(name="p99-latency", value=None, threshold=500, outcome="nodata"),
        ],
    )
    found = {c.name: c for c in closeness(v)}
    progress = {name: c.progress for name, c in found.items()}
    assert progress["5xx ratio"] == 0.5
    assert found["5xx ratio"].promotion == 0.25
    assert found["5xx ratio"].shown == ("0.5%", "0.4%", "0.48%")
    assert v.needs() == "needs about 2 min more at the current traffic"
    assert progress["error-rate"] == 0.5
    assert progress["requests"] == 1.0
    assert progress["p99-latency"] is None
    assert closeness(None) == []


def test_matrix_points_by_role() -> None:
    """Series are named by role through the versions' map; NaN (no traffic) is a gap;
    other versions are left out."""
    result = [
        {"metric": {"destination_version": "v2"}, "values": [[T0.timestamp() + 5, "0.5"]]},
        {"metric": {"destination_version": "v1"}, "values": [[T0.timestamp() + 5, "NaN"]]},
        {"metric": {"destination_version": "v9"}, "values": [[T0.timestamp(), "1"]]},
    ]
    found = matrix_points(result, T0, {"v2": "canary", "v1": "stable"})
    assert found == {"canary": [(5.0, 0.5)], "stable": [(5.0, None)]}


def test_weight_chart_has_a_dot_per_decision_and_no_script() -> None:
    """A dot per decision, labelled; pygal's tooltip script (fetched from the internet)
    is not in the SVG."""
    line = timeline(rollout(), T0 + timedelta(seconds=90), [])
    svg = weight_chart(line)
    assert dots(svg) == 3
    assert "<script" not in svg
    assert "promoted" in svg


def test_pages_escape_what_the_cluster_says() -> None:
    """A message from the resource is text, never markup, on both pages."""
    doc = rollout()
    html = list_fragment([doc], "tok")
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert "/r/shop/inventory?token=tok" in html
    page = rollout_fragment(doc, timeline(doc, T0 + timedelta(seconds=90), []), "/?token=tok")
    assert "<script>alert" not in page
    assert "paused &lt;b&gt;" in page


def test_buttons_and_their_confirmations() -> None:
    """Pause and resume act at once; promote and abort ask first; an ended run has none."""
    doc = rollout()
    page = rollout_fragment(doc, timeline(doc, T0, []), "/")
    tags = re.findall(r"<button [^>]*>", page)
    buttons = {re.findall(r"data-action='(\w+)'", t)[0]: "data-confirm" in t for t in tags}
    assert set(buttons) == {"pause", "resume", "promote", "promoteFull", "abort"}
    assert {a for a, confirm in buttons.items() if confirm} == {"promote", "promoteFull", "abort"}
    ended = rollout("Succeeded", 100, finishedAt=at(80))
    assert "data-action" not in rollout_fragment(ended, timeline(ended, T0, []), "/")


def test_list_without_rollouts_says_how_to_start() -> None:
    """An empty namespace is not an empty page."""
    assert "rollout start" in list_fragment([], "tok")
