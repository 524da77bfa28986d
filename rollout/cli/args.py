"""What the ``rollout`` command checks on its command line before any request.

Names become part of API paths, so each is checked as the Kubernetes name it
stands for (a ``/`` or ``?`` in NAME would otherwise change the URL). Flags that
end up in the spec are checked by the model's own fields, so the CLI and the CRD
can never disagree on a bound. Every refusal is a click usage error: exit 2,
one line naming the argument, nothing sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel, ValidationError

from rollout.cli.discover import BadInput, parse_steps
from rollout.model.analysis import Analysis
from rollout.model.base import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    HOST_PATTERN,
    problems_from,
    shorten,
)
from rollout.model.spec import Strategy


class BadArgument(click.BadParameter):
    """A bad value for an argument or a flag, shown like every other refusal of the CLI:
    one line, ``error: ...``, exit 2."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


if TYPE_CHECKING:  # click >= 8.2 types ParamType as a generic; 8.1 cannot subscript it
    _ParamType = click.ParamType[str, Any]
else:
    _ParamType = click.ParamType


class KubeName(_ParamType):
    """A click type for a name that must match a Kubernetes name rule."""

    def __init__(
        self, name: str, what: str, rule: str, pattern: str, max_length: int, example: str
    ) -> None:
        self.name = name  # click's metavar for options
        self.what, self.rule, self.pattern = what, rule, pattern
        self.max_length, self.example = max_length, example

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not such a name, or None when it is one."""
        if not value:
            return f"{self.what} cannot be empty (e.g. {self.example})"
        if len(value) > self.max_length:
            return (
                f"{shorten(value)} is {len(value)} characters long; "
                f"{self.what} has at most {self.max_length}"
            )
        if not re.fullmatch(self.pattern, value):
            return f"{shorten(value)} is not {self.what}: {self.rule} (e.g. {self.example})"
        return None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        problem = self.problem(text)
        if problem:
            raise BadArgument(problem, ctx, param)
        return text


_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
_SUBDOMAIN_RULE = (
    "lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"
)

ROLLOUT_NAME = KubeName(
    "name",
    "a Rollout name",
    f"at most 253 {_SUBDOMAIN_RULE}",
    DNS_SUBDOMAIN_PATTERN,
    253,
    "inventory",
)
NAMESPACE = KubeName(
    "namespace", "a namespace", f"at most 63 {_LABEL_RULE}", DNS_LABEL_PATTERN, 63, "shop"
)
SUBSET = KubeName(
    "subset", "a subset name", f"at most 63 {_LABEL_RULE}", DNS_LABEL_PATTERN, 63, "v2"
)
HOST = KubeName(
    "host",
    "a service host",
    "at most 253 lowercase letters, digits, '-' and '.'",
    HOST_PATTERN,
    253,
    "inventory-service",
)


def check_namespace(value: str) -> str | None:
    """Why ``value`` (from a flag or a kubeconfig) is no namespace, or None."""
    return NAMESPACE.problem(value)


def _model_errors(error: ValidationError, alias: str) -> str:
    parts = []
    for problem in problems_from(error):
        # The flag names the field; a part below it (a step's index) is named too.
        below = problem.field != alias
        parts.append(f"{problem.field}: {problem.message}" if below else problem.message)
    return "; ".join(parts)


def model_field(model: type[BaseModel], alias: str, whole: bool = False) -> Callable[..., Any]:
    """A click callback checking an option as the model's field ``alias`` checks it
    (``whole``: the text must first be a whole number)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        if whole:
            if not re.fullmatch(r"[-+]?[0-9]{1,30}", str(value)):
                raise BadArgument(f"{shorten(value)} is not a whole number", ctx, param)
            value = int(value)
        try:
            model.model_validate({alias: value})
        except ValidationError as error:
            raise BadArgument(_model_errors(error, alias), ctx, param) from None
        return value

    return callback


def steps_option(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """``--steps 5,25,50,100``: whole numbers, a valid plan, or a usage error."""
    try:
        steps = parse_steps(value)
    except BadInput as error:
        raise BadArgument(str(error), ctx, param) from None
    return model_field(Strategy, "steps")(ctx, param, steps)  # type: ignore[no-any-return]


step_duration_option = model_field(Strategy, "stepDuration")
interval_option = model_field(Analysis, "interval")
min_requests_option = model_field(Analysis, "minRequests", whole=True)
max_inconclusive_option = model_field(Analysis, "maxInconclusive", whole=True)
