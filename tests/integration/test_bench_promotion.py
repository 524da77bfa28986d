"""``python -m bench judge --promotion-table``: ours' time to full promotion against traffic
and ``spec.analysis`` overrides, as a markdown table for the README."""

from __future__ import annotations

import pytest

from bench.judge.promotion import default_overrides, label, markdown, measure
from bench.judge.scenarios import by_name
from rollout.model import SpecError


def test_a_table_of_promotion_times_per_traffic_and_override() -> None:
    """A row per traffic level, a column per set of overrides, a time or "never" in each;
    a looser bound never makes a healthy canary's promotion slower here."""
    traffic = tuple(by_name(("aa_1000rps",)))
    loosest = {"mustCatch": {"errors": 3.0, "slowRequests": 4.0}}
    overrides = [{}, loosest]
    figures = measure(4, overrides, traffic, workers=1)
    assert list(figures["aa_1000rps"]) == ["defaults", label(loosest)]
    strict, loose = (figures["aa_1000rps"][label(o)] for o in overrides)
    assert strict["median_time_to_promotion_s"] is not None
    assert loose["median_time_to_promotion_s"] <= strict["median_time_to_promotion_s"]
    table = markdown(figures, 4)
    assert f"| traffic | defaults | {label(loosest)} |" in table
    assert "| 1000 req/s | " in table
    assert "(0.0%)" in table


def test_an_override_the_spec_does_not_know_is_refused() -> None:
    """Overrides go through the spec's validation: a typo is an error, not a silent default."""
    with pytest.raises(SpecError, match="mustCatchh"):
        measure(1, [{"mustCatchh": 2}], tuple(by_name(("aa_1000rps",))), workers=1)


def test_the_default_columns_start_with_the_defaults() -> None:
    """The first column is the spec's defaults; the others loosen the regression bound."""
    columns = default_overrides()
    assert columns[0] == {}
    assert len(columns) >= 2
