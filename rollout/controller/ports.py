"""The controller's ports: each I/O concern behind a small interface.

The adapters (``rollout.kube``, ``rollout.notify``, ``rollout.analysis.prometheus``)
implement them for real, wired together by ``rollout.controller.wiring``; tests of
the service use the fakes in ``rollout.controller.fakes``. Notifications, leader
election and watches have do-nothing implementations here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from rollout.analysis.observations import Observation, Unavailable
from rollout.analysis.queries import Ask
from rollout.kube.workloads import Readiness
from rollout.mesh.ambient import DataPlane
from rollout.mesh.gatewayapi import GatewayDocs, GatewayResult, GatewayView
from rollout.mesh.istio import Routing
from rollout.mesh.mtls import MtlsReport
from rollout.model import PendingEffect
from rollout.model.workloads import Versions

Doc = dict[str, Any]


class Rollouts(Protocol):
    """Our resources: read one, replace its status (409 when stale)."""

    def get(self, namespace: str, name: str) -> Doc: ...

    def write_status(self, rollout: Doc, status: Doc) -> Doc: ...


class Mesh(Protocol):
    """A service's VirtualServices (every one that routes to it) and DestinationRule."""

    def find_virtual_services(
        self, namespace: str, host: str, names: Sequence[str] = ()
    ) -> list[Doc]: ...

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc: ...

    def update_all(
        self,
        namespace: str,
        vs_names: Sequence[str],
        dr_name: str,
        transform: Callable[[Routing], Routing],
        current: Routing | None = None,
    ) -> Routing: ...


class Gateways(Protocol):
    """An HTTPRoute, the namespace's Services, and the canary Service's host rule."""

    def read(self, namespace: str, route: str, canary_service: str) -> GatewayView: ...

    def update(
        self,
        namespace: str,
        route: str,
        canary_service: str,
        transform: Callable[[GatewayDocs], GatewayResult],
        current: GatewayDocs | None = None,
    ) -> GatewayDocs:
        """Apply ``transform``, write the route and create/patch/delete the host rule as it
        says; on 409 read again and start over."""
        ...


class Workloads(Protocol):
    """What preflight asks of the cluster."""

    def subset_readiness(self, namespace: str, destination_rule: Doc, subset: str) -> Readiness: ...

    def mtls_report(
        self,
        namespace: str,
        destination_rule: Doc,
        subsets: Sequence[str],
        root_namespace: str = "istio-system",
    ) -> MtlsReport:
        """What the PeerAuthentications let peers send the pods behind ``subsets``."""
        ...

    def data_plane(self, namespace: str, service: str) -> tuple[DataPlane | None, str]:
        """Which data plane serves ``service`` (None: cannot tell, and why)."""
        ...


class Scaling(Protocol):
    """The Deployments behind subsets, as a succeeded release's rules see them; their size."""

    def versions(self, namespace: str, destination_rule: Doc, subsets: Sequence[str]) -> Versions:
        """For each subset, its Deployments (replicas, readiness, HPA, what else uses them)."""
        ...

    def scale(self, namespace: str, name: str, replicas: int) -> None: ...


class Events(Protocol):
    """Kubernetes Events, once per effect id."""

    def record(
        self, rollout: Doc, effect_id: str, reason: str, note: str, type_: str = "Normal"
    ) -> bool: ...


class Notifier(Protocol):
    """Tells people; must not block or raise (it queues and retries on its own)."""

    def notify(self, rollout: Doc, effect: PendingEffect) -> bool:
        """True once delivered; False while queued (the effect stays in the outbox)."""
        ...

    def thread(self, rollout: Doc) -> str | None:
        """The Slack thread the rollout's current run lives in, if any."""
        ...

    def problem(self, rollout: Doc) -> str | None:
        """Why the rollout's notifications are refused or failing now (never a secret)."""
        ...


class Fence(Protocol):
    """Raises when this replica may not write (not the leader)."""

    def fence(self) -> None: ...


class Leader(Fence, Protocol):
    """Leader election: who may act, told through callbacks; the fence is its own.
    Sharded (``rollout.kube.shards``), a replica leads for the rollouts it ``owns``, and
    its fence checks the rollout named by ``acting_on``."""

    def is_leader(self) -> bool: ...

    def owns(self, key: tuple[str, str]) -> bool:
        """This replica may act on this rollout now."""
        ...

    def acting_on(self, key: tuple[str, str]) -> AbstractContextManager[None]:
        """The writes inside are about ``key`` (what a sharded fence checks)."""
        ...

    def begin(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Start campaigning; ``on_started``/``on_stopped`` as the lease is won and lost."""
        ...

    def end(self) -> None:
        """Stop campaigning and give the lease back."""
        ...


class Loop(Protocol):
    """Something that runs on its own thread: a watch, the notification queue."""

    def alive(self) -> bool: ...

    def stop(self) -> None: ...


class Service(Loop, Protocol):
    """A loop the controller starts itself (the notification queue)."""

    def start(self) -> object: ...


class Watch(Loop, Protocol):
    """A watch of one kind of object; ``synced`` once it has listed them all."""

    def synced(self) -> bool: ...


WatchKind = str  # "rollouts", "virtualservices" or "destinationrules"
Handler = Callable[[str, Doc], None]


class Watches(Protocol):
    """Starts watches: ``handler(event_type, object)`` for every change of ``kind``."""

    def watch(self, kind: WatchKind, handler: Handler, namespace: str | None) -> Watch: ...


class Source(Protocol):
    """Prometheus: one observation (or Unavailable) per ask, keyed by ``ask.key``."""

    def observe(self, asks: list[Ask], at: datetime) -> dict[str, Observation | Unavailable]: ...


class NoNotifier:
    """The do-nothing notifier: no channel configured."""

    def notify(self, rollout: Doc, effect: PendingEffect) -> bool:
        return True

    def thread(self, rollout: Doc) -> str | None:
        return None

    def problem(self, rollout: Doc) -> str | None:
        return None


class NoScaling:
    """Sees no Deployments and scales none (tests of the service that leave them out):
    a scale-down waits, an undo is refused."""

    def versions(self, namespace: str, destination_rule: Doc, subsets: Sequence[str]) -> Versions:
        return {}

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        return None


class AlwaysLeader:
    """A single replica without leader election: always leading, the fence never closes."""

    def fence(self) -> None:
        return None

    def is_leader(self) -> bool:
        return True

    def owns(self, key: tuple[str, str]) -> bool:
        return True

    def acting_on(self, key: tuple[str, str]) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def begin(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        on_started()

    def end(self) -> None:
        return None


class NoWatches:
    """No watches (tests that drive the controller by hand): nothing is ever told."""

    def watch(self, kind: WatchKind, handler: Handler, namespace: str | None) -> Watch:
        return _Idle()


class _Idle:
    def alive(self) -> bool:
        return True

    def stop(self) -> None:
        return None

    def synced(self) -> bool:
        return True
