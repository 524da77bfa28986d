"""Every route to the service through the lab's real Envoy: the mesh's VirtualService and
the ingress one for shop.example.com (its own Envoy virtual host, as a gateway would serve
it) moved together by the controller; public requests follow the weights."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from meshlab.seed import PUBLIC_HOST, seed_ingress
from meshlab.stack import QUICK, LocalStack
from tests.conftest import need_prometheus
from tests.e2e.waiting import wait

PUBLIC = "inventory-public"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    need_prometheus()
    mesh = LocalStack(tmp_path_factory.mktemp("lab-routes"), rps=100).up()
    assert mesh.api is not None
    seed_ingress(mesh.api)
    yield mesh
    mesh.down()


def ask(lab: LocalStack, path: str = "/", host: str = PUBLIC_HOST) -> str:
    """One request through Envoy with ``Host: host``; the version that answered."""
    conn = http.client.HTTPConnection("127.0.0.1", lab.listen_port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        return conn.getresponse().read().decode(errors="replace").strip()
    finally:
        conn.close()


def phase(lab: LocalStack) -> str:
    return str(lab.status().get("phase"))


def test_public_requests_follow_the_rollout_in_envoy(lab: LocalStack) -> None:
    """Before: the public host is served by v1 through its own virtual host. During the
    rollout public requests reach v2 too; at the end both virtual hosts send v2 alone,
    and the ingress's /healthz route (pinned to v1) is untouched."""
    wait(lambda: lab.envoy_weights("public", PUBLIC) == {"v1": 100}, 10, "the ingress in Envoy")
    assert {ask(lab) for _ in range(10)} == {"v1"}
    public_seen: Counter[str] = Counter()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                public_seen[ask(lab)] += 1
            except OSError:
                public_seen["error"] += 1
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = lab.cli("start", "inventory", "v2", *QUICK)
        assert started.returncode == 0, started.stderr
        assert PUBLIC in started.stderr
        wait(lambda: phase(lab) == "Succeeded", 480, "success", lab=lab)  # the gate, under load
        wait(lambda: lab.envoy_weights("public", PUBLIC) == {"v2": 100}, 10, "v2 alone, public")
        wait(lambda: lab.envoy_weights() == {"v2": 100}, 10, "v2 alone, mesh")
    finally:
        stop.set()
        sampler.join(timeout=5)
    assert public_seen["v1"] > 0
    assert public_seen["v2"] > 0
    assert public_seen["error"] == 0
    assert {ask(lab) for _ in range(10)} == {"v2"}
    assert ask(lab, "/healthz") == "v1"


def test_a_failing_canary_is_rolled_back_on_both_virtual_hosts(lab: LocalStack) -> None:
    """v3 fails once at 25%: rolled back; Envoy sends the public host and the mesh back
    to v2 alone, and v3's tightened outlier detection is in Envoy's config."""
    lab.fault("v3", error_rate=0.0)
    assert lab.cli("start", "inventory", "v3", *QUICK).returncode == 0
    wait(lambda: lab.envoy_weights("public", PUBLIC).get("v3", 0) >= 25, 90, "v3 at 25%")
    lab.fault("v3", error_rate=0.3)
    wait(lambda: phase(lab) == "RolledBack", 60, "rollback", lab=lab)
    wait(lambda: lab.envoy_weights("public", PUBLIC) == {"v2": 100}, 10, "v2 alone, public")
    assert lab.envoy_weights() == {"v2": 100}
    outlier = lab.envoy_outlier("v3")
    assert outlier is not None
    assert outlier["consecutive_5xx"] == 1
    lab.fault("v3", error_rate=0.0)
    assert {ask(lab) for _ in range(10)} == {"v2"}
