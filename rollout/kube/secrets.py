"""Secrets the controller reads: one key of a Secret in its own namespace, cached briefly.

The notifications' ``Secrets`` port (``rollout.notify.factory``). Every failure is
a :class:`SecretUnreadable` whose text names the Secret and key, never the value.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from rollout.kube.client import KubeClient
from rollout.kube.errors import Forbidden, NotFound
from rollout.kube.resources import SECRETS
from rollout.model import SecretKeyRef


class SecretUnreadable(LookupError):
    """A Secret or key that cannot be read; the text never holds the value."""


class KubeSecrets:
    """Reads one key of a Secret in one namespace, caching it for ``ttl_s``."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.namespace, self.ttl_s, self.clock = kube, namespace, ttl_s, clock
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def get(self, ref: SecretKeyRef) -> str:
        cached = self._cache.get((ref.name, ref.key))
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        where = f"secret {self.namespace}/{ref.name} key {ref.key}"
        try:
            secret = self.kube.get(SECRETS, self.namespace, ref.name)
        except NotFound:
            raise SecretUnreadable(f"{where}: not found") from None
        except Forbidden:
            raise SecretUnreadable(f"{where}: not allowed (the chart grants one Secret)") from None
        except Exception as error:  # noqa: BLE001 any other failure: its type only, never its text
            raise SecretUnreadable(f"{where}: {type(error).__name__}") from None
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise SecretUnreadable(f"{where}: no such key")
        try:
            value = base64.b64decode(str(raw), validate=True).decode("utf-8").strip()
        except ValueError:  # not base64, or not UTF-8: say so, never show the bytes
            raise SecretUnreadable(f"{where}: the value is not UTF-8 text") from None
        self._cache[(ref.name, ref.key)] = (self.clock(), value)
        return value
