"""The ``status`` of a ``Rollout``: what the controller has done and decided.

The status is the controller's memory. Everything needed to continue after a
crash lives here (the frozen plan, the step, when it started, the last handled
command, the run number that keys notifications), so the engine can be a pure
function of (spec, status, verdict, now). Written only by the controller.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rollout.model.base import CamelModel

Phase = Literal[
    "Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed", "Undoing", "Undone"
]
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "RolledBack", "Undone"})
AFTER_SUCCESS_PHASES: frozenset[str] = frozenset({"Succeeded", "Undoing", "Undone"})
"""A release that succeeded, and what an undo made of it."""

Outcome = Literal["pass", "fail", "inconclusive"]
MetricOutcome = Literal["pass", "fail", "nodata"]


class MetricVerdict(CamelModel):
    """One metric against its threshold, as the judge saw it."""

    name: str
    value: float | None = Field(default=None, description="None when there was no data.")
    threshold: float | None = None
    op: Literal["<=", ">="] = "<="
    samples: int = 0
    outcome: MetricOutcome
    stable: float | None = Field(
        default=None, description="Stable's value beside the canary's, when compared."
    )
    regression: float | None = Field(
        default=None,
        description="Sequential judge: share of the evidence needed to roll back (0..1).",
    )
    promotion: float | None = Field(
        default=None,
        description="Sequential judge: share of the evidence needed to promote to 100% (0..1).",
    )
    unit: Literal["", "ratio", "ms"] = ""

    def show(self, value: float | None) -> str:
        """A value in this row's unit, for people: ``0.52%``, ``31.1 ms``."""
        if value is None:
            return "-"
        if self.unit == "ratio":
            return f"{100 * value:.3g}%"
        if self.unit == "ms":
            return f"{value:.4g} ms"
        return f"{value:g}"

    def describe(self) -> str:
        """The row in a sentence: ``5xx ratio 2.1% vs stable 0.51%``, ``p99 612 ms > 500 ms``."""
        if self.value is None:
            return self.name
        if self.stable is not None:
            return f"{self.name} {self.show(self.value)} vs stable {self.show(self.stable)}"
        if self.threshold is None:
            return f"{self.name} {self.show(self.value)}"
        broken = ">" if self.op == "<=" else "<"
        return f"{self.name} {self.show(self.value)} {broken} {self.show(self.threshold)}"


class LogLikelihoods(CamelModel):
    """One test's summed log-likelihood ratios over its grid of alternatives."""

    worse: list[float] = Field(default_factory=list, max_length=64)
    fine: list[float] = Field(default_factory=list, max_length=64)


class Evidence(CamelModel):
    """The sequential judge's memory for one run: what each test has seen so far.

    ``done`` sums the finished steps, ``current`` the step ``step`` (its start,
    ISO time); ``boundMs`` is stable's P99 bucket, fixed at the run's first look (the
    noise floor, ``latencyFloorMs``, is applied to it at every look, never stored here).
    """

    step: str = Field(default="", max_length=64)
    bound_ms: float | None = None
    done: dict[str, LogLikelihoods] = Field(default_factory=dict, max_length=16)
    current: dict[str, LogLikelihoods] = Field(default_factory=dict, max_length=16)


def readable_evidence(value: Any) -> Any:
    """Evidence another version of the judge wrote, in a shape this one cannot read,
    starts afresh (None) rather than making the whole status unreadable."""
    if value is None or isinstance(value, Evidence):
        return value
    try:
        return Evidence.model_validate(value)
    except ValueError:
        return None


class Verdict(CamelModel):
    """The judge's answer for one evaluation of the current step."""

    outcome: Outcome
    at: datetime
    canary_requests: int = 0
    no_data: bool = Field(
        default=False, description="Nothing to judge: Prometheus silent or no canary requests."
    )
    reason: str = ""
    metrics: list[MetricVerdict] = Field(default_factory=list)
    decision_in_s: float | None = Field(
        default=None,
        description="The judge's estimate, at the traffic it saw, of how much longer the "
        "step needs before it can be decided either way (None: no estimate).",
    )
    evidence: Evidence | None = Field(
        default=None, description="The sequential judge's state after this evaluation."
    )

    _evidence = field_validator("evidence", mode="before")(readable_evidence)

    def failing(self) -> list[MetricVerdict]:
        return [m for m in self.metrics if m.outcome == "fail"]

    def needs(self) -> str | None:
        """What an undecided step still needs, from the judge's estimate, for people."""
        if self.outcome != "inconclusive":
            return None
        if self.decision_in_s is None:
            return "no estimate: no evidence is building either way at the current traffic"
        return f"needs about {duration_text(self.decision_in_s)} more at the current traffic"


