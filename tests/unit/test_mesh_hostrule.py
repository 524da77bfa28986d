"""Outlier tightening for the canary's own Service host (HTTPRoute canaries have no subset):
the user's DestinationRule patched and restored exactly, or ours created and deleted."""

from __future__ import annotations

import copy
from typing import Any

from rollout.mesh.gatewayapi import CREATED_LABEL, find_host_rule, ours
from rollout.mesh.hostrule import restore_host, tighten_host
from rollout.model import OnRegression

Doc = dict[str, Any]
TIGHT = OnRegression().outlier_detection.wire()


def users_rule(outlier: Doc | None = None) -> Doc:
    policy: Doc = {"connectionPool": {"http": {"http1MaxPendingRequests": 100}}}
    if outlier is not None:
        policy["outlierDetection"] = outlier
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "inventory-v2", "namespace": "shop"},
        "spec": {"host": "inventory-v2.shop.svc.cluster.local", "trafficPolicy": policy},
    }


def test_no_rule_creates_ours_and_restoring_deletes_it() -> None:
    """Without a rule for the host: ours, labelled, with the seed's settings (50% at most)."""
    created = tighten_host(None, "inventory-v2", "shop", TIGHT)
    assert ours(created)
    assert created["metadata"]["labels"] == {CREATED_LABEL: "inventory-v2"}
    assert created["spec"] == {"host": "inventory-v2", "trafficPolicy": {"outlierDetection": TIGHT}}
    assert TIGHT["maxEjectionPercent"] == 50
    assert restore_host(created) is None
    assert tighten_host(created, "inventory-v2", "shop", TIGHT) == created


def test_the_users_rule_is_patched_and_restored_exactly() -> None:
    """With or without outlier detection of its own, the user's rule comes back as it was;
    tightening twice keeps the first original."""
    for before in (users_rule(), users_rule({"consecutive5xxErrors": 7, "interval": "30s"})):
        tight = tighten_host(before, "inventory-v2", "shop", TIGHT)
        assert tight["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 1
        assert (
            tight["spec"]["trafficPolicy"]["connectionPool"]
            == before["spec"]["trafficPolicy"]["connectionPool"]
        )
        twice = tighten_host(tight, "inventory-v2", "shop", TIGHT)
        assert twice == tight
        assert restore_host(twice) == before
    untouched = users_rule()
    assert restore_host(copy.deepcopy(untouched)) == untouched


def test_the_host_rule_is_found_by_host_ours_first() -> None:
    """Short or qualified host; a rule of ours wins over the user's; another host is not it."""
    other = {**users_rule(), "spec": {"host": "cart"}}
    created = tighten_host(None, "inventory-v2", "shop", TIGHT)
    assert find_host_rule([other, users_rule()], "inventory-v2", "shop") == users_rule()
    assert find_host_rule([users_rule(), created], "inventory-v2", "shop") == created
    assert find_host_rule([other], "inventory-v2", "shop") is None
