"""The ambient-mode preflight over real HTTP, on the emulator: ``WorkloadClient.data_plane``
reads the Namespace's and the Service's labels, and the controller refuses a rollout in
an ambient namespace without a waypoint (saying what to install) and starts one whose
Service names its waypoint (``istio.io/use-waypoint``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from meshlab.kubeapi import KubeAPI
from meshlab.seed import seed_documents, seed_httproute
from rollout.analysis.prometheus import PrometheusSource
from rollout.controller.ports import NoNotifier
from rollout.controller.settings import Settings
from rollout.controller.wiring import connect
from rollout.kube import KubeClient, WorkloadClient
from rollout.kube.resources import NAMESPACES, ROLLOUTS, SERVICES
from tests.integration.test_controller_boundary import SteadySource

NS = "mesh-ambient"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KubeClient]:
    """The emulator with the seed's VirtualService story and its HTTPRoute story in a
    Namespace labelled for ambient mode, no waypoint named anywhere yet."""
    api = KubeAPI.start()
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", NS)
    kube = KubeClient.connect(str(kubeconfig), identity="test")
    labels = {"istio.io/dataplane-mode": "ambient"}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}}
    kube.create(NAMESPACES, None, ns)
    seed_documents(api, NS)
    seed_httproute(api, NS)
    yield kube
    api.stop()


def test_the_data_plane_is_read_from_the_labels(world: KubeClient) -> None:
    """Ambient without a waypoint; the Service naming one; the namespace naming one; and
    a namespace no longer in ambient mode is served by sidecars."""
    client = WorkloadClient(world)

    def seen(service: str) -> tuple[str, str | None]:
        plane, why = client.data_plane(NS, service)
        assert plane is not None, why
        assert why == ""
        return plane.mode, plane.waypoint

    assert seen("inventory-service") == ("ambient-no-waypoint", None)
    world.patch(
        SERVICES,
        NS,
        "inventory-service",
        {"metadata": {"labels": {"istio.io/use-waypoint": "svc-waypoint"}}},
    )
    assert seen("inventory-service") == ("ambient-waypoint", "svc-waypoint")
    assert seen("inventory-v2") == ("ambient-no-waypoint", None)  # no label of its own
    world.patch(NAMESPACES, None, NS, {"metadata": {"labels": {"istio.io/use-waypoint": "ns-wp"}}})
    assert seen("inventory-v2") == ("ambient-waypoint", "ns-wp")  # the namespace's label
    world.patch(NAMESPACES, None, NS, {"metadata": {"labels": {"istio.io/dataplane-mode": None}}})
    assert seen("inventory-service") == ("sidecar", None)


def test_a_missing_namespace_is_said_not_guessed(world: KubeClient) -> None:
    """A Namespace that cannot be read: no data plane, and why."""
    plane, why = WorkloadClient(world).data_plane("nowhere", "inventory-service")
    assert plane is None
    assert why == "Namespace nowhere is not found"


def _status(kube: KubeClient, name: str) -> dict[str, Any]:
    return kube.get(ROLLOUTS, NS, name).get("status") or {}


def _wait(what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _rollout(kube: KubeClient, name: str, **spec: Any) -> None:
    body = {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": {"steps": [50, 100], "stepDuration": "1h"},
            **spec,
        },
    }
    kube.create(ROLLOUTS, NS, body)


def test_the_controller_refuses_ambient_without_a_waypoint_and_starts_with_one(
    world: KubeClient,
) -> None:
    """No waypoint: Failed before any weight, the message saying what to install. The
    Service labelled with its waypoint and the HTTPRoute judged on reporter=waypoint: the
    run starts (Progressing, the canary's first weight on the HTTPRoute)."""
    settings = Settings(leader_election=False, tick_s=0.1, resync_s=1, metrics_port=0)
    source = cast(PrometheusSource, SteadySource())
    controller = connect(settings, world, source, notifier=NoNotifier()).start()
    route = {
        "name": "inventory-route",
        "stableService": "inventory-v1",
        "canaryService": "inventory-v2",
        "reporter": "waypoint",
    }
    try:
        _rollout(world, "refused", httpRoute=route)
        _wait("the refusal", lambda: _status(world, "refused").get("phase") == "Failed")
        message = _status(world, "refused").get("message") or ""
        assert "ambient mode and no waypoint serves it" in message
        assert f"istioctl waypoint apply -n {NS} --enroll-namespace" in message
        assert not _status(world, "refused").get("canaryWeight")
        world.patch(
            SERVICES,
            NS,
            "inventory-service",
            {"metadata": {"labels": {"istio.io/use-waypoint": "waypoint"}}},
        )
        _rollout(world, "allowed", httpRoute=route)
        _wait("the start", lambda: _status(world, "allowed").get("phase") == "Progressing")
    finally:
        controller.stop()
