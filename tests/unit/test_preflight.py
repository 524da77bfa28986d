"""The preflight's mTLS decision as a table: the stricter mode wins, and what is seen
blocks, warns or passes."""

from __future__ import annotations

import pytest

from rollout.engine.preflight import MtlsMode, autoscaling_problem, mtls_findings, mtls_mode
from rollout.mesh.mtls import MtlsReport
from rollout.model import RolloutSpec, parse_spec
from rollout.model.workloads import Autoscaler, DeploymentView

PERMISSIVE = MtlsReport("PERMISSIVE", False, ("namespace shop has no PeerAuthentication",))
STRICT = MtlsReport("STRICT", True)


@pytest.mark.parametrize(
    ("asked", "floor", "report", "blocks", "warns"),
    [
        ("off", "off", PERMISSIVE, None, None),
        ("warn", "off", PERMISSIVE, None, "plain text is accepted"),
        ("off", "warn", PERMISSIVE, None, "plain text is accepted"),
        ("block", "off", PERMISSIVE, "spec.preflight.mtls requires STRICT", None),
        ("warn", "block", PERMISSIVE, "the platform requires STRICT", None),
        ("block", "block", STRICT, None, None),
        ("warn", "warn", STRICT, None, None),
    ],
)
def test_the_mtls_preflight(
    asked: MtlsMode, floor: MtlsMode, report: MtlsReport, blocks: str | None, warns: str | None
) -> None:
    """Each row: the rollout's mode, the platform's floor, what the mesh allows."""
    problem, warning = mtls_findings(mtls_mode(asked, floor), asked, report)
    assert (problem is None) == (blocks is None)
    assert (warning is None) == (warns is None)
    if blocks is not None:
        assert problem is not None
        assert blocks in problem
    if warns is not None:
        assert warning is not None
        assert warns in warning
        assert "no PeerAuthentication" in warning


def _spec(percent: int, vouched: bool = False) -> RolloutSpec:
    return parse_spec(
        {
            "service": "inventory-service",
            "stableSubset": "v1",
            "canarySubset": "v2",
            "onRegression": {
                "targetAutoscales": vouched,
                "outlierDetection": {"maxEjectionPercent": percent},
            },
        }
    )


HPA = Autoscaler("inventory-v2", 2, 10)


@pytest.mark.parametrize(
    ("percent", "vouched", "canary", "refused"),
    [
        (50, False, (), None),
        (80, False, (DeploymentView("inventory-v2", 3, autoscaler=HPA),), None),
        (80, True, (DeploymentView("inventory-v2", 3),), None),
        (80, False, (DeploymentView("inventory-v2", 3),), "Deployment inventory-v2:"),
        (
            100,
            False,
            (DeploymentView("a", 1, autoscaler=HPA), DeploymentView("b", 1)),
            "Deployment b:",
        ),
        (100, False, (), "of subset v2 (none found)"),
    ],
)
def test_ejecting_more_than_half_needs_an_autoscaler(
    percent: int, vouched: bool, canary: tuple[DeploymentView, ...], refused: str | None
) -> None:
    """Above 50%, every canary Deployment needs an HPA (or the spec vouches for autoscaling);
    the refusal names the Deployment without one."""
    problem = autoscaling_problem(_spec(percent, vouched), canary)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None
        assert refused in problem
        assert "HorizontalPodAutoscaler" in problem
