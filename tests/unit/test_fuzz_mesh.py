"""Fuzzing the mesh transforms with documents a cluster may hold: whatever a
VirtualService or DestinationRule looks like, validation answers with a MeshError
naming fields (never another exception), and what it accepts, every transform takes.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.actions import SetHeaderRoute, SetOutlierDetection, SetWeights
from rollout.mesh import (
    MeshError,
    Target,
    apply_actions,
    in_sync,
    subset_version,
    validate_pair,
    weight_drift,
)
from tests.unit.istio import HOST, busy_vs, destination_rule, seed_vs

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "spec", "http", "route", "destination", "subset", "host", "weight", "match", "name",
        "hosts", "subsets", "labels", "version", "trafficPolicy", "outlierDetection",
        "metadata", "annotations", "headers", "kind", "apiVersion", "0", "1",
    ]
)  # fmt: skip
TARGETS = st.builds(
    Target,
    st.sampled_from([HOST, "inventory-service.shop.svc.cluster.local", "other"]),
    st.sampled_from(["v1", "v2", "v3"]),
    st.sampled_from(["v2", "v1", "v9"]),
    namespace=st.just("shop"),
    routes=st.sampled_from([(), ("primary",), ("primary", "beta"), ("nope",)]),
)
ACTIONS = st.lists(
    st.one_of(
        st.builds(SetWeights, st.integers(0, 100), st.booleans()),
        st.builds(SetHeaderRoute, st.sampled_from([None, "x-canary"]), st.just("true")),
        st.builds(
            SetOutlierDetection,
            st.booleans(),
            st.just({"consecutive5xxErrors": 1, "interval": "1s"}),
        ),
    ),
    max_size=4,
)


def _mutate(doc: dict[str, Any], path: list[Any], junk: Any) -> dict[str, Any]:
    """``doc`` with the value at (the reachable prefix of) ``path`` replaced by ``junk``."""
    out = copy.deepcopy(doc)
    node: Any = out
    for step in path[:-1]:
        if isinstance(node, dict) and node:
            node = node.get(step, node[next(iter(node))])
        elif isinstance(node, list) and node:
            node = node[hash(str(step)) % len(node)]
        else:
            break
    if isinstance(node, dict):
        node[path[-1]] = junk
    elif isinstance(node, list) and node:
        node[hash(str(path[-1])) % len(node)] = junk
    return out


DOCS = st.tuples(
    st.sampled_from([seed_vs(), busy_vs(), seed_vs("v1")]),
    st.sampled_from([destination_rule(), destination_rule("v1", "v2", "v3")]),
)
MUTATIONS = st.lists(st.tuples(st.lists(KEYS, min_size=1, max_size=6), JSON), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=DOCS, vs_edits=MUTATIONS, dr_edits=MUTATIONS, target=TARGETS, actions=ACTIONS)
def test_any_document_gets_a_mesh_error_or_works(
    docs: tuple[dict[str, Any], dict[str, Any]],
    vs_edits: list[tuple[list[Any], Any]],
    dr_edits: list[tuple[list[Any], Any]],
    target: Target,
    actions: list[Any],
) -> None:
    """Broken shapes of either document: validation raises MeshError naming fields, never
    another exception; an accepted pair takes any sequence of actions, idempotently."""
    vs, dr = docs
    for path, junk in vs_edits:
        vs = _mutate(vs, path, junk)
    for path, junk in dr_edits:
        dr = _mutate(dr, path, junk)
    try:
        validate_pair(vs, dr, target)
    except MeshError as error:
        refused: MeshError | None = error
    else:
        refused = None
    if refused is not None:
        assert refused.problems, "a refusal names at least one field"
        assert all(p.field for p in refused.problems)
        return
    subset_version(dr, target.canary)
    weight_drift(vs, target)
    once = apply_actions(vs, dr, target, actions)
    assert in_sync(once.virtual_service, once.destination_rule, target, actions)


@settings(max_examples=200, deadline=None)
@given(vs=JSON, dr=JSON, target=TARGETS)
def test_anything_at_all_is_refused_cleanly(vs: Any, dr: Any, target: Target) -> None:
    """Not even a mapping: still a MeshError, never a TypeError or an AttributeError."""
    vs_doc = vs if isinstance(vs, dict) else {"spec": vs}
    dr_doc = dr if isinstance(dr, dict) else {"spec": dr}
    try:
        validate_pair(vs_doc, dr_doc, target)
    except MeshError as error:
        refused: MeshError | None = error
    else:
        refused = None
    assert refused is None or refused.problems
