"""Shared building blocks of the Rollout model: the camelCase base, durations,
names, and the translation of pydantic's errors into messages a person can act on.

Used by ``rollout.model.spec`` and ``rollout.model.status``; callers outside the
model use :func:`parse_spec` and :class:`SpecError` through ``rollout.model``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class CamelModel(BaseModel):
    """Base of every model: camelCase on the wire, unknown fields refused, immutable.

    Immutability is what lets the engine stay pure: a new status is always a copy.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict as the Kubernetes API stores it (camelCase, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration as Istio and Kubernetes write them.

    >>> parse_duration("1m30s")
    datetime.timedelta(seconds=90)
    >>> parse_duration("250ms")
    datetime.timedelta(microseconds=250000)
    """
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 2m, 1h or 1m30s")
    millis = sum(int(n) * _UNITS_MS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(milliseconds=millis)


def _check_duration(text: str) -> str:
    if parse_duration(text) <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return text


Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, examples=["30s", "2m", "1h"]),
    AfterValidator(_check_duration),
]
"""A positive duration such as ``30s``, ``2m``, ``1h`` or ``1m30s`` (kept as text)."""

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A DNS-1123 label: what Kubernetes allows as a subset or object name part."""

HOST_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_PATTERN)]
"""A service host, short (``inventory-service``) or qualified (``...svc.cluster.local``)."""


_PATTERN_MEANING = {
    DURATION_PATTERN: "a duration; write it like 30s, 2m, 1h or 1m30s",
    DNS_LABEL_PATTERN: "a DNS-1123 label (lowercase letters, digits and '-', e.g. v2)",
    HOST_PATTERN: "a host name (lowercase letters, digits, '-' and '.')",
}


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` (a dotted path relative to the model that raises it).

    Cross-field validators use this so that the message still names the one field
    a person has to change, not the model that noticed.
    """
    return PydanticCustomError("rollout_field", "{message}", {"field": field, "message": message})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the dotted field path and what to do about it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SpecError(ValueError):
    """A Rollout spec that fails validation; ``problems`` lists every field at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


def join_path(*parts: str | int) -> str:
    """Join field names and list indices the way kubectl prints them.

    >>> join_path("spec", "strategy", "steps", 2)
    'spec.strategy.steps[2]'
    """
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part:
            path += f".{part}" if path and not part.startswith("[") else part
    return path


def _problem(error: Any, prefix: str) -> Problem:
    extra = (error.get("ctx") or {}).get("field", "")
    path = join_path(prefix, *error["loc"], extra)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling; fields are camelCase)"
    elif error["type"] == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        what = _PATTERN_MEANING.get(pattern, f"text matching {pattern}")
        message = f"{error['input']!r} is not {what}"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return Problem(path, message)


def problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    """Translate a pydantic ``ValidationError`` into our :class:`Problem` list."""
    return [_problem(e, prefix) for e in error.errors()]
