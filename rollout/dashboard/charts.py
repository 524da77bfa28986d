"""The rollout page's charts as SVG, rendered on the server by pygal (no JavaScript in
the page from anyone but us: pygal's optional tooltip script is switched off).

Three charts share the x axis (seconds since the run started): the canary weight as a
step line with a dashed line at each step's start and a labelled dot at each decision;
the 5xx ratio (percent) and the P99 (ms) of canary and stable, with the judge's
threshold where the series come from the verdicts. Every dot on the weight chart is a
decision, so a test counts decisions by counting dots.
"""

from __future__ import annotations

import re
from typing import Any

import pygal
from pygal.style import Style

from rollout.dashboard.timeline import Points, Timeline

WIDTH, HEIGHT = 860, 260
CANARY, STABLE, THRESHOLD, BOUNDARY = "#e8710a", "#1a73e8", "#9aa0a6", "#c5c8cc"
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#202124",
    foreground_strong="#202124",
    foreground_subtle="#dadce0",
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
    value_label_font_size=10,
    no_data_font_size=18,
    colors=(CANARY, BOUNDARY, "#d93025", STABLE, THRESHOLD),
)


SCRIPT = re.compile(r"<script.*?</script>", re.DOTALL)


def render(chart: pygal.XY) -> str:
    """The SVG without pygal's inline configuration script: the page runs only its own
    script (its content security policy would block this one anyway)."""
    return SCRIPT.sub("", str(chart.render(is_unicode=True)))


def _chart(title: str, y_title: str, timeline: Timeline, colors: tuple[str, ...]) -> pygal.XY:
    style = Style(**{**STYLE.to_dict(), "colors": colors})
    return pygal.XY(
        js=[],  # no script: pygal would load its tooltips from the internet
        disable_xml_declaration=True,
        explicit_size=True,
        width=WIDTH,
        height=HEIGHT,
        style=style,
        title=title,
        x_title="seconds since the start",
        y_title=y_title,
        allow_interruptions=True,
        show_x_guides=False,
        legend_at_bottom=True,
        legend_box_size=10,
        xrange=(0, max(timeline.end, 1.0)),
        no_data_text="no data yet",
        print_labels=True,
        truncate_label=-1,
        margin_right=80,  # room for the last decision's label
        value_formatter=lambda v: f"{v:.3g}",
        x_value_formatter=lambda v: f"{v:g}",
    )


def weight_chart(line: Timeline) -> str:
    """The canary weight over the run: the step line, step boundaries, decisions."""
    chart = _chart("canary weight (%)", "%", line, (CANARY, BOUNDARY, "#d93025"))
    chart.range = (0, 100)
    if line.start is None:
        return render(chart)
    chart.add("weight", line.weight, show_dots=False, stroke_style={"width": 3})
    bars: list[tuple[float, float] | None] = []
    for t in line.boundaries:
        bars += [(t, 0.0), (t, 100.0), None]
    chart.add("step starts", bars or [None], show_dots=False, stroke_style={"dasharray": "4,4"})
    chart.add(
        "decisions",
        [{"value": (m.t, float(m.weight)), "label": m.decision} for m in line.marks],
        stroke=False,
        dots_size=5,
    )
    return render(chart)


def _metric_chart(title: str, y_title: str, line: Timeline, series: dict[str, Points]) -> str:
    names = [n for n in ("canary", "stable", "threshold") if n in series]
    colours = {"canary": CANARY, "stable": STABLE, "threshold": THRESHOLD}
    chart = _chart(title, y_title, line, tuple(colours[n] for n in names))
    chart.print_labels = False
    chart.include_x_axis = True  # from zero: a flat line must not look like a wild one
    for name in names:
        # A small dot per value: the reader sees where the data is (and a test counts them).
        options: dict[str, Any] = {"dots_size": 1.5, "stroke_style": {"width": 2}}
        if name == "threshold":
            options = {"show_dots": False, "stroke_style": {"width": 1, "dasharray": "6,3"}}
        chart.add(name, series[name], **options)
    return render(chart)


def percent(points: Points) -> Points:
    """A ratio as a percentage."""
    return [(t, None if v is None else round(v * 100, 4)) for t, v in points]


def error_chart(line: Timeline) -> str:
    """Canary and stable 5xx ratio (percent) over the run."""
    series = {name: percent(points) for name, points in line.errors.items()}
    return _metric_chart("5xx ratio (%)", "%", line, series)


def p99_chart(line: Timeline) -> str:
    """Canary and stable P99 latency (ms) over the run."""
    return _metric_chart("P99 latency (ms)", "ms", line, line.p99)
