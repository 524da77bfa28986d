"""One reconcile of one Rollout: read → observe → judge → decide → apply → write, crash-safe.

Called by the controller's worker for every due evaluation and every watch
event. The decision is the engine's; this module only gathers its inputs and
applies its outputs, in this order:

1. the new status, with the decision's effects in its outbox (the intent);
2. the mesh, to the state the status describes (idempotent, with preconditions),
   then the Deployments' sizes it describes (after a release: scale-down, undo);
3. the effects in the outbox (Events named after their id; notifications
   deduplicated by id);
4. the status again, without the delivered effects.

A SIGKILL between any two steps converges on the next reconcile: the status
already says where the rollout is, the mesh is made to match it, and the
outbox still holds what was not delivered. The canary's weight never exceeds
the step the status records, because the status is always written first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rollout.actions import MeshAction, ScaleDeployment
from rollout.analysis.judges import Evaluation, judge
from rollout.controller import failures, gateways
from rollout.controller.failures import FAILED_CONDITION
from rollout.controller.memo import ParsedRollouts, RoutingChecks
from rollout.controller.ports import (
    Events,
    Fence,
    Gateways,
    Mesh,
    NoScaling,
    Notifier,
    Rollouts,
    Scaling,
    Workloads,
)
from rollout.controller.preflight import preflight
from rollout.controller.supervise import Crash
from rollout.engine import Decision, Observed, decide, desired_mesh, spec_in_force, starting
from rollout.engine.after import subsets_to_see, target_in_force
from rollout.engine.preflight import (
    MtlsMode,
)
from rollout.engine.status import conditions
from rollout.kube.errors import Invalid, KubeError, NotFound
from rollout.mesh import MeshError, Target, replaced_outlier_detection, subset_version
from rollout.mesh.gateway import gateway_drift, gateway_in_sync
from rollout.mesh.gatewayapi import GatewayView
from rollout.mesh.httproute import Backends
from rollout.mesh.istio import Routing
from rollout.mesh.routeset import (
    apply_routing,
    carried_weight,
    drifted,
)
from rollout.model import (
    RolloutSpec,
    RolloutStatus,
    RoutedVirtualService,
    SpecError,
    Verdict,
)
from rollout.model.workloads import Versions

Doc = dict[str, Any]


@dataclass(frozen=True)
class Located:
    """Where a rollout's traffic is: its documents and the versions its subsets carry."""

    vs_names: tuple[str, ...]
    dr_name: str
    routing: Routing
    stable_version: str
    canary_version: str
    # An HTTPRoute rollout: its documents (``routing`` then holds no VirtualService, and a
    # rule describing the version Services' pods for the preflight); versions are Services.
    gateway: GatewayView | None = None
    backends: Backends | None = None


@dataclass(frozen=True)
class Result:
    """What a reconcile left behind, for the scheduler's next evaluation."""

    spec: RolloutSpec | None
    status: RolloutStatus
    located: Located | None
    verdict: Verdict | None = None  # the judge's, when this reconcile brought an evaluation
    evaluation_failure: str | None = None  # the judge raised (type and place, no text)
    wrote_gateway: bool = False  # an HTTPRoute or host rule written (no watch on them)
    # An Event the API refused stays in the outbox: nothing else may come to retry it.
    undelivered: bool = False


