"""The end-to-end stack: the API emulator, a real Prometheus scraping Istio-shaped
counters, traffic that follows the VirtualService's weights, the controller as a
subprocess and the CLI as a subprocess.

Traffic is simulated (the local mesh lab with a real Envoy is the demo's): a
thread reads the managed route's weights from the emulator every 100 ms and
gives each version its share of a fixed request rate, with the error rate and
latency the test set for that version.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshlab.istio_metrics import Exporter, Load
from meshlab.kubeapi import KubeAPI
from meshlab.kubeapi.store import ApiError
from meshlab.prometheus import PrometheusServer, free_port
from meshlab.seed import NS, seed_documents
from meshlab.stack import controller_argv, run_cli
from rollout.analysis.prometheus import PrometheusSource
from tests.e2e.waiting import log_tail

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Traffic:
    """Requests at ``rps`` split by the live weights; each version's health is settable."""

    api: KubeAPI
    exporter: Exporter
    namespace: str = NS
    rps: float = 1000.0
    health: dict[str, Load] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    weights: dict[str, float] = field(default_factory=dict)

    def set_health(self, version: str, error_rate: float = 0.005, median_ms: float = 20.0) -> None:
        self.health[version] = Load(0, error_rate, median_ms)

    def current_weights(self) -> dict[str, float]:
        t = self.api.registry.find("networking.istio.io", "v1", "virtualservices")
        assert t is not None
        try:
            vs = self.api.store.get(t, self.namespace, "inventory-route")
        except ApiError:
            return {}  # told on an HTTPRoute instead: no traffic simulated here
        route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")["route"]
        return {
            e["destination"]["subset"]: float(e.get("weight", 100 if len(route) == 1 else 0))
            for e in route
        }

    def run(self) -> None:
        applied: dict[str, Load] = {}
        while not self.stopping.is_set():
            self.weights = self.current_weights()
            for version in ("v1", "v2", "v3"):
                health = self.health.get(version, Load(0, 0.005, 20.0))
                share = self.weights.get(version, 0.0) / 100
                load = Load(self.rps * share, health.error_rate, health.median_ms)
                if applied.get(version) != load:
                    self.exporter.set_load(self.namespace, "inventory-service", version, load)
                    applied[version] = load
            self.stopping.wait(0.1)

    def start(self) -> Traffic:
        threading.Thread(target=self.run, daemon=True).start()
        return self


class Stack:
    """Everything an end-to-end test needs, started once per test module."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.api = KubeAPI.start()
        self.kubeconfig = self.api.write_kubeconfig(workdir / "kubeconfig", NS)
        seed_documents(self.api)
        self.exporter = Exporter(clock=time.time)
        self.prometheus = PrometheusServer(
            scrape_configs=[
                {
                    "job_name": "istio",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.exporter.port}"]}],
                }
            ],
            scrape_interval_s=1,
            workdir=workdir / "prometheus",
        ).start()
        self.traffic = Traffic(self.api, self.exporter)
        self.traffic.set_health("v1")
        self.traffic.start()
        self._wait_for_first_scrape()
        self.controllers: list[subprocess.Popen[bytes]] = []
        self.tenants: dict[str, Traffic] = {NS: self.traffic}

    def add_tenant(self, namespace: str) -> Traffic:
        """Another team's namespace: the seed's documents there, and traffic of its own."""
        seed_documents(self.api, namespace)
        traffic = Traffic(self.api, self.exporter, namespace=namespace)
        traffic.set_health("v1")
        self.tenants[namespace] = traffic.start()
        return traffic

    def _wait_for_first_scrape(self) -> None:
        """Prometheus applies new targets every few seconds: wait until it has data."""
        source = PrometheusSource(self.prometheus.url)
        deadline = time.monotonic() + 30
        while not source.query('up{job="istio"} == 1', datetime.now(UTC)):
            assert time.monotonic() < deadline, "Prometheus never scraped the exporter"
            time.sleep(0.2)

    # -- the controller ----------------------------------------------------------------
    def start_controller(self, identity: str = "ctl-a", **extra: str) -> subprocess.Popen[bytes]:
        self.metrics_port = free_port()
        log = (self.workdir / f"controller-{identity}.log").open("ab")
        args = controller_argv(self.kubeconfig, self.prometheus.url, identity, self.metrics_port)
        args += ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5"]
        for flag, value in extra.items():
            args += [f"--{flag.replace('_', '-')}", value]
        proc = subprocess.Popen(
            args, stdout=log, stderr=log, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        self.controllers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=30)

    # -- the CLI --------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cli(self.kubeconfig, *args, timeout=timeout)

    # -- reading state -------------------------------------------------------------------
    def rollout(self, name: str = "inventory", namespace: str = NS) -> dict[str, Any]:
        return self.api.get("meshrollout.dev", "v1alpha1", "rollouts", namespace, name)

    def status(self, name: str = "inventory", namespace: str = NS) -> dict[str, Any]:
        return self.rollout(name, namespace).get("status") or {}

    def destination_rule(self) -> dict[str, Any]:
        return self.api.get("networking.istio.io", "v1", "destinationrules", NS, "inventory-dr")

    def virtual_service(self, namespace: str = NS) -> dict[str, Any]:
        return self.api.get(
            "networking.istio.io", "v1", "virtualservices", namespace, "inventory-route"
        )

    def wait_for(self, condition: Any, timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; status: "
                    f"{json.dumps(self.status(), default=str)[:2000]}\n{self.log_tails()}"
                )
            time.sleep(0.1)

    def log_tails(self, lines: int = 12) -> str:
        """The last lines of each controller's log (what a timeout cannot say otherwise)."""
        return "\n".join(
            log_tail(log, lines) for log in sorted(self.workdir.glob("controller-*.log"))
        )

    def phase(self, name: str = "inventory") -> str | None:
        try:
            return self.status(name).get("phase")
        except Exception:
            return None

    def stop(self) -> None:
        for proc in self.controllers:
            self.kill(proc, signal.SIGTERM)
        for traffic in self.tenants.values():
            traffic.stopping.set()
        self.prometheus.cleanup()
        self.exporter.stop()
        self.api.stop()


def unique() -> str:
    return uuid.uuid4().hex[:8]


def stack_fixture(tmp: Path) -> Iterator[Stack]:
    stack = Stack(tmp)
    try:
        yield stack
    finally:
        stack.stop()
