"""``rollout status`` as a release engineer reads it: the sequential judge's rows (canary,
stable, limit, evidence), the time a decision still needs, and what to do when paused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from rollout.cli.view import status_panel
from rollout.model import MetricVerdict, Verdict

T0 = datetime(2026, 11, 26, tzinfo=UTC)
PLAN = [
    {"kind": "weight", "weight": w, "duration": "1m", "minRequests": 100} for w in (5, 25, 50, 100)
]


def shown(verdict: Verdict, phase: str = "Progressing", **status: Any) -> str:
    """The status panel of a rollout at 50% with ``verdict`` last, as printed."""
    doc = {
        "metadata": {"name": "inventory", "namespace": "shop"},
        "spec": {"stableSubset": "v1", "canarySubset": "v2"},
        "status": {
            "phase": phase,
            "stepIndex": 2,
            "canaryWeight": 50,
            "plan": PLAN,
            "lastVerdict": verdict.wire(),
            **status,
        },
    }
    console = Console(width=120, record=True)
    console.print(status_panel(doc))
    return console.export_text()


ERRORS = MetricVerdict(
    name="5xx ratio",
    value=0.0052,
    stable=0.0049,
    threshold=0.00588,
    samples=8400,
    outcome="nodata",
    regression=0.0,
    promotion=0.62,
    unit="ratio",
)


def test_rows_speak_in_measurements_and_the_wait_in_minutes() -> None:
    """What was measured beside stable, the limit, how far the evidence for 100% has come
    and how long it still needs, instead of e-values."""
    text = shown(
        Verdict(
            outcome="inconclusive",
            at=T0,
            reason="not enough evidence yet that errors are fine for 100%",
            metrics=[ERRORS],
            decision_in_s=700.0,
        )
    )
    assert "5xx ratio" in text
    assert "0.52%" in text
    assert "0.49%" in text
    assert "<= 0.588%" in text
    assert "promote 62%" in text
    assert "needs about 12 min more at the current traffic" in text
    assert "e-errors" not in text


def test_no_traffic_says_there_is_no_estimate() -> None:
    """No evidence building either way: said plainly, not a made-up time."""
    text = shown(Verdict(outcome="inconclusive", at=T0, metrics=[ERRORS]))
    assert "no estimate" in text


def test_paused_for_want_of_evidence_that_came_later_says_what_to_do() -> None:
    """Paused after too many inconclusive looks, then the evidence arrives: the panel
    says so and names the command, instead of a bare 'pass' beside 'Paused'."""
    text = shown(
        Verdict(outcome="pass", at=T0, reason="evidence", metrics=[ERRORS]),
        phase="Paused",
        pauseReason="inconclusive",
    )
    assert "rollout resume inventory" in text
    assert "needs about" not in text
