"""What the preflight decides before a run's first weight change: how strict the mTLS
check is, and whether what the mesh allows blocks the start or is only said.

Pure; the reconciler reads the PeerAuthentications (only when the mode is not ``off``)
and hands the engine the problem or the warning this module returns.
"""

from __future__ import annotations

from typing import Literal

from rollout.mesh.mtls import MtlsReport

MtlsMode = Literal["off", "warn", "block"]
STRICTNESS: tuple[MtlsMode, ...] = ("off", "warn", "block")


def mtls_mode(asked: MtlsMode, floor: MtlsMode) -> MtlsMode:
    """The stricter of the rollout's ``spec.preflight.mtls`` and the platform's floor.

    >>> mtls_mode("off", "warn"), mtls_mode("block", "warn"), mtls_mode("warn", "off")
    ('warn', 'block', 'warn')
    """
    return max(asked, floor, key=STRICTNESS.index)


def mtls_findings(
    mode: MtlsMode, asked: MtlsMode, report: MtlsReport
) -> tuple[str | None, str | None]:
    """(a problem that blocks the start, a warning that does not), from what was seen."""
    if mode == "off" or report.strict:
        return None, None
    seen = f"mTLS is {report.mode or 'PERMISSIVE (unset)'}: {report.message}"
    if mode == "block":
        why = "spec.preflight.mtls" if asked == "block" else "the platform"
        return f"preflight: {seen}; {why} requires STRICT", None
    return None, f"plain text is accepted ({seen})"


__all__ = ["STRICTNESS", "MtlsMode", "mtls_findings", "mtls_mode"]
