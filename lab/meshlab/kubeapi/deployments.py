"""A stand-in for the cluster's Deployment controller, for the emulator.

The emulator stores Deployments but runs no pods, so nothing would ever move a
Deployment's status after its ``spec.replicas`` changes. This loop does what the
real controller's status looks like from outside: once a Deployment's spec
changes, its ``status`` reports the generation seen and the replicas asked for,
with ``readyReplicas`` coming from ``pods`` (the lab: how many of that version's
backend processes answer) or, without it, all of them after ``ready_after_s``
(scaling down is immediate). Deployments whose status a test wrote by hand and
whose spec has not changed since are left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from meshlab.kubeapi.server import KubeAPI
from meshlab.kubeapi.store import ApiError

Obj = dict[str, Any]
Pods = Callable[[Obj, int], int]
"""``pods(deployment, replicas)``: how many of its pods answer now (at most ``replicas``)."""


def _size(d: Obj) -> int:
    return int((d.get("spec") or {}).get("replicas", 1))


class DeploymentController:
    """Moves each Deployment's status to its spec, as its pods become ready."""

    def __init__(
        self,
        api: KubeAPI,
        ready_after_s: float = 0.5,
        pods: Pods | None = None,
        period_s: float = 0.05,
    ) -> None:
        self.api, self.ready_after_s, self.pods, self.period_s = api, ready_after_s, pods, period_s
        self._since: dict[tuple[str, str], tuple[int, float]] = {}  # when a size was asked
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deployments", daemon=True)

    def start(self) -> DeploymentController:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        t = self.api.registry.find("apps", "v1", "deployments")
        assert t is not None
        while not self._stopping.wait(self.period_s):
            items, _ = self.api.store.list(t, None, lambda _: True)
            for d in items:
                try:
                    self._follow(t, d)
                except ApiError:
                    continue  # changed or deleted meanwhile: the next pass sees it

    def _follow(self, t: Any, d: Obj) -> None:
        meta = d["metadata"]
        key = (str(meta.get("namespace", "")), str(meta["name"]))
        generation, size = int(meta.get("generation", 0)), _size(d)
        status = d.get("status") or {}
        settled = int(status.get("observedGeneration", 0)) >= generation
        if settled and key not in self._since and self.pods is None:
            return  # nothing asked since the last status (maybe a test's own)
        now = time.monotonic()
        asked, since = self._since.get(key, (size, now))
        if asked != size:
            since = now
        self._since[key] = (size, since)
        if self.pods is not None:
            ready = min(size, self.pods(d, size))
        elif size <= int(status.get("readyReplicas", 0)) or now - since >= self.ready_after_s:
            ready = size
        else:
            ready = int(status.get("readyReplicas", 0))
        wanted = {
            **status,
            "observedGeneration": generation,
            "replicas": size,
            "updatedReplicas": size,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if ready == size and self.pods is None:
            self._since.pop(key, None)
        if wanted != status:
            self.api.store.update(
                t, key[0], key[1], lambda cur: {**cur, "status": wanted}, subresource="status"
            )
