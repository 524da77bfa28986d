"""What a release looks like in Slack and in the generic JSON webhook. Pure.

One Slack message per release (the thread head, kept current), and one reply
per event: started (service, stable → canary, plan), step promoted (weight,
each metric against its threshold), paused (why), rolled back (the failing
metric with value and threshold, the outlier settings applied), succeeded
(duration). The generic webhook carries the same facts as versioned JSON.
Secrets never pass through here: only the Rollout and the effect do.

Every piece of text that comes from a spec (names, subsets, messages, metric
names, links) is escaped for Slack's mrkdwn (``&``, ``<``, ``>``, as Slack's
"Formatting text for app surfaces" asks) before it reaches a mrkdwn field or a
message's ``text``, so a tenant cannot mention ``@channel``/``@here``/a user or
disguise a link. ``plain_text`` fields show text as it is and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollout.analysis.series import Points, WeightLine, weight_line
from rollout.model import EffectId, MetricVerdict, PendingEffect, SpecError, parse_status
from rollout.model.status import RolloutStatus

WEBHOOK_VERSION = "meshrollout.dev/v1"
EMOJI = {
    "started": ":rocket:",
    "step-promoted": ":arrow_up:",
    "paused": ":double_vertical_bar:",
    "resumed": ":arrow_forward:",
    "rolled-back": ":rotating_light:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "undoing": ":hourglass_flowing_sand:",
    "undone": ":leftwards_arrow_with_hook:",
}
PICTURE_EVENTS = frozenset({"succeeded", "rolled-back"})
"""The events that end a release: each gets its picture in Slack and its series in JSON."""
_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20", "\n": "%0A", "\r": "%0D"}


def esc(text: object) -> str:
    """Text for a mrkdwn field: ``&``, ``<`` and ``>`` escaped, so nothing in it is markup
    Slack acts on (``<!channel>``, ``<@U123>``, ``<http://evil|click>``)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, name: str) -> str:
    """A mrkdwn link whose URL cannot end early (``|``, ``>``) and whose name is only text."""
    safe = "".join(_URL_UNSAFE.get(c, c) for c in url)
    return f"<{safe.replace('&', '&amp;')}|{esc(name)}>"


@dataclass(frozen=True)
class Release:
    """The facts of one Rollout that messages show."""

    namespace: str
    name: str
    service: str
    stable: str
    canary: str
    plan: list[int]
    phase: str
    canary_weight: int
    step_index: int | None
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str] = field(default_factory=dict)
    uid: str = ""
    weights: WeightLine | None = None
    """The run's weight line and decisions (the picture of a release that ended)."""

    def key(self, effect: PendingEffect) -> EffectId:
        """The effect's identity across the cluster: this rollout's, joined with the effect's."""
        return effect.key(self.namespace, self.name, self.uid)

    @property
    def step_text(self) -> str:
        if self.step_index is None or not self.plan:
            return "not started"
        return f"step {self.step_index + 1}/{len(self.plan)}"


def release_of(rollout: dict[str, Any]) -> Release:
    spec, meta = rollout.get("spec") or {}, rollout["metadata"]
    try:
        status = parse_status(rollout.get("status"))
    except SpecError:
        status = parse_status(None)
    return Release(
        namespace=meta["namespace"],
        name=meta["name"],
        service=str(spec.get("service", "")),
        stable=status.stable_subset or str(spec.get("stableSubset", "")),
        canary=status.canary_subset or str(spec.get("canarySubset", "")),
        plan=[s.weight for s in status.plan],
        phase=status.phase or "Pending",
        canary_weight=status.canary_weight,
        step_index=status.step_index,
        started_at=status.started_at,
        finished_at=status.finished_at,
        links=dict(((spec.get("notifications") or {}).get("links")) or {}),
        uid=str(meta.get("uid", "")),
        weights=_weights(status),
    )


def _weights(status: RolloutStatus) -> WeightLine | None:
    """The weight line up to the run's end (or its last recorded moment: no clock here)."""
    until = status.finished_at or status.step_started_at or status.started_at
    return None if until is None else weight_line(status, until)


def _metric_line(m: MetricVerdict) -> str:
    mark = {"pass": ":white_check_mark:", "fail": ":x:", "nodata": ":grey_question:"}[m.outcome]
    value = "no data" if m.value is None else f"{m.value:.4g}"
    limit = "" if m.threshold is None else f" (limit {m.op} {m.threshold:g})"
    return f"{mark} `{esc(m.name)}` {value}{limit}, n={m.samples}"


