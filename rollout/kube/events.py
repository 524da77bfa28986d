"""Kubernetes Events (``events.k8s.io/v1``) about a Rollout, recorded exactly once.

Each engine effect has a stable id; the Event's name is derived from the
rollout's uid and that id, so recording the same effect twice (a retry, a
restarted controller) finds the Event already there instead of duplicating it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.errors import Conflict
from rollout.kube.resources import EVENTS
from rollout.model import API_VERSION, KIND

CONTROLLER = "meshrollout.dev/controller"
NOTE_LIMIT = 1024


def event_name(rollout: dict[str, Any], effect_id: str) -> str:
    digest = hashlib.sha256(f"{rollout['metadata'].get('uid', '')}/{effect_id}".encode())
    return f"{rollout['metadata']['name'][:200]}.{digest.hexdigest()[:16]}"


class EventRecorder:
    """Writes one Event per effect id on the Rollout it is about."""

    def __init__(
        self,
        kube: KubeClient,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.instance = instance
        self._clock = clock

    def record(
        self, rollout: dict[str, Any], effect_id: str, reason: str, note: str, type_: str = "Normal"
    ) -> bool:
        """Create the Event; False when it already existed (recorded before)."""
        meta = rollout["metadata"]
        now = self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": event_name(rollout, effect_id), "namespace": meta["namespace"]},
            "eventTime": now,
            "reportingController": CONTROLLER,
            "reportingInstance": self.instance,
            "action": reason,
            "reason": reason,
            "type": type_,
            "note": note[:NOTE_LIMIT],
            "regarding": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        try:
            self.kube.create(EVENTS, meta["namespace"], body)
        except Conflict:
            return False
        return True
