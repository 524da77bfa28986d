"""How PeerAuthentications apply to a service's pods (rollout.mesh.mtls.assess), as a table:
precedence of workload, namespace and mesh policies, UNSET inheritance, port-level
exceptions on the ports the pods serve, and what is said when something is unreadable."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.mesh.mtls import MtlsReport, Workload, assess

V1 = Workload("inventory-v1", {"app": "inventory", "version": "v1"}, frozenset({8080}))
V2 = Workload("inventory-v2", {"app": "inventory", "version": "v2"}, frozenset({8080}))
NO_PORTS = Workload("inventory-v2", {"app": "inventory", "version": "v2"})


def pa(
    name: str,
    mode: str | None = None,
    namespace: str = "shop",
    selector: dict[str, str] | None = None,
    ports: dict[int, str] | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    """A PeerAuthentication as the API returns it."""
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(p): {"mode": m} for p, m in ports.items()}
    meta = {"name": name, "namespace": namespace, "creationTimestamp": created}
    return {"kind": "PeerAuthentication", "metadata": meta, "spec": spec}


MESH_STRICT = pa("default", "STRICT", namespace="istio-system")
CASES: list[tuple[str, list[Any], list[Any] | None, list[Workload], MtlsReport]] = [
    (
        "nothing-anywhere",
        [],
        [],
        [V1, V2],
        MtlsReport(
            None,
            False,
            ("namespace shop has no PeerAuthentication (Istio's default is PERMISSIVE)",),
        ),
    ),
    (
        "namespace-strict",
        [pa("default", "STRICT")],
        [],
        [V1, V2],
        MtlsReport("STRICT", True, ("PeerAuthentication shop/default sets STRICT",)),
    ),
    (
        "namespace-permissive",
        [pa("default", "PERMISSIVE")],
        [MESH_STRICT],
        [V1, V2],
        MtlsReport("PERMISSIVE", False, ("PeerAuthentication shop/default sets PERMISSIVE",)),
    ),
    (
        "mesh-strict-inherited",
        [],
        [MESH_STRICT],
        [V1, V2],
        MtlsReport(
            "STRICT",
            True,
            (
                "namespace shop has no PeerAuthentication; "
                "the mesh-wide PeerAuthentication istio-system/default sets STRICT",
            ),
        ),
    ),
    (
        "namespace-unset-inherits-mesh",
        [pa("default", "UNSET")],
        [MESH_STRICT],
        [V1],
        MtlsReport(
            "STRICT",
            True,
            (
                "namespace shop sets no mTLS mode; "
                "the mesh-wide PeerAuthentication istio-system/default sets STRICT",
            ),
        ),
    ),
    (
        "mesh-unreadable",
        [],
        None,
        [V1],
        MtlsReport(
            None,
            False,
            (
                "namespace shop has no PeerAuthentication and the mesh-wide one in "
                "istio-system is not readable (Istio's default is PERMISSIVE)",
            ),
        ),
    ),
    (
        "mesh-selector-policies-ignored",
        [],
        [pa("one", "STRICT", namespace="istio-system", selector={"app": "inventory"})],
        [V1],
        MtlsReport(
            None,
            False,
            ("namespace shop has no PeerAuthentication (Istio's default is PERMISSIVE)",),
        ),
    ),
    (
        "workload-policy-beats-namespace",
        [pa("default", "PERMISSIVE"), pa("inventory", "STRICT", selector={"app": "inventory"})],
        [],
        [V1, V2],
        MtlsReport(
            "STRICT",
            True,
            (
                "PeerAuthentication shop/inventory sets STRICT for Deployment inventory-v1",
                "PeerAuthentication shop/inventory sets STRICT for Deployment inventory-v2",
            ),
        ),
    ),
    (
        "workload-policy-weakens-one-subset",
        [pa("default", "STRICT"), pa("legacy", "DISABLE", selector={"version": "v1"})],
        [],
        [V1, V2],
        MtlsReport(
            "DISABLE",
            False,
            (
                "PeerAuthentication shop/legacy sets DISABLE for Deployment inventory-v1",
                "PeerAuthentication shop/default sets STRICT",
            ),
        ),
    ),
    (
        "workload-policy-of-other-pods",
        [pa("default", "STRICT"), pa("other", "DISABLE", selector={"app": "cart"})],
        [],
        [V1, V2],
        MtlsReport("STRICT", True, ("PeerAuthentication shop/default sets STRICT",)),
    ),
    (
        "port-exception-on-the-served-port",
        [
            pa("default", "STRICT"),
            pa("inv", "UNSET", selector={"app": "inventory"}, ports={8080: "PERMISSIVE"}),
        ],
        [],
        [V2],
        MtlsReport(
            "PERMISSIVE",
            False,
            (
                "PeerAuthentication shop/default sets STRICT",
                "PeerAuthentication shop/inv allows PERMISSIVE on port 8080",
            ),
        ),
    ),
    (
        "port-exception-on-another-port",
        [pa("default", "STRICT", ports={9090: "DISABLE"})],
        [],
        [V2],
        MtlsReport("STRICT", True, ("PeerAuthentication shop/default sets STRICT",)),
    ),
    (
        "port-exception-when-no-port-is-declared",
        [pa("default", "STRICT", ports={9090: "DISABLE", 8443: "STRICT"})],
        [],
        [NO_PORTS],
        MtlsReport(
            "DISABLE",
            False,
            (
                "PeerAuthentication shop/default sets STRICT",
                "PeerAuthentication shop/default allows DISABLE on port 9090",
            ),
        ),
    ),
    (
        "oldest-namespace-policy-wins",
        [
            pa("newer", "PERMISSIVE", created="2026-02-01T00:00:00Z"),
            pa("older", "STRICT", created="2025-02-01T00:00:00Z"),
        ],
        [],
        [V1],
        MtlsReport("STRICT", True, ("PeerAuthentication shop/older sets STRICT",)),
    ),
    (
        "no-workloads-found",
        [pa("default", "PERMISSIVE")],
        [],
        [],
        MtlsReport("PERMISSIVE", False, ("PeerAuthentication shop/default sets PERMISSIVE",)),
    ),
]


@pytest.mark.parametrize(
    ("policies", "root", "workloads", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_assess(
    policies: list[Any], root: list[Any] | None, workloads: list[Workload], expected: MtlsReport
) -> None:
    """Each arrangement of PeerAuthentications gives the weakest mode, STRICT or not, and why."""
    assert assess("shop", policies, "istio-system", root, workloads) == expected
