"""Read Rollout resources and write their status through the status subresource.

Status writes replace the whole status (a merge patch would keep fields the
engine cleared) and carry the resourceVersion that was read: a 409 means the
resource changed (a spec edit, a CLI command, another writer), and the caller
reads it again and decides again. Spec patches are for the CLI.
"""

from __future__ import annotations

import uuid
from typing import Any

from rollout.kube.client import KubeClient
from rollout.kube.resources import ROLLOUTS
from rollout.model import API_VERSION, KIND

Doc = dict[str, Any]

USER_COMMANDS = ("pause", "resume", "promote", "promoteFull", "abort")
"""What a person may ask of a running rollout (the CLI's commands, the dashboard's buttons)."""


def command_patch(action: str, command_id: str | None = None) -> Doc:
    """The spec patch that asks for ``action``: the one definition the CLI, the dashboard
    and Slack's buttons share, so a button does exactly what the command does. A command
    carries a fresh id (or ``command_id``): the controller handles each id once."""
    if action == "pause":
        return {"paused": True}
    if action not in USER_COMMANDS:
        raise ValueError(f"unknown command {action!r}")
    command = {"command": {"name": action, "id": command_id or uuid.uuid4().hex[:12]}}
    return {"paused": False, **command} if action == "resume" else command


def undo_patch(by: str, to: str | None = None, command_id: str | None = None) -> Doc:
    """The spec patch that asks for an undo (``rollout undo`` and the dashboard's button):
    ``by`` says who asked and how ("alice via CLI"), cut to the field's 128 characters;
    ``to`` a subset other than the previous version."""
    command: Doc = {"name": "undo", "id": command_id or uuid.uuid4().hex[:12], "by": by[:128]}
    if to is not None:
        command["to"] = to
    return {"command": command}


class RolloutClient:
    """The Rollout resources of a cluster (or of one namespace)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def list(self, namespace: str | None = None) -> tuple[list[Doc], str]:
        return self.kube.list(ROLLOUTS, namespace)

    def get(self, namespace: str, name: str) -> Doc:
        return self.kube.get(ROLLOUTS, namespace, name)

    def create(self, namespace: str, name: str, spec: Doc) -> Doc:
        body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
        return self.kube.create(ROLLOUTS, namespace, body)

    def patch_spec(self, namespace: str, name: str, patch: Doc, resource_version: str = "") -> Doc:
        """Merge-patch the spec; with ``resource_version``, only if nobody changed it since."""
        body: Doc = {"spec": patch}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self.kube.patch(ROLLOUTS, namespace, name, body)

    def write_status(self, rollout: Doc, status: Doc) -> Doc:
        """Replace the status of ``rollout`` as read; Conflict if it changed since."""
        meta = rollout["metadata"]
        body = {**rollout, "status": status}
        return self.kube.replace(ROLLOUTS, meta["namespace"], meta["name"], body, sub="status")
