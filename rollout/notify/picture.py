"""The picture of a release, posted once in its Slack thread when it ends, and the same
data as JSON series for the generic webhook.

One PNG (matplotlib, its Agg backend, no display and no pyplot state, so it is safe on
the delivery thread): the canary weight over the run with each step's start and each
decision, the canary's and stable's 5xx ratio and P99 over the same time, and the
moment and reason of the final decision. It is drawn on the notifier's delivery thread,
never in a reconcile; matplotlib is imported on the first picture only (about 40 MB),
inside the chart's default memory limit. The metric series come from a
:data:`MetricSeries` given by the wiring (Prometheus); without it the picture shows the
weights and decisions alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rollout.analysis.series import Points
from rollout.model import PendingEffect
from rollout.notify.messages import PICTURE_EVENTS, Release, release_series

SIZE_PX = (1000, 720)
DPI = 100
CANARY, STABLE, DECIDED = "#e8710a", "#1a73e8", "#d93025"

MetricSeries = Callable[[Release], tuple[dict[str, Points], dict[str, Points]] | None]
"""A release's 5xx ratio and P99 by role (``canary``, ``stable``), or None if unknown."""


__all__ = ["PICTURE_EVENTS", "MetricSeries", "picture_name", "release_series", "render_png"]


def picture_name(release: Release, effect: PendingEffect) -> str:
    """The file's name: one per run of one rollout (how a restart finds it in the thread)."""
    return f"{release.namespace}-{release.name}-run{effect.run or 0}.png"


def _xy(points: list[list[float | None]], scale: float = 1.0) -> tuple[list[float], list[float]]:
    xs = [float(p[0] or 0.0) for p in points]
    ys = [float("nan") if p[1] is None else float(p[1]) * scale for p in points]
    return xs, ys


def render_png(release: Release, series: dict[str, Any]) -> bytes:
    """The release as one PNG of :data:`SIZE_PX` pixels: weight, 5xx ratio, P99."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(SIZE_PX[0] / DPI, SIZE_PX[1] / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    weight, errors, p99 = figure.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))
    decided = series.get("decided") or {}
    colour = "#188038" if release.phase == "Succeeded" else DECIDED
    figure.suptitle(
        f"{release.namespace}/{release.name}: {release.stable} → {release.canary}, {release.phase}",
        fontsize=13,
        color=colour,
        fontweight="bold",
    )
    xs, ys = _xy(series["weight"])
    weight.plot(xs, ys, color=CANARY, linewidth=2.5, label="canary weight")
    for t in series["stepStarts"]:
        weight.axvline(t, color="#c5c8cc", linestyle="--", linewidth=1)
    for mark in series["decisions"]:
        weight.plot([mark["t"]], [mark["weight"]], "o", color=DECIDED, markersize=6)
        weight.annotate(
            mark["decision"], (mark["t"], mark["weight"]), xytext=(4, 6), fontsize=8,
            textcoords="offset points",
        )  # fmt: skip
    weight.set_ylim(-3, 108)
    weight.set_ylabel("canary weight (%)")
    for axes, key, label, scale in (
        (errors, "errorRatio", "5xx ratio (%)", 100.0),
        (p99, "p99Ms", "P99 (ms)", 1.0),
    ):
        for role, tint in (("stable", STABLE), ("canary", CANARY)):
            points = series[key].get(role) or []
            if points:
                marker = "o" if len(points) < 3 else None  # a lone value is still seen
                axes.plot(*_xy(points, scale), color=tint, lw=1.6, label=role, marker=marker)
        axes.set_ylabel(label)
        axes.set_ylim(0, max(axes.get_ylim()[1], 1e-9) * 1.25)  # a flat line stays in view
        if series[key]:
            axes.legend(loc="lower left", fontsize=8, frameon=False)
        else:
            axes.text(0.5, 0.5, "no Prometheus series", ha="center", transform=axes.transAxes)
    for axes in (weight, errors, p99):
        axes.grid(alpha=0.3)
        if decided:
            axes.axvline(decided["t"], color=colour, linewidth=1.5)
    if decided:
        weight.set_title(
            f"{decided['decision']} at {decided['t']:.0f} s: {decided['reason']}"[:140],
            fontsize=10,
            loc="left",
        )
    p99.set_xlabel("seconds since the start")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