@dataclass(frozen=True)
class Committed:
    """What :meth:`Reconciler._commit` left: the status written and what the loop must
    know (returned, not kept on the reconciler: its workers share it)."""

    status: RolloutStatus
    wrote_gateway: bool
    undelivered: bool


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
        mtls_floor: MtlsMode = "off",
        scrape_interval_s: float = 15.0,
        scaling: Scaling | None = None,
        gateways: Gateways | None = None,
    ) -> None:
        self.rollouts, self.mesh, self.workloads = rollouts, mesh, workloads
        self.scaling: Scaling = scaling or NoScaling()
        self.events, self.notifier, self.fence, self.clock = events, notifier, fence, clock
        self.mtls_floor = mtls_floor  # the platform's minimum for spec.preflight.mtls
        self.scrape_interval_s = scrape_interval_s  # for what increase() may extrapolate
        self.gateways = gateways  # the Gateway API's documents, for specs with httpRoute
        self.parsed, self.checks = ParsedRollouts(), RoutingChecks()

    def reconcile(
        self, namespace: str, name: str, evaluation: Evaluation | None = None
    ) -> Result | None:
        """Converge one Rollout: read → observe → judge → decide → apply → write.

        ``evaluation`` is Prometheus's answer for this rollout's current step, if
        one came (judged here, on the status just read). None when the rollout no
        longer exists. Conflicts propagate.
        """
        # read
        judge_failure: str | None = None
        try:
            obj = self.rollouts.get(namespace, name)
        except NotFound:
            return None
        now = self.clock()
        try:
            status = self.parsed.status(obj)
        except SpecError:
            status = RolloutStatus()  # unreadable memory: start over rather than guess
        given: RolloutSpec | None = None
        spec_problem: str | None = None
        try:
            given = self.parsed.spec(obj)
        except SpecError as error:
            spec_problem = str(error)
        spec, refused = spec_in_force(given, spec_problem, status)
        # observe
        seen = Observed(generation=obj["metadata"].get("generation"), spec_problem=spec_problem)
        target = located = None
        if spec is not None:
            target = target_in_force(spec, status, namespace)
            located, seen = self._observe(namespace, spec, status, target, refused, seen)
            if located is not None:
                wanted = subsets_to_see(spec, status, now)
                if wanted:
                    versions = self.scaling.versions(
                        namespace, located.routing.destination_rule, wanted
                    )
                    seen = replace(seen, versions=versions)
            # judge
            if evaluation is not None and status.stage is not None:
                try:
                    verdict = judge(
                        evaluation,
                        spec.analysis,
                        status.stage,
                        status.step_started_at,
                        status.evidence,
                        self.scrape_interval_s,
                        status.gate,
                    )
                    seen = replace(seen, verdict=verdict)
                except Exception as error:  # noqa: BLE001 a judge's bug: this evaluation is lost, not the run
                    judge_failure = f"evaluation failed: {Crash.of(error)}"
        # decide
        decision = decide(spec, status, now, seen)
        decision = failures.conditions_after(decision, seen.verdict is not None, judge_failure, now)
        # apply, write
        if spec is not None:  # an undo decided now applies to its own pair at once
            target = target_in_force(spec, decision.status, namespace)
        done = self._commit(obj, status, decision, located, target, seen.versions)
        return Result(
            spec, done.status, located, seen.verdict, judge_failure, done.wrote_gateway,
            done.undelivered,
        )  # fmt: skip

    def _observe(
        self,
        namespace: str,
        spec: RolloutSpec,
        status: RolloutStatus,
        target: Target,
        refused: str | None,
        seen: Observed,
    ) -> tuple[Located | None, Observed]:
        """The mesh documents and what they say; readiness and mTLS before a start."""
        located, problem = self._locate(namespace, spec, target)
        if located is None:
            return None, replace(seen, problem=problem, mesh_in_sync=False)
        routing, view = located.routing, located.gateway
        wanted = desired_mesh(spec, status)
        if view is not None:
            b = gateways.backends(spec, namespace)
            drift = gateway_drift(view.docs, b)
            synced = gateway_in_sync(view.docs, b, wanted)
        else:
            # A hand edit of any of the VirtualServices is drift; the step's clock starts
            # only when every one of them carries the step's weight.
            drift = bool(drifted(routing, target))
            synced = not self.checks.out_of_sync(routing, target, wanted)
        seen = replace(seen, drift=drift and refused is None, mesh_in_sync=synced, refused=refused)
        if refused is None and starting(spec, status):
            ready, problem, warning = preflight(
                self.workloads, self.scaling, self.mtls_floor, namespace, spec, located.routing
            )
            seen = replace(seen, canary_ready=ready, problem=problem, warning=warning)
        return located, seen

    def record_failure(
        self, namespace: str, name: str, message: str, kind: str = FAILED_CONDITION
    ) -> None:
        """Say on the Rollout that reconciling or evaluating it failed
        (:func:`~rollout.controller.failures.record_failure`)."""
        failures.record_failure(
            self.rollouts, self.events, self.fence, self.clock(), namespace, name, message, kind
        )

    def _locate(
        self, namespace: str, spec: RolloutSpec, target: Target
    ) -> tuple[Located | None, str | None]:
        if spec.http_route is not None:
            view, problem = gateways.locate(self.gateways, namespace, spec)
            if view is None:
                return None, problem
            b = gateways.backends(spec, namespace)
            pods = Routing((), gateways.pods_rule(spec, view))
            return Located((), "", pods, b.stable, b.canary, view, b), None
        try:
            found = self.mesh.find_virtual_services(
                namespace, spec.service, spec.virtual_service_names
            )
            dr = self.mesh.find_destination_rule(namespace, spec.service, spec.destination_rule)
            routing = Routing(tuple(found), dr)
            self.checks.validate(routing, target)
        except (MeshError, NotFound, Invalid) as error:
            return None, str(error)
        located = Located(
            routing.names,
            dr["metadata"]["name"],
            routing,
            subset_version(dr, spec.stable_subset) or spec.stable_subset,
            subset_version(dr, spec.canary_subset) or spec.canary_subset,
        )
        return located, None

    def _commit(
        self,
        obj: Doc,
        old: RolloutStatus,
        decision: Decision,
        located: Located | None,
        target: Target | None,
        versions: Versions,
    ) -> Committed:
        wrote_gateway = False
        status = decision.status.model_copy(update={"outbox": [*old.outbox, *decision.effects]})
        behind: set[str] = set()  # the documents the mesh actions would still change
        if located is not None and target is not None:
            # Before the mesh moves: which VirtualServices already carry what this step asks.
            behind = set(self.checks.out_of_sync(located.routing, target, decision.mesh))
            status = self._with_routed(status, located.routing, target, behind)
        written = old  # the status the API server holds, as far as this reconcile knows
        if status != old:
            self.fence.fence()
            obj = self.rollouts.write_status(obj, status.wire())
            self.parsed.wrote(obj, status)
            written = status
        if located is not None and located.gateway is not None and located.backends:
            namespace = obj["metadata"]["namespace"]
            wrote_gateway = gateways.apply(
                self.gateways, self.fence, namespace, located.gateway, located.backends,
                decision.mesh,
            )  # fmt: skip
        elif located is not None and target is not None:
            routing = located.routing
            if decision.mesh:
                if behind:  # in sync already (every steady cycle): nothing to write
                    routing = self._apply(obj, located, target, decision.mesh)
                    behind = set(self.checks.out_of_sync(routing, target, decision.mesh))
                replaced = replaced_outlier_detection(routing.destination_rule, target.canary)
                if replaced != status.replaced_outlier_detection and status.outlier_tightened:
                    status = status.model_copy(update={"replaced_outlier_detection": replaced})
            status = self._with_routed(status, routing, target, behind)
        self._scale(obj["metadata"]["namespace"], decision.scale, versions)
        delivered, undelivered = self._deliver(obj, status)
        thread = self.notifier.thread(obj)
        if thread is not None and thread != status.slack_thread_ts:
            status = status.model_copy(update={"slack_thread_ts": thread})
        status = self._notification_problem(obj, status)
        if delivered or status != written:
            remaining = [e for e in status.outbox if e.id not in delivered]
            status = status.model_copy(update={"outbox": remaining})
            self.fence.fence()
            self.parsed.wrote(self.rollouts.write_status(obj, status.wire()), status)
        return Committed(status, wrote_gateway, undelivered)

    def _notification_problem(self, obj: Doc, status: RolloutStatus) -> RolloutStatus:
        """Say on the Rollout why its notifications are refused or failing (once per reason)."""
        problem = self.notifier.problem(obj)
        if problem == status.notification_problem:
            return status
        status = status.model_copy(update={"notification_problem": problem})
        status = status.model_copy(update={"conditions": conditions(status, self.clock())})
        if problem is not None:
            digest = hashlib.sha256(problem.encode()).hexdigest()[:12]
            self.fence.fence()
            self.events.record(
                obj, f"notify-problem.{digest}", "NotificationProblem", problem, "Warning"
            )
        return status

    @staticmethod
    def _with_routed(
        status: RolloutStatus, routing: Routing, target: Target, behind: set[str]
    ) -> RolloutStatus:
        """``status`` saying what each VirtualService carries and whether it is in step
        (``behind``: the names of those the mesh actions would still change)."""
        routed = [
            RoutedVirtualService(
                name=name, canary_weight=carried_weight(vs, target), in_step=name not in behind
            )
            for name, vs in zip(routing.names, routing.virtual_services, strict=True)
        ]
        if routed == status.virtual_services:
            return status
        return status.model_copy(update={"virtual_services": routed})

    def _apply(
        self, obj: Doc, located: Located, target: Target, actions: list[MeshAction]
    ) -> Routing:
        def transform(docs: Routing) -> Routing:
            self.fence.fence()
            return apply_routing(docs, target, actions).routing

        namespace = obj["metadata"]["namespace"]
        return self.mesh.update_all(
            namespace, located.vs_names, located.dr_name, transform, current=located.routing
        )

    def _scale(self, namespace: str, wanted: list[ScaleDeployment], versions: Versions) -> None:
        """Set the Deployments to the sizes the status asks for; those seen at that size
        already are left alone (no write on every reconcile)."""
        seen = {d.name: d.replicas for found in versions.values() for d in found}
        for action in wanted:
            if seen.get(action.name) == action.replicas:
                continue
            self.fence.fence()
            try:
                self.scaling.scale(namespace, action.name, action.replicas)
            except NotFound:
                continue  # deleted since: nothing left to size

    def _deliver(self, obj: Doc, status: RolloutStatus) -> tuple[set[str], bool]:
        """Send what the outbox holds; the ids sent (the rest stays for next time), and
        whether the API refused an Event (the notifier calls back for what it queued)."""
        sent: set[str] = set()
        refused = False
        for effect in status.outbox:
            try:
                if effect.kind == "event":
                    self.fence.fence()
                    self.events.record(obj, effect.id, effect.reason, effect.message, effect.type)
                elif not self.notifier.notify(obj, effect):
                    continue  # queued: it stays in the outbox until delivered
            except KubeError:
                refused = True
                continue
            sent.add(effect.id)
        return sent, refused


__all__ = ["Located", "Reconciler", "Result"]
