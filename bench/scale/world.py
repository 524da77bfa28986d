"""The scale benchmark's world: N services in the emulator, their series in a real
Prometheus, the real controller as a subprocess, and the probes that measure it.

Each service ``svc-NNNN`` (in one of up to ten namespaces) has a VirtualService
routing all traffic to subset v1, a DestinationRule with subsets v1 and v2, a ready
Deployment per version, and traffic on both versions from the one exporter process
(``bench.scale.exporter``), which Prometheus scrapes every few seconds. The Rollouts
are created later, all at once, by :meth:`World.start_rollouts`.

The probes read the controller's CPU time and RSS from ``/proc``, Prometheus's own
count of query requests from its ``/metrics``, and every request the controller made
to the Kubernetes API from the emulator's audit log (reads included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshlab.kubeapi import KubeAPI
from meshlab.kubeapi.faults import WRITE_VERBS, AuditEntry
from meshlab.prometheus import PrometheusServer, free_port
from meshlab.stack import controller_argv, stop_processes

IDENTITY = "scale-bench"
ISTIO = ("networking.istio.io", "v1")
STABLE_RPS, CANARY_RPS = 20.0, 5.0
SCRAPE_S = 5
STEPS = [5, 50, 100]
STEP_DURATION = "10m"  # no promotion while measuring: the run ends with a promote of all
READS = frozenset({"get", "list", "watch"})


def service(i: int) -> tuple[str, str]:
    """The namespace and name of the i-th service (ten namespaces at most)."""
    return f"scale-{i % 10}", f"svc-{i:04d}"


def _create(api: KubeAPI, group: str, version: str, plural: str, ns: str, body: Any) -> None:
    t = api.registry.find(group, version, plural)
    assert t is not None, plural
    api.store.create(t, ns, body)


def seed_service(api: KubeAPI, i: int) -> None:
    """One service's VirtualService, DestinationRule and two ready Deployments."""
    ns, name = service(i)
    dest = {"host": name, "port": {"number": 8080}}
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": [name],
            "http": [{"name": "primary", "route": [{"destination": {**dest, "subset": "v1"}}]}],
        },
    }
    _create(api, *ISTIO, "virtualservices", ns, vs)
    subsets = [{"name": v, "labels": {"app": name, "version": v}} for v in ("v1", "v2")]
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name},
        "spec": {"host": name, "subsets": subsets},
    }
    _create(api, *ISTIO, "destinationrules", ns, dr)
    deployments = api.registry.find("apps", "v1", "deployments")
    assert deployments is not None
    ready = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1}

    def with_status(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "status": ready}

    for v in ("v1", "v2"):
        labels = {"app": name, "version": v}
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-{v}"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}},
            },
        }
        api.store.create(deployments, ns, body)
        api.store.update(deployments, ns, f"{name}-{v}", with_status, subresource="status")


