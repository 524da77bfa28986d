"""How the CLI shows a Rollout: a status panel, tables for ``list`` and ``history``.

Pure functions from resource dicts to ``rich`` renderables; the commands print
them (once, or live with ``-w``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rollout.model import SpecError, parse_status

Doc = dict[str, Any]
COLOURS = {
    "Succeeded": "green",
    "RolledBack": "red",
    "Failed": "red",
    "Paused": "yellow",
    "Progressing": "cyan",
    "Pending": "white",
}


def _age(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "-"
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def status_panel(rollout: Doc) -> Panel:
    """Phase, subsets, a bar through the steps, the weight, each metric and the last reason."""
    spec, meta = rollout.get("spec") or {}, rollout["metadata"]
    try:
        status = parse_status(rollout.get("status"))
    except SpecError:
        return Panel(Text("the status cannot be read"), title=meta["name"])
    phase = status.phase or "Pending"
    head = Text.assemble(
        (f"{meta['name']}", "bold"),
        f" ({meta['namespace']})  ",
        f"{spec.get('stableSubset')} → {spec.get('canarySubset')}  ",
        (phase, COLOURS.get(phase, "white")),
    )
    lines: list[Any] = [head]
    if status.plan:
        steps = len(status.plan)
        done = (status.step_index or 0) + (1 if status.phase == "Succeeded" else 0)
        lines.append(
            Text(
                f"step {min(done + 1, steps)}/{steps}   canary {status.canary_weight}%"
                f"   plan {' → '.join(str(s.weight) for s in status.plan)}"
            )
        )
        bar = "".join("█" if i < done else "░" for i in range(steps))
        lines.append(Text(f"[{bar}]", style=COLOURS.get(phase, "white")))
    if len(status.virtual_services) > 1 or any(not v.in_step for v in status.virtual_services):
        # Every route to the service: which VirtualServices carry the step already.
        carried = "   ".join(
            f"{v.name} {'-' if v.canary_weight is None else f'{v.canary_weight}%'}"
            f"{'' if v.in_step else ' (moving)'}"
            for v in status.virtual_services
        )
        lines.append(Text(f"routes: {carried}"))
    verdict = status.last_verdict
    if verdict is not None:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("metric", "value", "threshold", "samples", ""):
            table.add_column(column)
        for m in verdict.metrics:
            mark = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "nodata": "[yellow]?[/]"}
            table.add_row(
                Text(m.name),
                "-" if m.value is None else f"{m.value:.4g}",
                "-" if m.threshold is None else f"{m.op} {m.threshold:g}",
                str(m.samples),
                mark[m.outcome],
            )
        lines.append(Text(f"last verdict: {verdict.outcome}", style="bold"))
        lines.append(table)
    if status.message:
        lines.append(Text(f"last decision: {status.message}"))
    return Panel(Group(*lines), expand=False)


def rollouts_table(items: list[Doc], now: datetime | None = None) -> Table:
    now = now or datetime.now(UTC)
    table = Table(box=None, header_style="bold")
    for column in ("NAMESPACE", "NAME", "PHASE", "CANARY", "WEIGHT", "STEP", "AGE"):
        table.add_column(column)
    for item in items:
        status, spec, meta = item.get("status") or {}, item.get("spec") or {}, item["metadata"]
        step = status.get("stepIndex")
        table.add_row(
            Text(str(meta["namespace"])),
            Text(str(meta["name"])),
            Text(str(status.get("phase") or "Pending")),
            Text(str(spec.get("canarySubset", ""))),
            f"{status.get('canaryWeight', 0)}%",
            "-" if step is None else str(step),
            _age(meta.get("creationTimestamp"), now),
        )
    return table


def history_table(rollout: Doc) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("TIME", "RUN", "STEP", "WEIGHT", "DECISION", "REASON"):
        table.add_column(column)
    for entry in parse_status(rollout.get("status")).history:
        table.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(entry.run),
            "-" if entry.step_index is None else str(entry.step_index),
            f"{entry.canary_weight}%",
            Text(entry.decision),
            Text(entry.reason),
        )
    return table
