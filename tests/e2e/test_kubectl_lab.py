"""kubectl on the local mesh while the controller works: a watch that sees the weight move,
and a GitOps tool re-applying the VirtualService from git in the middle of a rollout.

The GitOps tool is played by kubectl itself: ``apply --server-side`` with the field
manager Argo CD uses (``argocd-controller``) and ``--force-conflicts``, which is what
Argo CD's ``ServerSideApply=true`` and Flux's kustomize-controller send.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from meshlab.seed import NS, SERVICE
from meshlab.stack import QUICK, LocalStack
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait
from tests.kubectl import Kubectl, kubectl_binary

GITOPS = ("--server-side", "--field-manager=argocd-controller")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(tmp_path_factory.mktemp("lab"), rps=100).up()
    yield mesh
    mesh.down()


@pytest.fixture
def kubectl(lab: LocalStack, tmp_path: Path) -> Kubectl:
    return Kubectl(kubectl_binary(), lab.kubeconfig, tmp_path / "cache")


def weights(lab: LocalStack) -> dict[str, int]:
    """The managed route's weights, as the emulator holds them."""
    assert lab.api is not None
    vs = lab.api.get("networking.istio.io", "v1", "virtualservices", NS, "inventory-route")
    route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")["route"]
    return {e["destination"]["subset"]: int(e.get("weight", 100)) for e in route}


def test_get_mro_watch_shows_the_weight_moving(lab: LocalStack, kubectl: Kubectl) -> None:
    """`kubectl get mro -w` while v2 is promoted: the WEIGHT column goes 5, 25, 50, 100
    and the last line says Succeeded."""
    watch = kubectl.watch("get", "mro", "-w")
    try:
        assert lab.cli("start", "inventory", "v2", *QUICK).returncode == 0
        # The gate step (50%) waits for the judge's evidence: about a minute of the lab's
        # 100 req/s alone, several when the suite's other files share the 2 cores.
        lines = watch.until(lambda seen: any("Succeeded" in line for line in seen), timeout=420)
    finally:
        watch.stop()
    assert lines[0].split() == ["NAME", "PHASE", "WEIGHT", "STEP", "CANARY", "AGE"]
    rows = [line.split() for line in lines[1:] if len(line.split()) == 6]
    seen = [int(row[2]) for row in rows if row[2].isdigit()]
    assert {5, 25, 50, 100} <= set(seen)
    assert seen == sorted(seen), "the weight only goes up on a healthy promotion"
    assert rows[-1][1] == "Succeeded"


def _git_virtual_service(path: Path) -> Path:
    """The VirtualService as the team keeps it in git: v2, the stable version, at 100%."""
    dest = {"host": SERVICE, "port": {"number": 8080}}
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "inventory-route", "namespace": NS},
        "spec": {
            "hosts": [SERVICE],
            "http": [
                {
                    "name": "healthz",
                    "match": [{"uri": {"exact": "/healthz"}}],
                    "route": [{"destination": {**dest, "subset": "v1"}}],
                },
                {
                    "name": "primary",
                    "route": [{"destination": {**dest, "subset": "v2"}, "weight": 100}],
                    "retries": {"attempts": 2},
                    "timeout": "5s",
                },
            ],
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_gitops_reapply_mid_rollout(lab: LocalStack, kubectl: Kubectl, tmp_path: Path) -> None:
    """A GitOps tool re-applies the VirtualService from git while v3 is at its first step:
    without force its apply conflicts with the controller's field manager; with force it
    wins, the controller sees the drift and puts its weights back (onDrift: revert); with
    onDrift: pause it pauses and leaves git's weights alone."""
    git = _git_virtual_service(tmp_path / "vs.yaml")
    lab.fault("v3", error_rate=0.0)
    assert lab.cli("start", "inventory", "v3", *QUICK, "--step-duration", "120s").returncode == 0
    wait(lambda: weights(lab).get("v3") == 5, what="v3 at 5%")

    refused = kubectl.fails("apply", *GITOPS, "-f", str(git))
    assert 'conflict with "meshrollout"' in refused
    assert ".spec.http" in refused

    assert "serverside-applied" in kubectl.ok("apply", *GITOPS, "--force-conflicts", "-f", str(git))
    wait(lambda: weights(lab).get("v3") == 5, timeout=30, what="the controller's weights back")
    decisions = kubectl.ok(
        "get", "mro", "inventory", "-o", "jsonpath={.status.history[*].decision}"
    )
    assert "drift reverted" in decisions
    assert kubectl.ok("get", "mro", "inventory", "-o", "jsonpath={.status.phase}") == "Progressing"

    pause = '{"spec":{"onDrift":"pause"}}'
    kubectl.ok("patch", "mro", "inventory", "--type=merge", "-p", pause)
    kubectl.ok("apply", *GITOPS, "--force-conflicts", "-f", str(git))
    kubectl.ok("wait", "--for=jsonpath={.status.phase}=Paused", "mro/inventory", "--timeout=30s")
    assert kubectl.ok("get", "mro", "inventory", "-o", "jsonpath={.status.pauseReason}") == "drift"
    time.sleep(2)
    assert weights(lab) == {"v2": 100}, "paused on drift: git's weights are left alone"
    assert lab.cli("abort", "inventory").returncode == 0
    wait(lambda: lab.status().get("phase") == "RolledBack", timeout=30, what="abort", lab=lab)
