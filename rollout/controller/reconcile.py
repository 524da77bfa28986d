"""One reconcile of one Rollout: read → check → decide → write, in a crash-safe order.

Called by the controller's worker for every due evaluation and every watch
event. The decision is the engine's; this module only gathers its inputs and
applies its outputs, in this order:

1. the new status, with the decision's effects in its outbox (the intent);
2. the mesh, to the state the status describes (idempotent, with preconditions);
3. the effects in the outbox (Events named after their id; notifications
   deduplicated by id);
4. the status again, without the delivered effects.

A SIGKILL between any two steps converges on the next reconcile: the status
already says where the rollout is, the mesh is made to match it, and the
outbox still holds what was not delivered. The canary's weight never exceeds
the step the status records, because the status is always written first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.actions import Effect, MeshAction, RecordEvent
from rollout.controller.ports import Events, Fence, Mesh, Notifier, Rollouts, Workloads
from rollout.engine import Decision, decide, invalid, starting
from rollout.kube.errors import Invalid, KubeError, NotFound
from rollout.kube.mesh import MeshDocs
from rollout.mesh import (
    MeshError,
    Target,
    apply_actions,
    replaced_outlier_detection,
    validate_pair,
    weight_drift,
)
from rollout.model import (
    PendingEffect,
    RolloutSpec,
    RolloutStatus,
    SpecError,
    Verdict,
    parse_spec,
    parse_status,
)

Doc = dict[str, Any]


@dataclass(frozen=True)
class Located:
    """Where a rollout's traffic is: its documents and the versions its subsets carry."""

    vs_name: str
    dr_name: str
    docs: MeshDocs
    stable_version: str
    canary_version: str


@dataclass(frozen=True)
class Result:
    """What a reconcile left behind, for the scheduler's next evaluation."""

    spec: RolloutSpec | None
    status: RolloutStatus
    located: Located | None


def _version_label(dr: Doc, subset: str) -> str:
    for entry in (dr.get("spec") or {}).get("subsets") or []:
        if entry.get("name") == subset:
            return str((entry.get("labels") or {}).get("version", subset))
    return subset


def _pending(effect: Effect) -> PendingEffect:
    if isinstance(effect, RecordEvent):
        return PendingEffect(
            id=effect.id,
            kind="event",
            run=effect.run,
            decision=effect.decision,
            reason=effect.reason,
            message=effect.message,
            type=effect.type,
        )
    return PendingEffect(
        id=effect.id,
        kind="notify",
        run=effect.run,
        decision=effect.decision,
        event=effect.event,
        message=effect.message,
        canary_weight=effect.canary_weight,
        step_index=effect.step_index,
        verdict=effect.verdict,
        outlier_detection=effect.outlier_detection,
    )


