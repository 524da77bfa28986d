"""Where the integration suite runs: the Kubernetes API emulator, or a real cluster.

By default every test talks to a :class:`~meshlab.kubeapi.KubeAPI` started
for the session, over real HTTP, through the unmodified ``kubernetes`` client.
With ``ROLLOUT_TEST_KUBECONFIG`` set, the same tests run against that cluster
instead (it needs our CRD, from ``charts/rollout/crds/``, and Istio's CRDs);
tests of emulator-only features (fault injection, the audit log) then skip,
saying why. Each test gets a namespace of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from meshlab.kubeapi import AuditEntry, KubeAPI
from rollout.kube import KubeClient

REAL_KUBECONFIG = os.environ.get("ROLLOUT_TEST_KUBECONFIG")


@dataclass
class Cluster:
    """One test's view of the cluster: a kubeconfig, a namespace, and the emulator if any."""

    kubeconfig: Path
    namespace: str
    api: KubeAPI | None

    def kube(self, identity: str = "test", **kwargs: object) -> KubeClient:
        """Our adapter's client, acting as ``identity``."""
        return KubeClient.connect(str(self.kubeconfig), identity=identity, **kwargs)  # type: ignore[arg-type]

    def official(self) -> k8s.ApiClient:
        """The official client, configured from the same kubeconfig."""
        api: k8s.ApiClient = k8s_config.new_client_from_config(config_file=str(self.kubeconfig))
        return api

    @property
    def emulator(self) -> KubeAPI:
        """The emulator, for tests of what only it offers (faults, audit)."""
        return self.require_emulator("needs the emulator's fault injection or audit log")

    def require_emulator(self, why: str) -> KubeAPI:
        """Skip (saying why) when the suite runs against a real cluster."""
        if self.api is None:
            pytest.skip(f"emulator only: {why}")
        return self.api

    def writes(self, resource: str | None = None, user: str | None = None) -> list[AuditEntry]:
        """Audit entries of writes in this test's namespace."""
        return [
            e
            for e in self.emulator.audit.entries()
            if e.namespace == self.namespace
            and (resource is None or e.resource == resource)
            and (user is None or user in e.user)
        ]


@pytest.fixture(scope="session")
def lab_api() -> Iterator[KubeAPI | None]:
    if REAL_KUBECONFIG:
        yield None
        return
    api = KubeAPI.start()
    yield api
    api.stop()


@pytest.fixture
def cluster(lab_api: KubeAPI | None, tmp_path: Path) -> Iterator[Cluster]:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    if lab_api is None:
        assert REAL_KUBECONFIG is not None
        kubeconfig = Path(REAL_KUBECONFIG)
        core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=REAL_KUBECONFIG))
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    else:
        kubeconfig = lab_api.write_kubeconfig(tmp_path / "kubeconfig", namespace)
    yield Cluster(kubeconfig, namespace, lab_api)
    if lab_api is None:
        core.delete_namespace(namespace)
    else:
        lab_api.faults.clear()
