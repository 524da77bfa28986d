"""An in-memory API server for running the ``rollout`` command in-process.

``FakeKube`` answers the few requests the CLI makes (discovery, list, get,
create, merge patch with a resourceVersion precondition) from a dict of
objects keyed by their API path, and records every request, so a test can say
"nothing was sent". ``down=True`` plays a cluster that does not answer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result

import rollout.cli
from rollout.kube import KubeClient, NotFound
from rollout.kube.client import RetryPolicy
from rollout.kube.errors import Conflict, Unavailable
from tests.unit.istio import destination_rule, seed_vs

Doc = dict[str, Any]
NS = "shop"
ROLLOUTS = f"/apis/meshrollout.dev/v1alpha1/namespaces/{NS}/rollouts"
VIRTUAL_SERVICES = f"/apis/networking.istio.io/v1beta1/namespaces/{NS}/virtualservices"
DESTINATION_RULES = f"/apis/networking.istio.io/v1beta1/namespaces/{NS}/destinationrules"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKube(KubeClient):
    """The API server of one namespace, in a dict; every request is recorded."""

    def __init__(self, objects: dict[str, Doc] | None = None, down: bool = False) -> None:
        super().__init__(cast(Any, None), retry=RetryPolicy(attempts=1), sleep=lambda _: None)
        self.objects = copy.deepcopy(objects or {})
        self.down = down
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self.version = 10

    def close(self) -> None:
        """Nothing to close."""

    def _stored(self, path: str, doc: Doc) -> Doc:
        self.version += 1
        meta = doc.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.version)
        meta["generation"] = int(meta.get("generation", 0)) + 1
        meta.setdefault("namespace", NS)
        self.objects[path] = doc
        return copy.deepcopy(doc)

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        self.calls.append((method, path))
        self.bodies.append(copy.deepcopy(body))
        if self.down:
            raise Unavailable(f"{method} {path}: the API server did not answer")
        if method == "GET" and path == "/apis/networking.istio.io":
            return {"preferredVersion": {"version": "v1beta1"}}
        if method == "GET" and query is not None:  # a list
            items = [d for p, d in self.objects.items() if p.rsplit("/", 1)[0] == path]
            return {"items": copy.deepcopy(items), "metadata": {"resourceVersion": "1"}}
        if method == "POST":
            where = f"{path}/{body['metadata']['name']}"
            if where in self.objects:
                raise Conflict(f"{method} {path}: already exists", 409)
            return self._stored(where, copy.deepcopy(body))
        current = self.objects.get(path)
        if current is None:
            raise NotFound(f"{method} {path}: not found", 404)
        if method == "GET":
            return copy.deepcopy(current)
        if method == "PATCH":
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise Conflict(f"{method} {path}: changed since read", 409)
            return self._stored(path, merge_patch(current, body))
        raise AssertionError(f"the CLI is not expected to {method} {path}")


def shop(*rollouts: Doc) -> dict[str, Doc]:
    """The seed namespace: inventory-route, a DestinationRule with v1..v3, and ``rollouts``."""
    vs = seed_vs()
    dr = destination_rule("v1", "v2", "v3")
    objects = {
        f"{VIRTUAL_SERVICES}/{vs['metadata']['name']}": vs,
        f"{DESTINATION_RULES}/{dr['metadata']['name']}": dr,
    }
    for doc in rollouts:
        objects[f"{ROLLOUTS}/{doc['metadata']['name']}"] = doc
    return objects


@contextmanager
def using(monkeypatch: pytest.MonkeyPatch, kube: FakeKube) -> Iterator[FakeKube]:
    """Make the CLI connect to ``kube`` instead of a kubeconfig's cluster."""
    monkeypatch.setattr(KubeClient, "connect", classmethod(lambda *a, **k: kube))
    yield kube


def run(kube: FakeKube, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """``rollout -n shop ARGS`` in-process against ``kube``."""
    with using(monkeypatch, kube):
        return CliRunner().invoke(rollout.cli.main, ["-n", NS, *args], catch_exceptions=True)