def duration_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2.5 h``: how long, as a person says it."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Stage(CamelModel):
    """One stage of a plan: a header-only stage (weight 0) or a weighted step."""

    kind: Literal["header", "weight"]
    weight: Annotated[int, Field(ge=0, le=100)]
    duration: str
    min_requests: Annotated[int, Field(ge=0)]
    header: str | None = None
    value: str | None = None


class Condition(CamelModel):
    """A Kubernetes-style condition (``type``, ``status``, ``reason``, ``message``)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime


class HistoryEntry(CamelModel):
    """One decision, kept in a bounded list so ``rollout history`` can tell the story."""

    at: datetime
    run: int
    step_index: int | None = None
    canary_weight: int = 0
    decision: str
    reason: str = ""


PauseReason = Literal["user", "inconclusive", "regression", "drift", "spec"]
RollbackReason = Literal["regression", "inconclusive", "aborted"]


_LEGACY_ID = re.compile(r"^r(\d+)\.(\d+)\.(.+)$")


class EffectId(CamelModel):
    """Who an effect is about and which decision made it: unique across the cluster.

    The rollout's identity (``namespace``, ``name``, ``uid``) is joined where the
    effect is delivered; the engine supplies ``run``, ``decision`` and ``event``.
    Delivery de-duplicates on the whole value and a Slack thread belongs to one
    :attr:`release`; :meth:`__str__` is its stable text (webhook ids, logs).
    """

    namespace: str
    name: str
    uid: str
    run: int
    decision: int
    event: str

    @property
    def local(self) -> str:
        """The id within one rollout, ``r<run>.<decision>.<event>`` (the outbox's ``id``)."""
        return f"r{self.run}.{self.decision}.{self.event}"

    @property
    def release(self) -> tuple[str, str, str, int]:
        """One run of one rollout: what a Slack thread belongs to."""
        return (self.namespace, self.name, self.uid, self.run)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.uid}/{self.local}"


class PendingEffect(CamelModel):
    """A notification or Event decided but not yet delivered (the status's outbox).

    The controller writes it with the status that made the decision and removes it
    once delivered, so a crash in between re-delivers it, deduplicated by its
    identity: the rollout's namespace, name and uid with run, decision and event.
    id is the text of the last three, kept for statuses written before run and
    decision existed (such an entry is migrated once, on load).
    """

    id: str
    kind: Literal["event", "notify"]
    run: int | None = Field(default=None, description="The run that decided it.")
    decision: int | None = Field(default=None, description="The decision's number in the run.")
    reason: str = ""
    event: str = ""
    message: str = ""
    type: Literal["Normal", "Warning"] = "Normal"
    canary_weight: int = 0
    step_index: int | None = None
    verdict: Verdict | None = None
    outlier_detection: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """An outbox entry from before structured ids: read its run and decision once."""
        if isinstance(data, dict) and data.get("run") is None and "id" in data:
            match = _LEGACY_ID.match(str(data["id"]))
            run, decision = (int(match[1]), int(match[2])) if match else (0, 0)
            data = {**data, "run": run, "decision": decision}
        return data

    @property
    def what(self) -> str:
        """The last part of the id: the notification's event, or the Event's reason."""
        return self.event if self.kind == "notify" else self.reason

    def key(self, namespace: str, name: str, uid: str) -> EffectId:
        """The effect's identity across the cluster, joined with its rollout's."""
        return EffectId(
            namespace=namespace,
            name=name,
            uid=uid,
            run=self.run or 0,
            decision=self.decision or 0,
            event=self.what,
        )


