"""What every judge is given about the step it judges, and the verdict they share
when Prometheus gave no answer.

Pure; used by the judges (``threshold``, ``sequential``) and by ``judges``, which
registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollout.analysis.observations import Unavailable
from rollout.model import Analysis, Evidence, Stage, Verdict


@dataclass(frozen=True)
class Step:
    """The step being judged: its settings, its start, and the judge's own memory."""

    analysis: Analysis
    stage: Stage
    started_at: datetime | None = None
    evidence: Evidence | None = None
    scrape_interval_s: float = 15.0  # Prometheus's, for what increase() may extrapolate
    gate: bool = False  # passing this step sends the canary to 100% (RolloutStatus.gate)


def unavailable(observed: Unavailable, evidence: Evidence | None = None) -> Verdict:
    """No answer from Prometheus: no data, never a pass; a sequential judge's evidence kept."""
    return Verdict(
        outcome="inconclusive",
        at=observed.at,
        no_data=True,
        evidence=evidence,
        reason=f"Prometheus unavailable: {observed.reason}",
    )


__all__ = ["Step", "unavailable"]