def rollout_body(i: int, strategy: dict[str, Any], analysis: dict[str, Any]) -> dict[str, Any]:
    _, name = service(i)
    return {
        "apiVersion": "meshrollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "service": name,
            "virtualService": name,
            "destinationRule": name,
            "stableSubset": "v1",
            "canarySubset": "v2",
            "strategy": strategy,
            "analysis": analysis,
        },
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process (VmRSS), from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class World:
    """One benchmark world of ``n`` services; ``up()`` starts it, ``down()`` stops it."""

    n: int
    workdir: Path
    replicas: int = 1  # more: sharded (controller_args says how), named controller-<i>
    controller_args: tuple[str, ...] = ()
    scrape_s: float = SCRAPE_S
    strategy: dict[str, Any] = field(
        default_factory=lambda: {"steps": STEPS, "stepDuration": STEP_DURATION}
    )
    analysis: dict[str, Any] = field(default_factory=dict)  # the product's defaults
    api: KubeAPI | None = None
    prometheus: PrometheusServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def up(self) -> World:
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A real API server keeps minutes of watch history; a thousand rollouts starting
        # at once write more than the emulator's default 2,000 changes in seconds.
        self.api = KubeAPI.start(history_limit=50_000)
        self.api.audit.reads = True
        self.kubeconfig = self.api.write_kubeconfig(self.workdir / "kubeconfig", "scale-0")
        for ns in sorted({service(i)[0] for i in range(self.n)}):  # as a real cluster has
            _create(self.api, "", "v1", "namespaces", "", {"metadata": {"name": ns}})
        for i in range(self.n):
            seed_service(self.api, i)
        rows = []
        for i in range(self.n):
            ns, name = service(i)
            rows += [[ns, name, "v1", STABLE_RPS], [ns, name, "v2", CANARY_RPS]]
        versions = self.workdir / "versions.json"
        versions.write_text(json.dumps(rows))
        port_file = self.workdir / "exporter.port"
        self._spawn(
            "exporter",
            [
                sys.executable,
                "-m",
                "bench.scale.exporter",
                "--versions",
                str(versions),
                "--port-file",
                str(port_file),
            ],
            stdin=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the exporter did not start: see {self.workdir}")
            time.sleep(0.05)
        target = f"127.0.0.1:{port_file.read_text().strip()}"
        self.prometheus = PrometheusServer(
            scrape_configs=[{"job_name": "mesh", "static_configs": [{"targets": [target]}]}],
            scrape_interval_s=self.scrape_s,
            workdir=self.workdir / "prometheus",
        ).start()
        self.metrics_ports: dict[str, int] = {}
        for r in range(self.replicas):
            name, identity = self.controller(r)
            self.metrics_ports[name] = port = free_port()
            args = controller_argv(self.kubeconfig, self.prometheus.url, identity, port)
            # The product's defaults (a 1 s tick), and the scrape interval this Prometheus has.
            args += ["--tick", "1", "--scrape-interval", f"{self.scrape_s:g}"]
            args += ["--lease-namespace", "scale-0", *self.controller_args]
            self._spawn(name, args)
        for name in self.metrics_ports:
            self._wait_ready(name)

    def controller(self, r: int) -> tuple[str, str]:
        """The r-th controller's process name and identity."""
        if self.replicas == 1:
            return "controller", IDENTITY
        return f"controller-{r}", f"{IDENTITY}-{r}"

    def _spawn(self, name: str, args: list[str], stdin: int | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args,
            stdin=stdin,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )

    def _wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.metrics_ports[name]}/readyz"
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited: see {self.workdir}/{name}.log")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the controller never became ready: see {self.workdir}")

    # -- acting --------------------------------------------------------------------------
    def start_rollouts(self) -> None:
        """Every Rollout created at once (straight into the store: no client in the way)."""
        assert self.api is not None
        for i in range(self.n):
            body = rollout_body(i, self.strategy, self.analysis)
            _create(self.api, "meshrollout.dev", "v1alpha1", "rollouts", service(i)[0], body)

    def fault(self, i: int, error_rate: float) -> None:
        """The i-th service's canary answers ``error_rate`` 5xx from now on."""
        proc = self.processes["exporter"]
        assert proc.stdin is not None
        ns, name = service(i)
        proc.stdin.write(f"{ns} {name} v2 {error_rate}\n".encode())
        proc.stdin.flush()

    def promote_all(self) -> None:
        """``rollout promote --full`` for every rollout, as the CLI writes it (a spec command)."""
        assert self.api is not None
        t = self.api.registry.find("meshrollout.dev", "v1alpha1", "rollouts")
        assert t is not None
        for i in range(self.n):
            ns, name = service(i)
            command = {"name": "promoteFull", "id": f"bench-{i}"}

            def promote(doc: dict[str, Any], c: dict[str, str] = command) -> dict[str, Any]:
                return {**doc, "spec": {**doc["spec"], "command": c}}

            self.api.store.update(t, ns, name, promote)

    # -- looking -------------------------------------------------------------------------
    def statuses(self) -> list[dict[str, Any]]:
        """Every Rollout's status, read in place under the store's lock: the emulator
        serves the controller from this process, and copying a thousand rollouts at every
        poll (as ``store.list`` does) would take its time from the controller's requests.
        Read only."""
        assert self.api is not None
        store = self.api.store
        with store.changed:
            return [
                obj.get("status") or {}
                for (kind, _, _), obj in store._objects.items()
                if kind == "rollouts.meshrollout.dev"
            ]

    def rollout(self, i: int) -> dict[str, Any]:
        assert self.api is not None
        ns, name = service(i)
        return self.api.get("meshrollout.dev", "v1alpha1", "rollouts", ns, name)

    def canary_weight(self, i: int) -> int:
        """The canary's weight in the i-th service's VirtualService, as the emulator holds it."""
        assert self.api is not None
        ns, name = service(i)
        vs = self.api.get(*ISTIO, "virtualservices", ns, name)
        for route in vs["spec"]["http"]:
            for dest in route.get("route") or []:
                if dest["destination"].get("subset") == "v2":
                    return int(dest.get("weight", 0))
        return 0

    @property
    def pid(self) -> int:
        return self.processes["controller"].pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mb(self.pid)

    def prometheus_queries(self) -> float:
        """Query requests Prometheus has served (its own counter; /metrics is not one)."""
        assert self.prometheus is not None
        with urllib.request.urlopen(f"{self.prometheus.url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        total = 0.0
        for line in text.splitlines():
            if (
                line.startswith("prometheus_http_requests_total{")
                and 'handler="/api/v1/query' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def audit(self, since: int = 0) -> list[AuditEntry]:
        """The controller's requests to the API after audit entry ``since``."""
        assert self.api is not None
        return [e for e in self.api.audit.entries()[since:] if e.user.startswith(IDENTITY)]

    def audit_mark(self) -> int:
        assert self.api is not None
        return len(self.api.audit.entries())

    @staticmethod
    def reads(entries: list[AuditEntry]) -> int:
        return sum(e.verb in READS for e in entries)

    @staticmethod
    def writes(entries: list[AuditEntry]) -> int:
        """Writes of rollouts, mesh documents and Events (lease renewals are counted apart)."""
        return sum(e.verb in WRITE_VERBS and not e.resource.startswith("leases") for e in entries)

    def down(self) -> None:
        stop_processes(self.processes, timeout_s=15)
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.api is not None:
            self.api.stop()
