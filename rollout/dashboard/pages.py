"""The dashboard's HTML: the list of rollouts and one rollout's page, as text.

Pure functions from resources (and a :class:`~rollout.dashboard.timeline.Timeline`)
to HTML; every value from the cluster is escaped. A page is a shell around a
fragment: the page's own small script (ours, with the response's nonce) fetches the
fragment again every second and asks for commands with a POST that carries the
token and the CSRF header (:mod:`rollout.dashboard.server` checks both and the Origin).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from rollout.dashboard.charts import error_chart, p99_chart, weight_chart
from rollout.dashboard.timeline import Timeline, run_history, status_of
from rollout.engine.after import after_lines, undo_refusal
from rollout.model import RolloutStatus, SpecError, parse_spec

Doc = dict[str, Any]
REFRESH_MS = 1000
COLOURS = {
    "Succeeded": "#188038",
    "RolledBack": "#d93025",
    "Failed": "#d93025",
    "Paused": "#f9ab00",
    "Progressing": "#1a73e8",
    "Pending": "#5f6368",
    "Undoing": "#f9ab00",
    "Undone": "#a142f4",
}
BUTTONS = (
    ("pause", "Pause", ""),
    ("resume", "Resume", ""),
    ("promote", "Promote step", "Skip the rest of this step's analysis and go to the next step?"),
    ("promoteFull", "Promote to 100%", "Skip all remaining analysis and send 100% to the canary?"),
    ("abort", "Abort", "Roll back now: send 100% of traffic to stable?"),
)
CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#202124;background:#f8f9fa}
header{background:#202124;color:#fff;padding:10px 20px;font-size:15px}
header a{color:#8ab4f8}
main{padding:16px 20px;max-width:900px}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px}
th,td{padding:4px 10px;border-bottom:1px solid #e8eaed;text-align:left;font-size:13px}
th{background:#f1f3f4}
.phase{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px}
.bar{display:inline-block;width:90px;height:8px;background:#e8eaed;vertical-align:middle}
.bar i{display:block;height:8px;background:#e8710a}
.bar i.over{background:#d93025}.bar i.goal{background:#188038}
.pass{color:#188038}.fail{color:#d93025}.nodata,.inconclusive{color:#b06000}
.help{color:#5f6368;font-size:13px;max-width:860px}
button{margin-right:6px;padding:5px 12px;font-size:13px;cursor:pointer}
button.danger{border:1px solid #d93025;color:#d93025;background:#fff}
#flash{font-size:13px;margin-left:8px}
figure{margin:0 0 8px;background:#fff}
h2{font-size:16px;margin:18px 0 4px}
"""
SCRIPT = """
(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const live = document.getElementById('live');
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(location.pathname + location.search,
                                 {headers: {'X-Fragment': '1'}, cache: 'no-store'});
      if (answer.ok) live.innerHTML = await answer.text();
    } catch (e) { /* the next tick tries again */ }
    busy = false;
  }
  setInterval(refresh, %(refresh)d);
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const question = button.dataset.confirm;
    if (question && !window.confirm(question)) return;
    const where = '/api/rollouts/' + encodeURIComponent(button.dataset.ns) + '/' +
                  encodeURIComponent(button.dataset.name) + '/' + button.dataset.action;
    const answer = await fetch(where, {method: 'POST', cache: 'no-store',
      headers: {'X-Rollout-Token': token, 'X-Rollout-CSRF': '1'}});
    const said = await answer.json().catch(() => ({message: answer.statusText}));
    document.getElementById('flash').textContent = said.message || '';
    refresh();
  });
})();
"""


def shell(title: str, fragment: str, nonce: str, scope: str, home: str) -> str:
    """A whole page: the fragment inside, and the script that keeps it live."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><a href='{escape(home)}'>meshrollout dashboard</a> · {escape(scope)}"
        f"</header><main id='live'>{fragment}</main>"
        f"<script nonce='{escape(nonce)}'>{SCRIPT % {'refresh': REFRESH_MS}}</script>"
        "</body></html>"
    )


def _phase(phase: str | None) -> str:
    phase = phase or "Pending"
    colour = COLOURS.get(phase, "#5f6368")
    return f"<span class='phase' style='background:{colour}'>{escape(phase)}</span>"


def _bar(fraction: float | None, at_least: bool = False) -> str:
    """A bar filled to ``fraction``; full is red unless reaching it is the goal."""
    if fraction is None:
        return ""
    width = max(0.0, min(fraction, 1.0)) * 100
    over = ""
    if fraction >= 1:
        over = " class='goal'" if at_least else " class='over'"
    return f"<span class='bar'><i{over} style='width:{width:.0f}%'></i></span>"


def age(stamp: str | None, now: datetime) -> str:
    """``3m``, ``2h``: how long ago ``stamp`` (ISO) was."""
    if not stamp:
        return "-"
    seconds = int((now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def rollout_href(namespace: str, name: str, token: str) -> str:
    """The rollout page's address (the token travels with it, as in the printed URL)."""
    return f"/r/{quote(namespace)}/{quote(name)}?token={quote(token)}"


