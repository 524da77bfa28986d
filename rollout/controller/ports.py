"""The controller's ports: each I/O concern behind a small interface.

The Kubernetes adapter (``rollout.kube``) implements them for real; tests of
the service use the fakes in ``rollout.controller.fakes``. Notifications have a
do-nothing implementation until a notifier is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rollout.kube.workloads import Readiness
from rollout.mesh.istio import MeshDocs
from rollout.mesh.mtls import MtlsReport
from rollout.model import PendingEffect

Doc = dict[str, Any]


class Rollouts(Protocol):
    """Our resources: read one, replace its status (409 when stale)."""

    def get(self, namespace: str, name: str) -> Doc: ...

    def write_status(self, rollout: Doc, status: Doc) -> Doc: ...


class Mesh(Protocol):
    """A service's VirtualService and DestinationRule."""

    def find_virtual_service(self, namespace: str, host: str, name: str | None = None) -> Doc: ...

    def find_destination_rule(self, namespace: str, host: str, name: str | None = None) -> Doc: ...

    def update(
        self,
        namespace: str,
        vs_name: str,
        dr_name: str,
        transform: Callable[[MeshDocs], MeshDocs],
        current: MeshDocs | None = None,
    ) -> MeshDocs: ...


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


class NoNotifier:
    """The do-nothing notifier: no channel configured."""

    def notify(self, rollout: Doc, effect: PendingEffect) -> bool:
        return True

    def thread(self, rollout: Doc) -> str | None:
        return None

    def problem(self, rollout: Doc) -> str | None:
        return None


class AlwaysLeader:
    """The fence of a single replica without leader election."""

    def fence(self) -> None:
        return None