class RecordedDeployment(CamelModel):
    """A Deployment of a version as it was before it was scaled down: enough to bring it
    back exactly (its replicas, and the bounds of the HorizontalPodAutoscaler on it)."""

    name: str
    replicas: Annotated[int, Field(ge=0)]
    autoscaler: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None


class Previous(CamelModel):
    """The version a successful release replaced, while it may still be brought back."""

    subset: str
    scale_down_at: datetime | None = Field(
        default=None, description="When its Deployments go to zero; unset: never."
    )
    scaled_down: bool = False
    deployments: list[RecordedDeployment] = Field(
        default_factory=list, max_length=64, description="Their sizes before scale-down."
    )
    refused: str | None = Field(default=None, description="Why it was not scaled down.")


class Undo(CamelModel):
    """An undo of a succeeded release: traffic back to ``to`` from ``undone``."""

    to: str
    undone: str
    by: str = ""
    restore: list[RecordedDeployment] = Field(
        default_factory=list,
        max_length=64,
        description="The sizes ``to``'s Deployments are brought back to before traffic moves.",
    )
    requested_at: datetime


class RoutedVirtualService(CamelModel):
    """One VirtualService the rollout moves, and the canary weight it carries now."""

    name: str
    canary_weight: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description="The canary's share of the pair on its managed routes."
    )
    in_step: bool = Field(
        default=False, description="It carries what the step asks for (the step's weight)."
    )


class RolloutStatus(CamelModel):
    """What the controller has done; the engine's whole memory between calls."""

    phase: Phase | None = None
    run: int = Field(default=0, description="Increments at every start; keys notifications.")
    decisions: int = Field(default=0, description="Decisions made in this run; keys notifications.")
    stable_subset: str | None = None
    canary_subset: str | None = None
    plan: list[Stage] = Field(default_factory=list, description="Frozen at start.")
    step_index: int | None = None
    canary_weight: Annotated[int, Field(ge=0, le=100)] = 0
    started_at: datetime | None = None
    step_started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    pause_reason: PauseReason | None = None
    rollback_reason: RollbackReason | None = None
    inconclusive_count: int = 0
    last_verdict: Verdict | None = None
    handled_command_id: str | None = None
    outlier_tightened: bool = False
    replaced_outlier_detection: dict[str, Any] | None = Field(
        default=None, description="The canary subset's settings before tightening."
    )
    virtual_services: list[RoutedVirtualService] = Field(
        default_factory=list,
        max_length=16,
        description="Every VirtualService moved, as last written or read: which carry the "
        "step's weight (the step's clock starts when all of them do).",
    )
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    outbox: list[PendingEffect] = Field(default_factory=list)
    evidence: Evidence | None = Field(
        default=None, description="The sequential judge's state for this run."
    )
    _evidence = field_validator("evidence", mode="before")(readable_evidence)
    slack_thread_ts: str | None = Field(
        default=None, description="The Slack message this run's events reply to."
    )
    notification_problem: str | None = Field(
        default=None,
        description="Why this rollout's notifications are refused or failing now.",
    )
    preflight_warning: str | None = Field(
        default=None,
        description="What the preflight found and did not block on (e.g. plain text accepted).",
    )
    previous: Previous | None = Field(
        default=None, description="After success: the version replaced, and its scale-down."
    )
    undo: Undo | None = Field(default=None, description="The undo of this release, if any.")
    applied_spec: dict[str, Any] | None = Field(
        default=None,
        description="The spec the current run follows (the last one it accepted): while the "
        "canary carries traffic it is judged by this one if the spec becomes invalid or "
        "names another pair of subsets.",
    )

    @property
    def stage(self) -> Stage | None:
        if self.step_index is None or not self.plan:
            return None
        return self.plan[self.step_index]

    @property
    def gate(self) -> bool:
        """Passing the current step sends the canary to 100% of the traffic: the step
        before the last weighted one (or a plan's only step below 100)."""
        stage = self.stage
        if stage is None or self.step_index is None or stage.weight >= 100:
            return False
        later = self.plan[self.step_index + 1 :]
        return not later or later[0].weight >= 100

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)
