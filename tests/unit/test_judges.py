"""The judges a spec can name are exactly the judges registered."""

from __future__ import annotations

import typing

from rollout.analysis.judges import JUDGES
from rollout.model import Analysis


def test_the_model_offers_exactly_the_registered_judges() -> None:
    """A judge registered but not offered (or offered but not registered) fails here, not
    as an EvaluationFailed at run time."""
    annotation = Analysis.model_fields["judge"].annotation
    assert set(typing.get_args(annotation)) == set(JUDGES)
