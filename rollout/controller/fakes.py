"""In-memory fakes of the controller's ports, shipped for tests of the service.

They keep the semantics the reconciler relies on (resourceVersion preconditions,
409 on a stale write, Events deduplicated by id) and let a test make any call
fail once, to play a crash between two writes. :func:`evaluation` makes
Prometheus's answer for a step, healthy or failing, for the real judges.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollout.analysis.judges import Evaluation
from rollout.analysis.observations import Counts, Observation, VersionCounts
from rollout.kube.errors import Conflict, NotFound
from rollout.kube.leader import NotLeader
from rollout.kube.workloads import Readiness
from rollout.mesh.ambient import DataPlane
from rollout.mesh.gatewayapi import GatewayDocs, GatewayResult, GatewayView, find_host_rule
from rollout.mesh.istio import Routing, sends_to
from rollout.mesh.mtls import MtlsReport
from rollout.model import PendingEffect
from rollout.model.workloads import Autoscaler, DeploymentView, Versions

Doc = dict[str, Any]


class Crash(Exception):
    """Raised by a fake in place of a call, as if the process died right there."""


@dataclass
class FailOnce:
    """Make the named call raise :class:`Crash` the next ``times`` it is made."""

    armed: dict[str, int] = field(default_factory=dict)

    def arm(self, call: str, times: int = 1) -> None:
        self.armed[call] = times

    def check(self, call: str) -> None:
        if self.armed.get(call, 0) > 0:
            self.armed[call] -= 1
            raise Crash(call)


class FakeCluster:
    """Rollouts, VirtualServices and DestinationRules of one namespace, with versions."""

    def __init__(self, namespace: str = "shop") -> None:
        self.namespace = namespace
        self.objects: dict[tuple[str, str], Doc] = {}
        self.rv = 0
        self.writes: list[tuple[str, str, Doc]] = []
        self.crashes = FailOnce()

    def put(self, kind: str, doc: Doc) -> Doc:
        self.rv += 1
        stored = copy.deepcopy(doc)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(self.rv)
        self.objects[(kind, meta["name"])] = stored
        return copy.deepcopy(stored)

    def get(self, kind: str, name: str) -> Doc:
        if (kind, name) not in self.objects:
            raise NotFound(f"{kind} {name} not found")
        return copy.deepcopy(self.objects[(kind, name)])

    def delete(self, kind: str, name: str) -> None:
        self.get(kind, name)
        self.writes.append((kind, name, {}))
        del self.objects[(kind, name)]

    def replace(self, kind: str, doc: Doc) -> Doc:
        current = self.get(kind, doc["metadata"]["name"])
        if doc["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{kind} {doc['metadata']['name']} changed")
        if doc == current:
            return current
        self.writes.append((kind, doc["metadata"]["name"], copy.deepcopy(doc)))
        return self.put(kind, doc)


class FakeRollouts:
    """Rollouts in the fake cluster; status writes with resourceVersion checks."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def get(self, namespace: str, name: str) -> Doc:
        return self.cluster.get("Rollout", name)

    def write_status(self, rollout: Doc, status: Doc) -> Doc:
        self.cluster.crashes.check("write_status")
        current = self.cluster.get("Rollout", rollout["metadata"]["name"])
        if rollout["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise Conflict("Rollout changed")
        return self.cluster.replace("Rollout", {**current, "status": status})


class FakeMesh:
    """The VirtualServices and DestinationRule of the fake cluster.

    A test makes a write fail with ``crashes.arm("mesh_update")`` (before any) or
    ``crashes.arm("mesh_write:<name>")`` (just before that VirtualService's).
    """

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]:
        if names:
            return [self.cluster.get("VirtualService", name) for name in names]
        found = [
            copy.deepcopy(doc)
            for (kind, name), doc in sorted(self.cluster.objects.items())
            if kind == "VirtualService" and sends_to(doc, host, namespace)
        ]
        if not found:
            raise NotFound(f"no VirtualService routes to {host}")
        return found

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc:
        return self.cluster.get("DestinationRule", name or "inventory-dr")

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[Routing], Routing],
        current: Routing | None = None,
    ) -> Routing:
        self.cluster.crashes.check("mesh_update")
        docs = Routing(
            tuple(self.cluster.get("VirtualService", name) for name in vs_names),
            self.cluster.get("DestinationRule", dr_name),
        )
        wanted = transform(docs)
        written = []
        for name, doc in zip(vs_names, wanted.virtual_services, strict=True):
            self.cluster.crashes.check(f"mesh_write:{name}")
            written.append(self.cluster.replace("VirtualService", doc))
        return Routing(
            tuple(written), self.cluster.replace("DestinationRule", wanted.destination_rule)
        )


