"""The Kubernetes adapter: how we talk to the API server, and nothing else.

``KubeClient`` (any resource as dicts, retries, error translation), and one
client per concern: ``RoutingClient`` (VirtualService/DestinationRule with
preconditions), ``RolloutClient`` (our resource and its status),
``WorkloadClient`` (canary readiness, the pods' mTLS as ``MtlsReport``), ``EventRecorder``
(exactly-once Events), ``Watcher`` (list + watch + relist on 410) and
``LeaderElector`` (a Lease with a fence for writers). Errors are ours:
``NotFound``, ``Conflict``, ``Invalid``, ``Unavailable``, ``Forbidden``.
"""

from rollout.kube.client import KubeClient, Resource, RetryPolicy
from rollout.kube.errors import Conflict, Forbidden, Invalid, KubeError, NotFound, Unavailable
from rollout.kube.events import EventRecorder
from rollout.kube.leader import LeaderElector, LeaseTiming, NotLeader
from rollout.kube.rollouts import RolloutClient
from rollout.kube.routing import RoutingClient, merge_diff
from rollout.kube.watch import Watcher
from rollout.kube.workloads import Readiness, WorkloadClient
from rollout.mesh.istio import MeshDocs
from rollout.mesh.mtls import MtlsReport

__all__ = [
    "Conflict",
    "EventRecorder",
    "Forbidden",
    "Invalid",
    "KubeClient",
    "KubeError",
    "LeaderElector",
    "LeaseTiming",
    "MeshDocs",
    "MtlsReport",
    "NotFound",
    "NotLeader",
    "Readiness",
    "Resource",
    "RetryPolicy",
    "RolloutClient",
    "RoutingClient",
    "Unavailable",
    "Watcher",
    "WorkloadClient",
    "merge_diff",
]
