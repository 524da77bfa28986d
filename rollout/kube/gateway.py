"""Read and write the Gateway API side of a rollout: its HTTPRoute, the namespace's
Services, and the DestinationRule for the canary Service's host (created, patched or
deleted as the caller's transform says), never overwriting a concurrent edit.

Like ``routing``: merge patches carrying the ``resourceVersion`` read, and on 409 (or a
rule created meanwhile) everything is read again and the caller's pure transform
applied again. The adapter never decides what the documents should say.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

from rollout.kube.client import KubeClient, Resource
from rollout.kube.errors import Conflict, NotFound
from rollout.kube.resources import HTTPROUTES, SERVICES, destination_rules
from rollout.kube.routing import RoutingClient, merge_diff
from rollout.mesh.gatewayapi import GatewayDocs, GatewayResult, GatewayView, find_host_rule

Doc = dict[str, Any]


class GatewayClient:
    """An HTTPRoute and its canary Service's host rule, read and written with preconditions."""

    def __init__(
        self,
        kube: KubeClient,
        routing: RoutingClient,
        conflict_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube, self.routing = kube, routing  # routing: the Istio version in use
        self.conflict_attempts = conflict_attempts
        self._sleep = sleep
        self._rand = random.Random()

    def read(self, namespace: str, route: str, canary_service: str) -> GatewayView:
        services, _ = self.kube.list(SERVICES, namespace)
        rules, _ = self.kube.list(destination_rules(self.routing.version), namespace)
        return GatewayView(
            GatewayDocs(
                self.kube.get(HTTPROUTES, namespace, route),
                find_host_rule(rules, canary_service, namespace),
            ),
            {
                str(s["metadata"]["name"]): dict((s.get("spec") or {}).get("selector") or {})
                for s in services
            },
        )

    def _patch(self, res: Resource, old: Doc, new: Doc) -> Doc:
        patch = merge_diff(old, new)
        patch.pop("status", None)
        if not patch:
            return old
        meta = dict(patch.get("metadata") or {})
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        patch["metadata"] = meta
        return self.kube.patch(
            res, old["metadata"].get("namespace"), old["metadata"]["name"], patch
        )

    def _write(self, namespace: str, docs: GatewayDocs, result: GatewayResult) -> GatewayDocs:
        route = self._patch(HTTPROUTES, docs.route, result.docs.route)
        rules = destination_rules(self.routing.version)
        rule, old = result.docs.host_rule, docs.host_rule
        if result.rule_write == "create" and rule is not None:
            rule = self.kube.create(rules, namespace, rule)
        elif result.rule_write == "patch" and rule is not None and old is not None:
            rule = self._patch(rules, old, rule)
        elif result.rule_write == "delete" and old is not None:
            with contextlib.suppress(NotFound):  # gone already: what we wanted
                self.kube.delete(rules, namespace, old["metadata"]["name"])
        return GatewayDocs(route, rule)

    def update(
        self,
        namespace: str,
        route: str,
        canary_service: str,
        transform: Callable[[GatewayDocs], GatewayResult],
        current: GatewayDocs | None = None,
    ) -> GatewayDocs:
        """Apply ``transform`` and write what it changed; on 409 read again and start over."""
        for attempt in range(self.conflict_attempts):
            docs = (
                current
                if current is not None and attempt == 0
                else self.read(namespace, route, canary_service).docs
            )
            try:
                return self._write(namespace, docs, transform(docs))
            except Conflict:
                if attempt + 1 == self.conflict_attempts:
                    raise
                self._sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + self._rand.random() / 2))
        raise AssertionError("unreachable")


__all__ = ["GatewayClient"]
