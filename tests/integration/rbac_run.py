"""Drive the real controller (in process) through every path that talks to the API,
against the emulator with reads audited, and report the calls it made.

Used by the chart's RBAC test: what the chart grants must equal what this records.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshlab.kubeapi import KubeAPI
from meshlab.kubeapi.deployments import DeploymentController
from meshlab.prometheus import free_port
from meshlab.seed import NS, seed_documents, seed_httproute
from rollout.analysis.prometheus import PrometheusSource
from rollout.controller.fakes import evaluation
from rollout.controller.settings import Settings
from rollout.controller.wiring import connect
from rollout.kube import KubeClient

IDENTITY = "rbac-probe"


def _api_group(resource_key: str) -> tuple[str, str]:
    plural, _, group = resource_key.partition(".")
    return group, plural


def run_controller_and_record() -> set[tuple[str, str, str]]:
    api = KubeAPI.start()
    api.audit.reads = True
    pods = DeploymentController(api, ready_after_s=0.2).start()
    try:
        seed_documents(api)
        kubeconfig = api.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig", NS)
        settings = Settings(
            kubeconfig=str(kubeconfig),
            identity=IDENTITY,
            lease_namespace=NS,
            tick_s=0.2,
            lease_duration_s=3,
            renew_deadline_s=2,
            retry_period_s=0.5,
            prometheus_url=f"http://127.0.0.1:{free_port()}",
            metrics_port=0,
        )
        kube = KubeClient.connect(str(kubeconfig), identity=IDENTITY)
        controller = connect(
            settings, kube, PrometheusSource(settings.prometheus_url, timeout_s=0.2, retries=0)
        )
        controller.start()
        rollouts = api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
        assert rollouts is not None
        spec = {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "virtualService": "inventory-route",
            "destinationRule": "inventory-dr",
            "preflight": {"mtls": "block"},
        }
        api.store.create(rollouts, NS, {"metadata": {"name": "probe"}, "spec": spec})

        def status() -> dict[str, object]:
            return api.store.get(rollouts, NS, "probe").get("status") or {}

        def command(name: str) -> None:
            api.store.update(
                rollouts,
                NS,
                "probe",
                lambda d: {
                    **d,
                    "spec": {
                        **d["spec"],
                        "command": {"name": name, "id": f"{name}-{time.monotonic()}"},
                    },
                },
            )

        _wait(lambda: status().get("phase") == "Progressing")
        # Reconciles read the watch cache; GETs are for recovering from a 409 (a cache
        # behind the server): half the controller's writes refused while it promotes.
        api.faults.set(conflict_rate=0.5, users=[IDENTITY], seed=7)
        command("promote")
        _wait(lambda: status().get("canaryWeight") == 25)
        # And the mesh's documents: a 409 on the VirtualService makes the controller read
        # it and its DestinationRule from the server (refused until it has).
        api.faults.set(conflict_rate=1.0, resources=["virtualservices"])
        command("abort")  # a rollback: VirtualService patched back
        _wait(lambda: {"virtualservices", "destinationrules"} <= _read_by_us(api))
        api.faults.clear()
        _wait(lambda: status().get("phase") == "RolledBack" and not status().get("outbox"))
        # A regression path tightens the DestinationRule: a second rollout to v3.
        api.store.update(
            rollouts,
            NS,
            "probe",
            lambda d: {**d, "spec": {**d["spec"], "canarySubset": "v3", "command": None}},
        )
        _wait(  # the step's clock starts once the mesh carries it, a reconcile later
            lambda: (
                status().get("canarySubset") == "v3"
                and status().get("phase") == "Progressing"
                and status().get("stepStartedAt") is not None
            )
        )
        started = datetime.fromisoformat(str(status()["stepStartedAt"]))
        controller.queue.put((NS, "probe"), evaluation("fail", datetime.now(UTC), started))
        _wait(
            lambda: (
                status().get("phase") == "RolledBack"
                and not status().get("outbox")
                and status().get("replacedOutlierDetection") is None
                and status().get("outlierTightened") is True
            )
        )
        # A release that succeeds: the old version scaled down (Deployments, HPAs), then undone.
        api.store.update(
            rollouts,
            NS,
            "probe",
            lambda d: {
                **d,
                "spec": {
                    **d["spec"],
                    "canarySubset": "v2",
                    "afterSuccess": {"scaleDown": {"after": "1s"}},
                    "command": None,
                },
            },
        )
        _wait(
            lambda: status().get("canarySubset") == "v2" and status().get("phase") == "Progressing"
        )
        command("promoteFull")

        def scaled_down() -> bool:
            previous = status().get("previous")
            return isinstance(previous, dict) and previous.get("scaledDown") is True

        _wait(scaled_down)
        command("undo")
        _wait(lambda: status().get("phase") == "Undone" and not status().get("outbox"))

        _gateway_scenario(api, controller)
        controller.stop()
        calls = set()
        for entry in api.audit.entries():
            if entry.user != IDENTITY:
                continue
            group, plural = _api_group(entry.resource)
            resource = f"{plural}/{entry.subresource}" if entry.subresource else plural
            calls.add((group, resource, entry.verb))
        return calls
    finally:
        pods.stop()
        api.stop()


def _gateway_scenario(api: KubeAPI, controller: Any) -> None:
    """An HTTPRoute rollout: weights patched on the HTTPRoute, a regression creating the
    canary Service's host rule, a restart deleting it (Services listed throughout)."""
    seed_httproute(api)
    rollouts = api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
    assert rollouts is not None
    spec = {
        "service": "inventory-service",
        "stableSubset": "v1",
        "canarySubset": "v2",
        "httpRoute": {
            "name": "inventory-route",
            "stableService": "inventory-v1",
            "canaryService": "inventory-v2",
        },
    }
    api.store.create(rollouts, NS, {"metadata": {"name": "probe-gw"}, "spec": spec})

    def status() -> dict[str, Any]:
        return api.store.get(rollouts, NS, "probe-gw").get("status") or {}

    _wait(lambda: status().get("phase") == "Progressing" and status().get("stepStartedAt"))
    started = datetime.fromisoformat(str(status()["stepStartedAt"]))
    controller.queue.put((NS, "probe-gw"), evaluation("fail", datetime.now(UTC), started))
    _wait(lambda: status().get("phase") == "RolledBack" and status().get("outlierTightened"))
    rules = api.registry.find("networking.istio.io", "v1", "destinationrules")
    assert rules is not None
    ours = "inventory-v2-meshrollout-outlier"
    _wait(lambda: any(r["metadata"]["name"] == ours for r in api.store.list(rules, NS, bool)[0]))
    api.store.update(
        rollouts,
        NS,
        "probe-gw",
        lambda d: {**d, "spec": {**d["spec"], "command": {"name": "restart", "id": "again"}}},
    )
    _wait(lambda: all(r["metadata"]["name"] != ours for r in api.store.list(rules, NS, bool)[0]))


def _read_by_us(api: Any) -> set[str]:
    """The resource types the controller has read one object of (GET) so far."""
    return {
        _api_group(e.resource)[1]
        for e in api.audit.entries()
        if e.user == IDENTITY and e.verb == "get"
    }


def _wait(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out at {datetime.now(UTC)}")
        time.sleep(0.05)