def _duration(release: Release) -> str:
    if release.started_at is None or release.finished_at is None:
        return ""
    seconds = int((release.finished_at - release.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def headline(release: Release) -> str:
    """One line: the thread head's text, and every message's notification fallback."""
    return (
        f"{esc(release.service)} ({esc(release.namespace)}/{esc(release.name)}): "
        f"{esc(release.stable)} → {esc(release.canary)} · {release.phase} · "
        f"canary {release.canary_weight}% ({release.step_text})"
    )


def _links(release: Release) -> list[dict[str, Any]]:
    if not release.links:
        return []
    text = " · ".join(link(url, name) for name, url in sorted(release.links.items()))
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def parent_blocks(release: Release) -> list[dict[str, Any]]:
    """The thread head: the release at a glance, updated in place as it moves."""
    plan = (
        " → ".join(
            f"*{w}%*" if i == release.step_index else f"{w}%" for i, w in enumerate(release.plan)
        )
        or "—"
    )
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Release {release.service} {release.canary}"},
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*Stable → canary*\n{esc(release.stable)} → {esc(release.canary)}",
                },
                {"type": "mrkdwn", "text": f"*Phase*\n{release.phase}"},
                {"type": "mrkdwn", "text": f"*Canary weight*\n{release.canary_weight}%"},
                {"type": "mrkdwn", "text": f"*Plan*\n{plan}"},
            ],
        },
        *_links(release),
    ]


def event_text(release: Release, effect: PendingEffect) -> str:
    emoji = EMOJI.get(effect.event, ":information_source:")
    return f"{emoji} {esc(release.service)} {esc(release.canary)}: {esc(effect.message)}"


def event_blocks(release: Release, effect: PendingEffect) -> list[dict[str, Any]]:
    """One event, readable at a glance."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": event_text(release, effect)}}
    ]
    details: list[str] = []
    if effect.event == "started":
        details.append(f"Plan: {' → '.join(f'{w}%' for w in release.plan)}")
    verdict = effect.verdict
    if verdict is not None and effect.event in ("step-promoted", "rolled-back", "paused"):
        shown = verdict.failing() if effect.event == "rolled-back" else verdict.metrics
        details += [_metric_line(m) for m in shown or verdict.metrics]
    if effect.outlier_detection:
        settings = ", ".join(f"{k}: {v}" for k, v in sorted(effect.outlier_detection.items()))
        details.append(f"Outlier detection tightened on {esc(release.canary)}: {esc(settings)}")
    if effect.event == "succeeded" and _duration(release):
        details.append(f"Took {_duration(release)}")
    if details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}})
    return blocks + _links(release)


def webhook_payload(
    release: Release,
    effect: PendingEffect,
    metrics: tuple[dict[str, Points], dict[str, Points]] | None = None,
) -> dict[str, Any]:
    """The generic webhook's JSON (documented in the README; ``version`` changes on breaks).
    The end of a release also carries its ``series`` (the picture's data, with ``metrics``)."""
    payload = {
        "version": WEBHOOK_VERSION,
        "id": str(release.key(effect)),
        "event": effect.event,
        "message": effect.message,
        "rollout": {
            "namespace": release.namespace,
            "name": release.name,
            "service": release.service,
            "stable": release.stable,
            "canary": release.canary,
            "phase": release.phase,
            "plan": release.plan,
        },
        "canaryWeight": effect.canary_weight,
        "stepIndex": effect.step_index,
        "verdict": effect.verdict.wire() if effect.verdict else None,
        "outlierDetection": effect.outlier_detection,
        "links": release.links,
    }
    if effect.kind == "notify" and effect.event in PICTURE_EVENTS:
        payload["series"] = release_series(release, metrics)
    return payload


def release_series(
    release: Release, metrics: tuple[dict[str, Points], dict[str, Points]] | None
) -> dict[str, Any]:
    """The picture's data as JSON: seconds since the start; None where there was no data."""
    line = release.weights
    last = line.marks[-1] if line is not None and line.marks else None
    return {
        "start": line.start.isoformat() if line is not None and line.start else None,
        "end": line.end if line is not None else 0.0,
        "weight": [list(p) for p in line.weight] if line is not None else [],
        "stepStarts": list(line.boundaries) if line is not None else [],
        "decisions": [
            {"t": m.t, "weight": m.weight, "decision": m.decision, "reason": m.reason}
            for m in (line.marks if line is not None else [])
        ],
        "errorRatio": {k: [list(p) for p in v] for k, v in (metrics[0] if metrics else {}).items()},
        "p99Ms": {k: [list(p) for p in v] for k, v in (metrics[1] if metrics else {}).items()},
        "decided": None
        if last is None
        else {"t": last.t, "decision": last.decision, "reason": last.reason},
    }