class FakeGateways:
    """The HTTPRoute, Services and host rules of the fake cluster."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def read(self, namespace: str, route: str, canary_service: str) -> GatewayView:
        services = {
            name: dict((doc.get("spec") or {}).get("selector") or {})
            for (kind, name), doc in self.cluster.objects.items()
            if kind == "Service"
        }
        rules = [d for (k, _), d in self.cluster.objects.items() if k == "DestinationRule"]
        rule = find_host_rule(copy.deepcopy(rules), canary_service, namespace)
        return GatewayView(GatewayDocs(self.cluster.get("HTTPRoute", route), rule), services)

    def update(
        self,
        namespace: str,
        route: str,
        canary_service: str,
        transform: Callable[[GatewayDocs], GatewayResult],
        current: GatewayDocs | None = None,
    ) -> GatewayDocs:
        self.cluster.crashes.check("mesh_update")
        docs = self.read(namespace, route, canary_service).docs
        result = transform(docs)
        written = self.cluster.replace("HTTPRoute", result.docs.route)
        rule = result.docs.host_rule
        if result.rule_write == "delete" and docs.host_rule is not None:
            self.cluster.delete("DestinationRule", docs.host_rule["metadata"]["name"])
        elif result.rule_write == "create" and rule is not None:
            rule = self.cluster.put("DestinationRule", rule)
        elif result.rule_write == "patch" and rule is not None:
            rule = self.cluster.replace("DestinationRule", rule)
        return GatewayDocs(written, rule)


SIDECAR = DataPlane("sidecar")


@dataclass
class FakeWorkloads:
    """Canary readiness and mTLS, as a test sets them."""

    ready: bool = True
    mtls: str | None = "STRICT"
    plane: DataPlane | None = SIDECAR  # None: the Namespace is not readable

    def subset_readiness(self, namespace: str, destination_rule: Doc, subset: str) -> Readiness:
        return Readiness(self.ready, "ready" if self.ready else f"{subset} not ready")

    def mtls_report(
        self,
        namespace: str,
        destination_rule: Doc,
        subsets: Sequence[str],
        root_namespace: str = "istio-system",
    ) -> MtlsReport:
        return MtlsReport(self.mtls, self.mtls == "STRICT", (f"the fake mesh is {self.mtls}",))

    def data_plane(self, namespace: str, service: str) -> tuple[DataPlane | None, str]:
        return self.plane, "" if self.plane else f"Namespace {namespace} is not readable"


@dataclass
class FakeDeployment:
    """A Deployment of the fake cluster: which subset's pods it runs, its size, its pods."""

    subset: str
    replicas: int
    ready_replicas: int
    shared_with: tuple[str, ...] = ()
    autoscaler: Autoscaler | None = None


@dataclass
class FakeScaling:
    """Deployments by name; ``scale`` sets the size, and the pods are ready at once unless
    ``pods_wait`` (then a test makes them ready with :meth:`pods_ready`)."""

    cluster: FakeCluster
    deployments: dict[str, FakeDeployment] = field(default_factory=dict)
    pods_wait: bool = False
    scaled: list[tuple[str, int]] = field(default_factory=list)

    def versions(self, namespace: str, destination_rule: Doc, subsets: Sequence[str]) -> Versions:
        return {
            subset: tuple(
                DeploymentView(
                    name,
                    d.replicas,
                    d.ready_replicas,
                    d.replicas >= 1 and d.ready_replicas >= d.replicas,
                    d.shared_with,
                    d.autoscaler,
                )
                for name, d in sorted(self.deployments.items())
                if d.subset == subset
            )
            for subset in subsets
        }

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.cluster.crashes.check("scale")
        if name not in self.deployments:
            raise NotFound(f"Deployment {name} not found")
        d = self.deployments[name]
        d.replicas = replicas
        d.ready_replicas = min(d.ready_replicas, replicas) if self.pods_wait else replicas
        self.scaled.append((name, replicas))

    def pods_ready(self) -> None:
        for d in self.deployments.values():
            d.ready_replicas = d.replicas


@dataclass
class FakeEvents:
    """Events recorded once per id."""

    cluster: FakeCluster
    recorded: dict[str, tuple[str, str]] = field(default_factory=dict)

    def record(
        self, rollout: Doc, effect_id: str, reason: str, note: str, type_: str = "Normal"
    ) -> bool:
        self.cluster.crashes.check("event")
        if effect_id in self.recorded:
            return False
        self.recorded[effect_id] = (reason, note)
        return True


@dataclass
class FakeNotifier:
    """Notifications taken at once and kept in ``sent``; ``refusal`` is its problem()."""

    cluster: FakeCluster
    sent: list[PendingEffect] = field(default_factory=list)
    refusal: str | None = None  # what problem() says

    def notify(self, rollout: Doc, effect: PendingEffect) -> bool:
        self.cluster.crashes.check("notify")
        if all(e.id != effect.id for e in self.sent):
            self.sent.append(effect)
        return True

    def thread(self, rollout: Doc) -> str | None:
        return None

    def problem(self, rollout: Doc) -> str | None:
        return self.refusal


@dataclass
class FakeFence:
    """A fence a test can close (``leader = False``)."""

    leader: bool = True

    def fence(self) -> None:
        if not self.leader:
            raise NotLeader("not the leader")


def evaluation(
    outcome: str, at: datetime, step_started_at: datetime, requests: int = 20_000
) -> Evaluation:
    """Prometheus's answer for one step, as a judge would get it: a canary as healthy as
    stable ("pass"), or failing half its requests ("fail"), with ``requests`` of its own."""
    errors = requests / 2 if outcome == "fail" else 0.0
    canary = Counts(requests, errors, ((25.0, requests), (math.inf, requests)))
    stable = Counts(20 * requests, 2, ((25.0, 20 * requests), (math.inf, 20 * requests)))
    observed = Observation(at=at, stable=VersionCounts(stable), canary=VersionCounts(canary))
    return Evaluation(observed, step_started_at)