def list_fragment(items: list[Doc], token: str, now: datetime | None = None) -> str:
    """Every rollout: phase, canary, weight, step, age, last decision."""
    now = now or datetime.now(UTC)
    rows = []
    for item in sorted(items, key=lambda i: (i["metadata"]["namespace"], i["metadata"]["name"])):
        meta, spec, status = item["metadata"], item.get("spec") or {}, status_of(item)
        steps = len(status.plan)
        step = "-" if status.step_index is None else f"{status.step_index + 1}/{steps}"
        href = rollout_href(meta["namespace"], meta["name"], token)
        rows.append(
            f"<tr data-rollout='{escape(meta['namespace'])}/{escape(meta['name'])}'>"
            f"<td>{escape(meta['namespace'])}</td>"
            f"<td><a href='{escape(href)}'>{escape(meta['name'])}</a></td>"
            f"<td class='phase-cell'>{_phase(status.phase)}</td>"
            f"<td>{escape(str(spec.get('stableSubset', '')))} → "
            f"{escape(str(spec.get('canarySubset', '')))}</td>"
            f"<td class='weight'>{status.canary_weight}% {_bar(status.canary_weight / 100)}</td>"
            f"<td>{step}</td><td>{age(meta.get('creationTimestamp'), now)}</td>"
            f"<td>{escape(status.message)}</td></tr>"
        )
    if not rows:
        return "<p class='help'>No rollouts here yet: <code>rollout start NAME VERSION</code>.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in ("namespace", "name", "phase", "stable → canary", "canary weight", "step", "age")
    )
    return (
        "<p class='help'>Each rollout moves a share of a service's traffic from its stable "
        "version to a canary, step by step, and rolls back on a regression. Click one to see "
        "why it is where it is.</p>"
        f"<table id='rollouts'><tr>{head}<th>last decision</th></tr>{''.join(rows)}</table>"
    )


def _undo_question(status: RolloutStatus) -> str:
    """The Undo button's confirmation: where the traffic goes, and how."""
    to, p = status.stable_subset or "", status.previous
    how = f"scale {to} back up, then send" if p is not None and p.scaled_down else "send"
    return (
        f"Undo this release: {how} 100% of traffic back to {to} now, without analysis? "
        f"{status.canary_subset or 'The canary'} keeps its pods."
    )


def _button(namespace: str, name: str, action: str, label: str, question: str) -> str:
    confirm = f" data-confirm='{escape(question)}'" if question else ""
    danger = " class='danger'" if question else ""
    return (
        f"<button id='do-{action}' data-action='{action}' data-ns='{escape(namespace)}' "
        f"data-name='{escape(name)}'{confirm}{danger}>{escape(label)}</button>"
    )


def _buttons(namespace: str, name: str, status: RolloutStatus) -> str:
    """The commands a person may give now: the run's while it runs; Undo after a release
    when the engine would carry it out (its own rule, :func:`undo_refusal`)."""
    if status.terminal:
        if undo_refusal(status) is not None:
            return "<p class='help'>This run has ended: start a new one with the CLI.</p>"
        undo = _button(namespace, name, "undo", "Undo", _undo_question(status))
        return f"<p>{undo}<span id='flash'></span></p>"
    html = []
    for action, label, question in BUTTONS:
        html.append(_button(namespace, name, action, label, question))
    return "<p>" + "".join(html) + "<span id='flash'></span></p>"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _evidence(line: Timeline) -> str:
    if not line.evidence:
        return "<p class='help'>No evaluation yet.</p>"
    rows = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{escape(c.shown[0])}</td><td>{escape(c.shown[1])}</td>"
        f"<td>{escape(c.op)} {escape(c.shown[2])}</td><td>{_bar(c.progress, c.op == '>=')}</td>"
        f"<td>{'-' if c.promotion is None else _bar(c.promotion, True)}</td>"
        f"<td class='{escape(c.outcome)}'>{escape(c.outcome)}</td></tr>"
        for c in line.evidence
    )
    needs = line.needs or "no decision pending"
    return (
        "<p class='help'>How close each test of the last evaluation is to deciding: a full "
        "red bar rolls the canary back (the sequential judge's evidence, on a log scale); a "
        "full bar under 100% is the evidence that lets the canary reach 100% of the traffic; "
        "a minimum (>=) is met when its bar is full.</p>"
        f"<p id='needs'>Time to a decision: {escape(needs)}.</p>"
        "<table id='evidence'><tr><th>test</th><th>canary</th><th>stable</th><th>limit</th>"
        f"<th>towards a rollback</th><th>towards 100%</th><th>outcome</th></tr>{rows}</table>"
    )


