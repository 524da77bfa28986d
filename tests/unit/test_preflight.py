"""The preflight's mTLS decision as a table: the stricter mode wins, and what is seen
blocks, warns or passes."""

from __future__ import annotations

import pytest

from rollout.engine.preflight import MtlsMode, mtls_findings, mtls_mode
from rollout.mesh.mtls import MtlsReport

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
