"""The ambient-mode preflight: the data plane's findings as a table, and the reconciler
refusing an ambient service without a waypoint before the first weight change."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.engine.preflight import data_plane_findings
from rollout.kube.errors import Forbidden
from rollout.kube.workloads import WorkloadClient
from rollout.mesh.ambient import DataPlane
from rollout.model import parse_spec
from tests.unit.test_reconcile import World

SIDECAR = DataPlane("sidecar")
WAYPOINT = DataPlane("ambient-waypoint", "shop-waypoint")
NO_WAYPOINT = DataPlane("ambient-no-waypoint")
MISSING = DataPlane("ambient-no-waypoint", "gone")
ROUTE = {
    "name": "inventory-route",
    "stableService": "inventory-v1",
    "canaryService": "inventory-v2",
}


def _spec(**route: Any) -> Any:
    body: dict[str, Any] = {"service": "inventory-service", "stableSubset": "v1"}
    body["canarySubset"] = "v2"
    if route:
        body["httpRoute"] = {**ROUTE, **route}
    return parse_spec(body)


@pytest.mark.parametrize(
    ("route", "plane", "blocks", "warns"),
    [
        ({}, SIDECAR, None, None),
        ({"reporter": "destination"}, SIDECAR, None, None),
        ({"reporter": "waypoint"}, WAYPOINT, None, None),
        ({}, NO_WAYPOINT, "no waypoint serves it", None),
        ({"reporter": "waypoint"}, NO_WAYPOINT, "istioctl waypoint apply -n shop", None),
        ({}, MISSING, "its waypoint 'gone' does not exist", None),
        ({"reporter": "destination"}, WAYPOINT, "set spec.httpRoute.reporter: waypoint", None),
        ({}, WAYPOINT, "describe it with an HTTPRoute", None),
        ({"reporter": "waypoint"}, SIDECAR, "set spec.httpRoute.reporter: destination", None),
        ({}, None, None, "cannot tell whether inventory-service runs in ambient mode"),
    ],
)
def test_the_data_plane_preflight(
    route: dict[str, str], plane: DataPlane | None, blocks: str | None, warns: str | None
) -> None:
    """Each row: the route's reporter (none: a VirtualService rollout), the data plane seen
    (None: unreadable), and what blocks the start or is only said."""
    problem, warning = data_plane_findings(
        _spec(**route), "shop", plane, "Namespace shop is not readable"
    )
    assert (problem is None) == (blocks is None)
    assert (warning is None) == (warns is None)
    if blocks is not None:
        assert problem is not None
        assert blocks in problem
        assert problem.startswith("preflight: ")
    if warns is not None:
        assert warning is not None
        assert warns in warning
        assert "not readable" in warning


def test_an_ambient_namespace_without_a_waypoint_is_refused_before_any_weight() -> None:
    """The reconciler asks the data plane before the first weight change: Failed, the
    message says what to install, and the VirtualService still sends all to v1."""
    w = World()
    w.workloads.plane = NO_WAYPOINT
    w.run()
    assert (w.status().phase, w.weights()) == ("Failed", [("v1", None)])
    assert "Install a waypoint (istioctl waypoint apply -n shop" in w.status().message


def test_an_unreadable_namespace_starts_with_a_warning() -> None:
    """A Namespace the controller may not read: the run starts, and the preflight says it
    cannot tell (a PreflightClean=False condition), never crashing."""
    w = World()
    w.workloads.plane = None
    w.run()
    status = w.status()
    assert status.phase == "Progressing"
    clean = status.condition("PreflightClean")
    assert clean is not None
    assert "cannot tell whether inventory-service runs in ambient mode" in clean.message


class _Forbidding:
    """A KubeClient stand-in whose every read is forbidden (as a Role without the grant)."""

    def get(self, *args: object) -> Any:
        raise Forbidden('namespaces "shop" is forbidden')

    def list(self, *args: object) -> Any:
        raise Forbidden("services is forbidden")


class _Ambient(_Forbidding):
    """The Namespace is readable and in ambient mode; its Services are not."""

    def get(self, *args: object) -> Any:
        return {"metadata": {"labels": {"istio.io/dataplane-mode": "ambient"}}}


@pytest.mark.parametrize(
    ("kube", "why"),
    [
        (_Forbidding(), "Namespace shop is not readable"),
        (_Ambient(), "the Services of namespace shop are not readable"),
    ],
)
def test_a_forbidden_read_says_it_cannot_tell(kube: Any, why: str) -> None:
    """Forbidden reads never crash the preflight: no data plane, and which read failed."""
    assert WorkloadClient(kube).data_plane("shop", "inventory-service") == (None, why)
