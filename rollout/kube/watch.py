"""Keep up with a resource type: list once, then watch from where the list ended.

A watch resumes from the last resourceVersion it saw when the stream ends or
breaks; when the server answers 410 Gone (the version is too old) it lists
again and carries on. Every object seen is handed to ``on_event(type, obj)``;
after a (re)list each current object comes as ``SYNC``, so a consumer that
missed deletions during a gap reconciles everything it is told about; ``on_list``
gets the whole list first (the watch cache, ``rollout.kube.cache``, replaces its
picture with it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rollout.kube.client import KubeClient, Resource
from rollout.kube.errors import KubeError, NotFound

Handler = Callable[[str, dict[str, Any]], None]


class Watcher:
    """Streams one resource type (optionally one namespace) into a handler, in a thread."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        on_event: Handler,
        namespace: str | None = None,
        stream_timeout_s: int = 30,
        backoff_s: float = 0.5,
        on_list: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.on_event = on_event
        self.on_list = on_list  # a cache that replaces its picture at every (re)list
        self.namespace = namespace
        self.stream_timeout_s = stream_timeout_s
        self.backoff_s = backoff_s
        self.resource_version = ""
        self.relists = 0
        self.handler_errors = 0
        self.stream_errors = 0
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(
            target=self.run, name=f"watch-{self.resource.plural}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.stream_timeout_s + 6)

    def relist(self) -> None:
        items, self.resource_version = self.kube.list(self.resource, self.namespace)
        if self.on_list is not None:
            self.on_list(items)
        self.relists += 1
        for item in items:
            self._hand("SYNC", item)

    def _hand(self, kind: str, obj: dict[str, Any]) -> None:
        """One object to the handler; a handler that raises loses that event, not the watch."""
        try:
            self.on_event(kind, obj)
        except Exception:  # noqa: BLE001 the consumer's bug or a malformed object: counted, watch goes on
            self.handler_errors += 1

    def synced(self) -> bool:
        """Listed everything once (the consumer's picture is complete)."""
        return self.relists > 0

    def alive(self) -> bool:
        """Running, or asked to stop (for a health check)."""
        return self.stopping.is_set() or (self._thread is not None and self._thread.is_alive())

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self.resource_version:
                    self.relist()
                for event in self.kube.watch(
                    self.resource, self.namespace, self.resource_version, self.stream_timeout_s
                ):
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        self.resource_version = str(version)
                    if event.get("type") != "BOOKMARK":
                        self._hand(str(event.get("type")), obj)
                    if self.stopping.is_set():
                        return
            except KubeError as error:
                if error.status == 410 or isinstance(error, NotFound):
                    self.resource_version = ""  # too old: list again
                else:
                    self.stopping.wait(self.backoff_s)
            except Exception:  # noqa: BLE001 an answer we cannot read: start over from a fresh list
                self.stream_errors += 1
                self.resource_version = ""
                self.stopping.wait(self.backoff_s)
