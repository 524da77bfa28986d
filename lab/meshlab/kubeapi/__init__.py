"""A Kubernetes API emulator that the unmodified ``kubernetes`` client talks to.

No API server can be installed on our machines, so tests and the demo run
against this one. It is faithful where the controller's correctness depends on
it (see ``store``): resourceVersion and 409 on stale writes, generation, merge
and JSON patch, the status subresource, watch resume and 410, label
selectors, CRD schema validation (422), Leases and Events; plus fault
injection and an audit log for tests (``faults``). kubectl is its conformance
client: aggregated discovery (``discovery``), protobuf bodies (``protobuf``),
Tables (``table``), OpenAPI v3 (``openapi``), server-side apply and
managedFields (``apply``), dry run and field validation (``verbs``).

    api = KubeAPI.start()                 # in a background thread, free port
    api.write_kubeconfig(path)            # for the client, kubectl or the CLI
    api.faults.set(error_rate=0.2, latency_ms=200)
    api.audit.entries()
    api.stop()
"""

from meshlab.kubeapi.faults import AuditEntry, Faults
from meshlab.kubeapi.registry import ResourceType, default_types
from meshlab.kubeapi.server import KubeAPI
from meshlab.kubeapi.store import ApiError, merge_patch

__all__ = [
    "ApiError",
    "AuditEntry",
    "Faults",
    "KubeAPI",
    "ResourceType",
    "default_types",
    "merge_patch",
]