class Reconciler:
    """Reconciles one Rollout at a time through the controller's ports."""

    def __init__(
        self,
        rollouts: Rollouts,
        mesh: Mesh,
        workloads: Workloads,
        events: Events,
        notifier: Notifier,
        fence: Fence,
        clock: Callable[[], datetime],
    ) -> None:
        self.rollouts, self.mesh, self.workloads = rollouts, mesh, workloads
        self.events, self.notifier, self.fence, self.clock = events, notifier, fence, clock

    def reconcile(self, namespace: str, name: str, verdict: Verdict | None = None) -> Result | None:
        """Converge one Rollout; None when it no longer exists. Conflicts propagate."""
        try:
            obj = self.rollouts.get(namespace, name)
        except NotFound:
            return None
        now = self.clock()
        try:
            status = parse_status(obj.get("status"))
        except SpecError:
            status = RolloutStatus()  # unreadable memory: start over rather than guess
        generation = obj["metadata"].get("generation")
        try:
            spec = parse_spec(obj.get("spec"))
        except SpecError as error:
            decision = invalid(status, str(error), now, reason="InvalidSpec")
            self._commit(obj, status, decision, None, None)
            return Result(None, decision.status, None)
        target = Target.of(spec, namespace)
        located, problem = self._locate(namespace, spec, target)
        canary_ready, drift = True, False
        if located is not None:
            drift = weight_drift(located.docs.virtual_service, target)
            if starting(spec, status):
                canary_ready, problem = self._preflight(namespace, spec, located)
        decision = decide(
            spec,
            status,
            now,
            verdict,
            canary_ready=canary_ready,
            problem=problem,
            generation=generation,
            drift=drift,
        )
        new_status = self._commit(obj, status, decision, located, target)
        return Result(spec, new_status, located)

    def _locate(
        self, namespace: str, spec: RolloutSpec, target: Target
    ) -> tuple[Located | None, str | None]:
        try:
            vs = self.mesh.find_virtual_service(namespace, spec.service, spec.virtual_service)
            dr = self.mesh.find_destination_rule(namespace, spec.service, spec.destination_rule)
            validate_pair(vs, dr, target)
        except (MeshError, NotFound, Invalid) as error:
            return None, str(error)
        located = Located(
            vs["metadata"]["name"],
            dr["metadata"]["name"],
            MeshDocs(vs, dr),
            _version_label(dr, spec.stable_subset),
            _version_label(dr, spec.canary_subset),
        )
        return located, None

    def _preflight(
        self, namespace: str, spec: RolloutSpec, located: Located
    ) -> tuple[bool, str | None]:
        """Before the first weight change: is the canary ready, is mTLS STRICT (per spec)?"""
        readiness = self.workloads.subset_readiness(
            namespace, located.docs.destination_rule, spec.canary_subset
        )
        if spec.preflight.mtls == "block":
            mode = self.workloads.mtls_mode(namespace)
            if mode != "STRICT":
                return readiness.ready, (
                    f"preflight: namespace {namespace} mTLS is {mode or 'PERMISSIVE (unset)'}, "
                    "spec.preflight.mtls requires STRICT"
                )
        return readiness.ready, None

    def _commit(
        self,
        obj: Doc,
        old: RolloutStatus,
        decision: Decision,
        located: Located | None,
        target: Target | None,
    ) -> RolloutStatus:
        status = decision.status.model_copy(
            update={"outbox": [*old.outbox, *(_pending(e) for e in decision.effects)]}
        )
        if status != old:
            self.fence.fence()
            obj = self.rollouts.write_status(obj, status.wire())
        if located is not None and target is not None and decision.mesh:
            docs = self._apply(obj, located, target, decision.mesh)
            replaced = replaced_outlier_detection(docs.destination_rule, target.canary)
            if replaced != status.replaced_outlier_detection and status.outlier_tightened:
                status = status.model_copy(update={"replaced_outlier_detection": replaced})
        delivered = self._deliver(obj, status)
        thread = self.notifier.thread(obj)
        if thread is not None and thread != status.slack_thread_ts:
            status = status.model_copy(update={"slack_thread_ts": thread})
        if delivered or status != parse_status(obj.get("status")):
            remaining = [e for e in status.outbox if e.id not in delivered]
            status = status.model_copy(update={"outbox": remaining})
            self.fence.fence()
            self.rollouts.write_status(obj, status.wire())
        return status

    def _apply(
        self, obj: Doc, located: Located, target: Target, actions: list[MeshAction]
    ) -> MeshDocs:
        def transform(docs: MeshDocs) -> MeshDocs:
            self.fence.fence()
            result = apply_actions(docs.virtual_service, docs.destination_rule, target, actions)
            return MeshDocs(result.virtual_service, result.destination_rule)

        namespace = obj["metadata"]["namespace"]
        return self.mesh.update(
            namespace, located.vs_name, located.dr_name, transform, current=located.docs
        )

    def _deliver(self, obj: Doc, status: RolloutStatus) -> set[str]:
        """Send what the outbox holds; the ids sent (the rest stays for next time)."""
        sent: set[str] = set()
        for effect in status.outbox:
            try:
                if effect.kind == "event":
                    self.fence.fence()
                    self.events.record(obj, effect.id, effect.reason, effect.message, effect.type)
                elif not self.notifier.notify(obj, effect):
                    continue  # queued: it stays in the outbox until delivered
            except KubeError:
                continue
            sent.add(effect.id)
        return sent


__all__ = ["Located", "Reconciler", "Result"]
