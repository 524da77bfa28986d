"""Our own small error types for everything that talks to Kubernetes.

Adapters translate the ``kubernetes`` client's exceptions into these with
``raise ... from``, so callers never import the client to handle a failure.
Messages carry the API server's own message, never request bodies or headers
(which may hold secrets).
"""

from __future__ import annotations

import json
from typing import Any


class KubeError(Exception):
    """Any failure talking to the Kubernetes API."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class NotFound(KubeError):
    """The object (or its resource type) does not exist."""


class Conflict(KubeError):
    """A write lost a race: the object changed since it was read (409), or already exists."""


class Invalid(KubeError):
    """The API server refused the content (400, 422): fix the input, do not retry."""


class Unavailable(KubeError):
    """The API server could not answer: refused, timed out, 429 or 5xx. Worth retrying."""


class Forbidden(KubeError):
    """Authenticated but not allowed (401, 403): the RBAC rules lack a verb."""


def _server_message(body: Any) -> str:
    try:
        doc = json.loads(body) if isinstance(body, str | bytes) else None
    except (ValueError, TypeError):
        doc = None
    if isinstance(doc, dict) and doc.get("message"):
        return str(doc["message"])
    return ""


def translate(error: Exception, what: str) -> KubeError:
    """Map a client exception (ApiException, urllib3 errors, timeouts) to one of ours."""
    status = getattr(error, "status", None)
    if not isinstance(status, int) or status == 0:
        return Unavailable(f"{what}: the API server did not answer ({type(error).__name__})")
    detail = _server_message(getattr(error, "body", None)) or str(getattr(error, "reason", ""))
    message = f"{what}: {status} {detail}".strip()
    headers = getattr(error, "headers", None) or {}
    retry_after: float | None = None
    raw_retry = headers.get("Retry-After") if hasattr(headers, "get") else None
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    kinds: dict[int, type[KubeError]] = {
        404: NotFound,
        409: Conflict,
        400: Invalid,
        422: Invalid,
        415: Invalid,
        401: Forbidden,
        403: Forbidden,
    }
    kind = kinds.get(status, Unavailable if status == 429 or status >= 500 else KubeError)
    return kind(message, status=status, retry_after=retry_after)
