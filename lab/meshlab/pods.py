"""The lab's pods: each version's Deployment replicas are that version's backend processes.

The emulator's stand-in Deployment controller (``meshlab.kubeapi.deployments``) calls
:meth:`Pods.follow` with a Deployment and the replicas it asks for: missing backend
processes are started, extra ones stopped (taken out of Envoy's endpoints first),
and the Deployment is reported ready only as far as its processes answer their
readiness probe. Envoy's endpoints are those answering processes
(:meth:`Pods.endpoints`), as a real mesh only routes to ready pods. So scaling a
version to zero stops its processes, and an undo's scale-up brings them back before
the controller moves any traffic to them.
"""

from __future__ import annotations

import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshlab.prometheus import free_port

Obj = dict[str, Any]
PROBE_TIMEOUT_S = 0.3


def answers(port: int) -> bool:
    """The backend's readiness probe (``GET /_lab/ready``) answers 200."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_lab/ready", timeout=PROBE_TIMEOUT_S
        ) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def backend_argv(port: int, version: str) -> list[str]:
    return [sys.executable, "-m", "meshlab.backend", "--port", str(port), "--version", version]


@dataclass
class Pods:
    """Backend processes per version, kept to their Deployment's replicas.

    ``spawn(name, argv)`` starts and tracks a process, ``reap(name)`` stops and forgets
    one: the stack owns the processes (it stops them all on the way down).
    """

    spawn: Callable[[str, list[str]], None]
    reap: Callable[[str], None]
    running: dict[str, dict[int, int]] = field(default_factory=dict)  # version: index → port
    ready: dict[str, list[int]] = field(default_factory=dict)  # version: answering ports
    lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, deployment: Obj, replicas: int) -> int:
        """Start or stop ``deployment``'s version's processes to ``replicas``; how many answer."""
        template = (deployment.get("spec") or {}).get("template") or {}
        version = str(((template.get("metadata") or {}).get("labels") or {}).get("version", ""))
        if not version:
            return 0
        with self.lock:
            running = self.running.setdefault(version, {})
            leaving = sorted(i for i in running if i >= replicas)
            # Out of Envoy's endpoints before they stop, as a terminating pod leaves the mesh.
            self.ready[version] = [
                p for i, p in running.items() if i < replicas and p in self.ready.get(version, [])
            ]
        for index in leaving:
            self.reap(f"backend-{version}-{index}")
            with self.lock:
                del running[index]
        for index in range(replicas):
            if index not in running:
                port = free_port()
                self.spawn(f"backend-{version}-{index}", backend_argv(port, version))
                with self.lock:
                    running[index] = port
        answering = sorted(p for _, p in sorted(running.items()) if answers(p))
        with self.lock:
            self.ready[version] = answering
        return len(answering)

    def endpoints(self) -> dict[str, list[int]]:
        """Each version's ready backends' ports: Envoy's endpoints."""
        with self.lock:
            return {v: list(ports) for v, ports in sorted(self.ready.items())}

    def ports(self, version: str) -> list[int]:
        """Every running backend of ``version`` (ready or not)."""
        with self.lock:
            return [p for _, p in sorted(self.running.get(version, {}).items())]
