"""Shared building blocks of the Rollout model: the camelCase base, durations,
names, and the translation of pydantic's errors into messages a person can act on.

Used by ``rollout.model.spec`` and ``rollout.model.status``; callers outside the
model use :func:`parse_spec` and :class:`SpecError` through ``rollout.model``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
DURATION_MAX_LENGTH = 32
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
LONGEST_DURATION = timedelta(days=366)
"""No duration anywhere in the product may be longer (each field has its own, lower, bound)."""


def shorten(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters: input echoed in a message stays small."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _millis(text: object, field: str) -> int:
    """The milliseconds a duration's text says, however many; SpecError if it is no duration."""
    if (
        not isinstance(text, str)
        or len(text) > DURATION_MAX_LENGTH
        or not re.fullmatch(DURATION_PATTERN, text)
    ):
        what = "a duration" if isinstance(text, str) else "text"
        raise SpecError(
            [Problem(field, f"{shorten(text)} is not {what}; write it like 30s, 2m, 1h or 1m30s")]
        )
    return sum(int(n) * _UNITS_MS[unit] for n, unit in _DURATION_PART.findall(text))


def parse_duration(text: object, field: str = "") -> timedelta:
    """Parse a Go-style duration as Istio and Kubernetes write them.

    Anything but a duration of at most :data:`LONGEST_DURATION` raises
    :class:`SpecError` (a ``ValueError``) naming ``field``, never another exception.

    >>> parse_duration("1m30s")
    datetime.timedelta(seconds=90)
    >>> parse_duration("250ms")
    datetime.timedelta(microseconds=250000)
    """
    millis = _millis(text, field)
    if millis > LONGEST_DURATION // timedelta(milliseconds=1):
        raise SpecError([Problem(field, f"{text!r} is longer than a year; write a shorter one")])
    return timedelta(milliseconds=millis)


def _duration_within(shortest: str, longest: str) -> Callable[[str], str]:
    """A validator: the duration is more than zero, at least ``shortest``, at most ``longest``."""
    low, high = _millis(shortest, ""), _millis(longest, "")

    def check(text: str) -> str:
        value = _millis(text, "")
        if value <= 0:
            raise ValueError(f"{text!r} must be longer than zero")
        if value < low:
            raise ValueError(f"{text!r} is shorter than {shortest}, the least this field allows")
        if value > high:
            raise ValueError(f"{text!r} is longer than {longest}, the most this field allows")
        return text

    return check


_DURATION_TEXT = Field(
    max_length=DURATION_MAX_LENGTH, pattern=DURATION_PATTERN, examples=["30s", "2m", "1h"]
)

Duration = Annotated[str, _DURATION_TEXT, AfterValidator(_duration_within("1ms", "24h"))]
"""A duration such as ``30s``, ``2m``, ``1h`` or ``1m30s`` (kept as text): 1ms..24h."""

ShortDuration = Annotated[str, _DURATION_TEXT, AfterValidator(_duration_within("1ms", "1h"))]
"""A duration of 1ms..1h (outlier detection's scan interval)."""

IntervalDuration = Annotated[str, _DURATION_TEXT, AfterValidator(_duration_within("1s", "1h"))]
"""The time between evaluations: 1s..1h (more often would only load Prometheus)."""

NEVER = "never"
WINDOW_PATTERN = r"^(never|([0-9]+(ms|s|m|h))+)$"
_within_a_month = _duration_within("1ms", "744h")


def _window(text: str) -> str:
    return text if text == NEVER else _within_a_month(text)


WindowDuration = Annotated[
    str,
    Field(max_length=DURATION_MAX_LENGTH, pattern=WINDOW_PATTERN, examples=["10m", "never"]),
    AfterValidator(_window),
]
"""A delay of 1ms..744h (a month), or ``never``: how long something is kept."""

MAX_COUNT = 1_000_000_000
"""The most requests (or anything counted) a field may ask for."""

MAX_MAGNITUDE = 1e15
"""The largest absolute value of a free number (a custom check's bound): exact in a float."""

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
"""A count of requests: 0..1e9."""

Bound = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
"""A finite number of magnitude at most 1e15."""

LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""One line of printable text: no control characters (no newline, no escape codes)."""

TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Printable text over several lines: tabs and newlines, no other control characters."""

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A DNS-1123 label: what Kubernetes allows as a namespace and Istio as a subset name."""

DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
"""A DNS-1123 subdomain: what Kubernetes allows as the name of most objects (Secrets,
VirtualServices, DestinationRules, Rollouts)."""

HOST_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_PATTERN)]
"""A service host, short (``inventory-service``) or qualified (``...svc.cluster.local``)."""

HEADER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$"
METRIC_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
COMMAND_ID_PATTERN = SECRET_KEY_PATTERN
CHANNEL_PATTERN = r"^#?[^\s<>&|@!#]+$"
LINK_PATTERN = r'^https?://[^\s<>|"]+$'
"""An http(s) URL without the characters a URL never holds unencoded (space, <, >, |, ")."""

_PATTERN_MEANING = {
    DURATION_PATTERN: "a duration; write it like 30s, 2m, 1h or 1m30s",
    WINDOW_PATTERN: "a duration like 30s, 10m or 2h, or never",
    DNS_LABEL_PATTERN: "a DNS-1123 label (lowercase letters, digits and '-', e.g. v2)",
    DNS_SUBDOMAIN_PATTERN: "a Kubernetes name (lowercase letters, digits, '-' and '.', "
    "starting and ending with a letter or digit)",
    HOST_PATTERN: "a host name (lowercase letters, digits, '-' and '.')",
    LINE_PATTERN: "one line of printable text (no control characters)",
    TEXT_PATTERN: "printable text (no control characters but tabs and newlines)",
    HEADER_NAME_PATTERN: "a header name in lowercase (letters, digits, '-' and '_')",
    METRIC_PATTERN: "a Prometheus metric name (letters, digits, '_' and ':')",
    SECRET_KEY_PATTERN: "made of letters, digits, '-', '_' and '.' only",
    CHANNEL_PATTERN: "a Slack channel (#releases or an id like C0123ABCD, no spaces or <>&|@!)",
    LINK_PATTERN: "an http(s) URL without spaces, <, >, | or quotes",
}


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` (a dotted path relative to the model that raises it).

    Cross-field validators use this so that the message still names the one field
    a person has to change, not the model that noticed.
    """
    return PydanticCustomError("rollout_field", "{message}", {"field": field, "message": message})


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


def _part(part: Any) -> str | int:
    """A path part as it may be shown: a map key or unknown field name cut short."""
    if isinstance(part, int):
        return part
    text = str(part)
    return text if len(text) <= 64 else f"{text[:63]}…"


def _problem(error: Any, prefix: str) -> Problem:
    extra = (error.get("ctx") or {}).get("field", "")
    loc = list(error["loc"])
    about_key = bool(loc) and loc[-1] == "[key]"
    if about_key:
        loc.pop()
    path = join_path(prefix, *(_part(p) for p in loc), extra)
    message = error["msg"]
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown field (check its spelling; fields are camelCase)"
    elif kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        what = _PATTERN_MEANING.get(pattern, f"text matching {pattern}")
        message = f"{shorten(error['input'])} is not {what}"
    elif kind == "string_too_long":
        limit = error["ctx"]["max_length"]
        message = f"{len(error['input'])} characters is too long; at most {limit}"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if about_key:
        message = f"the entry's name: {message}"
    return Problem(path, message)


def problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    """Translate a pydantic ``ValidationError`` into our :class:`Problem` list."""
    return [_problem(e, prefix) for e in error.errors()]