def _evaluations(line: Timeline) -> str:
    if not line.evaluations:
        return "<p class='help'>None seen yet (the dashboard records them while it runs).</p>"
    rows = []
    for verdict in reversed(line.evaluations[-40:]):
        metrics = " · ".join(
            f"<span class='{escape(m.outcome)}'>{escape(m.name)} {_number(m.value)} "
            f"{escape(m.op)} {_number(m.threshold)}</span>"
            for m in verdict.metrics
        )
        rows.append(
            f"<tr><td>{verdict.at.strftime('%H:%M:%S')}</td>"
            f"<td class='{escape(verdict.outcome)}'>{escape(verdict.outcome)}</td>"
            f"<td>{verdict.canary_requests}</td><td>{metrics}</td>"
            f"<td>{escape(verdict.reason)}</td></tr>"
        )
    return (
        "<table id='evaluations'><tr><th>time</th><th>verdict</th><th>canary requests</th>"
        f"<th>metrics against thresholds</th><th>reason</th></tr>{''.join(rows)}</table>"
    )


def _outlier(rollout: Doc) -> str:
    status = status_of(rollout)
    try:
        tightened: Any = parse_spec(rollout.get("spec")).on_regression.outlier_detection.wire()
    except SpecError:
        tightened = "the spec cannot be read"
    state = (
        "tightened now (the canary's own settings are kept to be restored)"
        if status.outlier_tightened
        else "not tightened (the canary subset has its own settings)"
    )
    replaced = status.replaced_outlier_detection
    return (
        f"<p class='help'>On a regression the canary subset's outlier detection is "
        f"tightened; it is restored at the next start. State: <b id='outlier-state'>"
        f"{escape(state)}</b>.</p><table id='outlier'><tr><th>replaced (restored later)"
        f"</th><th>tightened to</th></tr><tr><td><code>{escape(json.dumps(replaced))}</code>"
        f"</td><td><code>{escape(json.dumps(tightened))}</code></td></tr>"
        "</table>"
    )


def _history(rollout: Doc) -> str:
    status = status_of(rollout)
    rows = "".join(
        f"<tr><td>{h.at.strftime('%H:%M:%S')}</td>"
        f"<td>{'-' if h.step_index is None else h.step_index + 1}</td>"
        f"<td>{h.canary_weight}%</td><td>{escape(h.decision)}</td><td>{escape(h.reason)}</td></tr>"
        for h in reversed(run_history(status))
    )
    return (
        "<table id='history'><tr><th>time</th><th>step</th><th>weight</th><th>decision</th>"
        f"<th>reason</th></tr>{rows}</table>"
    )


def _after(status: RolloutStatus, now: datetime) -> str:
    """After a release, what ``rollout status`` says: the previous version's scale-down
    and what undo would do (or is doing)."""
    lines = after_lines(status, now)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f"<ul id='after' class='help'>{items}</ul>"


def rollout_fragment(rollout: Doc, line: Timeline, home: str, now: datetime | None = None) -> str:
    """One rollout: where it is, the buttons, the charts, the evidence and the story."""
    meta, spec, status = rollout["metadata"], rollout.get("spec") or {}, status_of(rollout)
    plan = " → ".join(f"{s.weight}%" for s in status.plan) or "-"
    step = "-" if status.step_index is None else f"{status.step_index + 1} of {len(status.plan)}"
    source = (
        "from Prometheus"
        if line.source == "prometheus"
        else "from the judge's verdicts (the canary against its threshold; give "
        "--prometheus-url for stable too)"
    )
    return (
        f"<p><a href='{escape(home)}'>← all rollouts</a></p>"
        f"<h1 style='font-size:20px'>{escape(meta['name'])} <small>in "
        f"{escape(meta['namespace'])}</small> {_phase(status.phase)}</h1>"
        f"<p id='summary'><b>{escape(str(spec.get('stableSubset', '')))}</b> (stable) → "
        f"<b>{escape(str(spec.get('canarySubset', '')))}</b> (canary) · canary weight "
        f"<b id='weight'>{status.canary_weight}%</b> · step {step} of plan {escape(plan)}</p>"
        f"<p id='message' class='help'>Last decision: {escape(status.message or '-')}</p>"
        + _after(status, now or datetime.now(UTC))
        + _buttons(meta["namespace"], meta["name"], status)
        + "<p class='help'>The canary weight is the share of requests the canary gets. At "
        "each step the judge compares the canary with stable on Prometheus data; a step that "
        "passes is promoted to the next weight, a regression sends everything back to "
        "stable at once.</p>"
        + f"<figure id='weight-chart'>{weight_chart(line)}</figure>"
        + f"<p class='help'>Canary (orange) and stable (blue), {escape(source)}. "
        + f"{escape(line.problem)}</p>"
        + f"<figure id='error-chart'>{error_chart(line)}</figure>"
        + f"<figure id='p99-chart'>{p99_chart(line)}</figure>"
        + "<h2>Evidence</h2>"
        + _evidence(line)
        + "<h2>Every evaluation</h2>"
        + _evaluations(line)
        + "<h2>Decisions</h2>"
        + _history(rollout)
        + "<h2>Outlier detection</h2>"
        + _outlier(rollout)
    )
