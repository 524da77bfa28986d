"""Tightening the canary subset's outlier detection, and restoring what it replaced."""

from __future__ import annotations

import pytest

from rollout.mesh import (
    REPLACED_ANNOTATION,
    MeshError,
    Target,
    outlier_detection,
    replaced_outlier_detection,
    restore,
    tighten,
)
from tests.unit.istio import HOST, Doc, destination_rule, with_outlier

TARGET = Target(HOST, "v1", "v2", namespace="shop")
TIGHT = {
    "consecutive5xxErrors": 1,
    "interval": "1s",
    "baseEjectionTime": "5m",
    "maxEjectionPercent": 50,
}
LOOSE = {"consecutive5xxErrors": 7, "interval": "30s", "consecutiveGatewayErrors": 5}


@pytest.mark.parametrize(
    ("dr", "replaced", "after"),
    [
        pytest.param(destination_rule(), None, TIGHT, id="subset-without-its-own"),
        pytest.param(
            with_outlier(destination_rule(), "v2", LOOSE),
            LOOSE,
            {**LOOSE, **TIGHT},
            id="subset-with-its-own-keeps-other-fields",
        ),
    ],
)
def test_tighten_then_restore(dr: Doc, replaced: Doc | None, after: Doc) -> None:
    """Tightening sets the canary's settings and saves the old; restore puts them back."""
    tight = tighten(dr, TARGET, TIGHT)
    assert outlier_detection(tight, "v2") == after
    assert replaced_outlier_detection(tight, "v2") == replaced
    assert outlier_detection(tight, "v1") == outlier_detection(dr, "v1")
    assert tight["spec"]["trafficPolicy"] == dr["spec"]["trafficPolicy"]
    assert restore(tight, TARGET) == dr


def test_tightening_twice_keeps_the_first_original() -> None:
    """A controller that tightens again after a crash does not lose the original settings."""
    dr = with_outlier(destination_rule(), "v2", LOOSE)
    once = tighten(dr, TARGET, TIGHT)
    twice = tighten(once, TARGET, TIGHT)
    assert twice == once
    assert restore(twice, TARGET) == dr


def test_restore_without_tightening_changes_nothing() -> None:
    """Restoring a rule that was never tightened is a no-op, so it can run every reconcile."""
    dr = with_outlier(destination_rule(), "v2", LOOSE)
    assert restore(dr, TARGET) == dr


def test_saved_settings_live_in_an_annotation() -> None:
    """The replaced settings travel with the DestinationRule, keyed by subset."""
    tight = tighten(destination_rule(), TARGET, TIGHT)
    assert REPLACED_ANNOTATION in tight["metadata"]["annotations"]
    assert restore(tight, TARGET)["metadata"] == destination_rule()["metadata"]


def test_two_canaries_are_saved_and_restored_separately() -> None:
    """Tightening v2 then v3 keeps both originals; restoring one leaves the other tightened."""
    dr = with_outlier(destination_rule("v1", "v2", "v3"), "v3", LOOSE)
    v3 = Target(HOST, "v1", "v3")
    both = tighten(tighten(dr, TARGET, TIGHT), v3, TIGHT)
    only_v3 = restore(both, TARGET)
    assert outlier_detection(only_v3, "v2") is None
    assert outlier_detection(only_v3, "v3") == {**LOOSE, **TIGHT}
    assert restore(only_v3, v3) == dr


def test_missing_canary_subset_is_an_error() -> None:
    """Tightening a subset the rule does not have names the field, changes nothing."""
    dr = destination_rule("v1")
    with pytest.raises(MeshError) as caught:
        tighten(dr, TARGET, TIGHT)
    assert caught.value.fields == ["DestinationRule.spec.subsets"]
    assert dr == destination_rule("v1")
