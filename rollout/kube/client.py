"""A thin JSON client over the official ``kubernetes`` client, for any resource.

The official ``ApiClient`` does what matters (kubeconfig, contexts, tokens,
TLS, in-cluster config); this module only builds paths, retries what is safe
to retry and translates errors into ``rollout.kube.errors``. One code path
serves core, apps, Istio and our own resources alike, as plain dicts.

Every write the controller makes carries a precondition (a resourceVersion) or
a deterministic name, so retrying a write whose answer was lost is safe: the
retry either finds its own change already made or gets a 409.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson  # answers and watch events decoded ~3x faster than json (a cycle's top cost)
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from rollout.kube.errors import KubeError, Unavailable, translate

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Resource:
    """A resource type by group, version and plural (``""`` is the core group)."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        return f"{base}/{sub}" if sub else base


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of answers worth retrying (refused, timeout, 429, 5xx), with jittered backoff."""

    attempts: int = 6
    base_s: float = 0.05
    cap_s: float = 2.0

    def delay(self, attempt: int, hint: float | None, rand: random.Random) -> float:
        if hint is not None:
            return min(hint, self.cap_s * 4)
        backoff: float = min(self.cap_s, self.base_s * 2**attempt)
        return backoff * (0.5 + rand.random() / 2)


class KubeClient:
    """JSON requests to the API server through an official ``ApiClient``."""

    def __init__(
        self,
        api: k8s.ApiClient,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = random.Random()

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        identity: str = "meshrollout",
        in_cluster: bool = False,
        **kwargs: Any,
    ) -> KubeClient:
        """A client from a kubeconfig (path, or the usual default) or the pod's service account."""
        configuration = k8s.Configuration()
        try:
            if in_cluster:
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                k8s_config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration
                )
        except (k8s_config.ConfigException, OSError) as error:
            raise KubeError(f"cannot load Kubernetes configuration: {error}") from error
        # One retry layer, ours: urllib3 would otherwise also retry (and sleep on) 429/503.
        configuration.retries = urllib3.util.Retry(total=0, respect_retry_after_header=False)
        api = k8s.ApiClient(configuration)
        # Who we are travels in the User-Agent, which API servers record in their audit
        # log (and the lab's emulator uses to tell clients apart); no other header.
        api.user_agent = f"meshrollout/{identity}"
        return cls(api, **kwargs)

    def close(self) -> None:
        self.api.close()

    # -- requests ------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        body: Any,
        content_type: str,
        timeout: float | None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        # The body goes around param_serialize: it is plain JSON already, and the
        # client's walk over it (for its model objects) cost 6% of a busy cycle.
        method, url, header_params, _, post_params = self.api.param_serialize(
            method,
            path,
            query_params=params,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        what = f"{method} {path}"
        try:
            response = self.api.call_api(
                method,
                url,
                header_params,
                body,
                post_params,
                _request_timeout=timeout or self.timeout_s,
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise translate(error, what) from error
        return response

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One request, retried while the answer says 'try again'; the decoded JSON answer."""

        def once() -> Any:
            response = self._send(method, path, query, body, content_type, None)
            data = response.read()
            if not 200 <= response.status < 300:
                failure = ApiException(status=response.status, reason=response.reason)
                failure.body = data
                failure.headers = response.headers
                raise translate(failure, f"{method} {path}")
            return orjson.loads(data) if data else None

        return self.retrying(once)

    def retrying(self, call: Callable[[], T]) -> T:
        """Run ``call``, retrying :class:`Unavailable` per the retry policy."""
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except Unavailable as error:
                if attempt + 1 == self.retry.attempts:
                    raise
                self._sleep(self.retry.delay(attempt, error.retry_after, self._rand))
        raise AssertionError("unreachable")

    # -- verbs ---------------------------------------------------------------
    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", res.path(namespace, name))
        return result

    def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The items and the list's resourceVersion (where a watch should resume)."""
        doc = self.request("GET", res.path(namespace), {"labelSelector": label_selector})
        return list(doc.get("items") or []), str(doc["metadata"].get("resourceVersion", ""))

    def create(self, res: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", res.path(namespace), body=body)
        return result

    def replace(
        self, res: Resource, namespace: str | None, name: str, body: dict[str, Any], sub: str = ""
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PUT", res.path(namespace, name, sub), body=body)
        return result

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        sub: str = "",
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "PATCH", res.path(namespace, name, sub), body=patch, content_type=content_type
        )
        return result

    def delete(self, res: Resource, namespace: str | None, name: str) -> None:
        self.request("DELETE", res.path(namespace, name))

    def watch(
        self,
        res: Resource,
        namespace: str | None,
        resource_version: str,
        timeout_s: int = 30,
        label_selector: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Raw watch events (``{"type", "object"}``) from ``resource_version`` until the
        server ends the stream; an ``ERROR`` event is raised as a translated error."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_s,
            "allowWatchBookmarks": "true",
            "labelSelector": label_selector,
        }
        path = res.path(namespace)
        response = self._send("GET", path, query, None, "", timeout_s + 5)
        if not 200 <= response.status < 300:
            failure = ApiException(status=response.status, reason=response.reason)
            failure.body = response.read()
            raise translate(failure, f"watch {path}")
        try:
            buffer = b""
            for chunk in response.response.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        failure = ApiException(status=status.get("code", 500), reason="watch")
                        failure.body = json.dumps(status)
                        raise translate(failure, f"watch {path}")
                    yield event
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise translate(error, f"watch {path}") from error
        finally:
            response.response.release_conn()
