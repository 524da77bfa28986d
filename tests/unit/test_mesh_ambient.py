"""Which data plane serves a service (sidecars, ambient with or without a waypoint), the
reporter to judge it on, and the preflight's refusal of ambient without a waypoint."""

from __future__ import annotations

import pytest

from rollout.mesh.ambient import ambient_problem, data_plane

AMBIENT = {"istio.io/dataplane-mode": "ambient"}


@pytest.mark.parametrize(
    ("namespace", "service", "waypoints", "mode", "reporter"),
    [
        pytest.param({}, {}, (), "sidecar", "destination", id="sidecars"),
        pytest.param(
            {**AMBIENT, "istio.io/use-waypoint": "waypoint"},
            {},
            ("waypoint",),
            "ambient-waypoint",
            "waypoint",
            id="namespace-waypoint",
        ),
        pytest.param(
            AMBIENT,
            {"istio.io/use-waypoint": "inventory-wp"},
            ("inventory-wp",),
            "ambient-waypoint",
            "waypoint",
            id="service-waypoint",
        ),
        pytest.param(
            {**AMBIENT, "istio.io/use-waypoint": "waypoint"},
            {"istio.io/use-waypoint": "none"},
            ("waypoint",),
            "ambient-no-waypoint",
            "destination",
            id="service-opts-out",
        ),
        pytest.param(AMBIENT, {}, (), "ambient-no-waypoint", "destination", id="ztunnel-only"),
        pytest.param(
            AMBIENT,
            {"istio.io/use-waypoint": "gone"},
            (),
            "ambient-no-waypoint",
            "destination",
            id="waypoint-missing",
        ),
    ],
)
def test_data_plane(
    namespace: dict[str, str],
    service: dict[str, str],
    waypoints: tuple[str, ...],
    mode: str,
    reporter: str,
) -> None:
    """Labels decide the mode; the Service's own label wins; a missing waypoint is none."""
    plane = data_plane(namespace, service, waypoints)
    assert (plane.mode, plane.reporter) == (mode, reporter)


def test_ambient_without_a_waypoint_is_refused_saying_what_to_install() -> None:
    """The refusal names the namespace, the service and the command to install one."""
    assert ambient_problem(data_plane({}, {}, ()), "inventory", "shop") is None
    message = ambient_problem(data_plane(AMBIENT, {}, ()), "inventory", "shop")
    assert message is not None
    assert "namespace shop is in ambient mode and no waypoint serves it" in message
    assert "istioctl waypoint apply -n shop --enroll-namespace" in message
    missing = ambient_problem(
        data_plane(AMBIENT, {"istio.io/use-waypoint": "gone"}, ()), "inventory", "shop"
    )
    assert missing is not None
    assert "its waypoint 'gone' does not exist" in missing
