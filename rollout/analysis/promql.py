"""PromQL text we can trust: quoting, and tenants' custom checks confined to their namespace.

A custom check is parsed with a real PromQL parser (``promql-parser``); what does not
parse, or uses what we cannot confine (``@``, ``or`` inside a selector, experimental
functions, names Prometheus 2 cannot read), is refused with a :class:`Refused` error.
The query sent is then *rendered by us* from the parsed tree, never copied from the
user's text: every vector and matrix selector gets the namespace matcher (any matcher
the user wrote on that label is replaced, as prom-label-proxy does), every string is
quoted by :func:`quote`, every name is checked, and every operand is parenthesised so
precedence cannot be played with. The rendering is parsed once more and checked, so a
bug here refuses a check rather than widening it. Pure: no I/O.

(The parser's own ``str()`` is not used: it prints label values unescaped.)
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

import promql_parser as pp

MAX_QUERY_CHARS = 4096
"""Longest query parsed: the parser is recursive and crashes the process on ~16k-deep input."""
MAX_DEPTH = 64
"""Deepest expression tree rendered (no real check comes near)."""
MAX_SERIES = 2
"""A check asks for at most this many series; more than one is "no data"."""

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_BINARY = {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or"}
_BINARY |= {"unless", "atan2"}
# The parser's enums are not hashable: looked up by equality.
_Pairs = tuple[tuple[object, str], ...]
_MATCH: _Pairs = ((pp.MatchOp.Equal, "="), (pp.MatchOp.NotEqual, "!="), (pp.MatchOp.Re, "=~"))
_MATCH += ((pp.MatchOp.NotRe, "!~"),)
_GROUP: _Pairs = (
    (pp.VectorMatchCardinality.ManyToOne, "group_left"),
    (pp.VectorMatchCardinality.OneToMany, "group_right"),
)
_VALUE: _Pairs = ((pp.ValueType.Vector, "vector"), (pp.ValueType.Scalar, "scalar"))
_VALUE += ((pp.ValueType.Matrix, "range vector"),)


def _lookup(pairs: _Pairs, key: object, default: str | None) -> str | None:
    return next((text for k, text in pairs if k == key), default)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


class Refused(ValueError):
    """A query we will not send; the message says why."""


def quote(value: str) -> str:
    r"""A PromQL double-quoted string literal holding exactly ``value``.

    Backslash, double quote and every character that is not printable (newlines,
    controls, separators) are escaped; a lone surrogate cannot be sent at all.

    >>> print(quote('a"b\\c\nd\u2028é'))
    "a\"b\\c\nd\u2028é"
    """
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise Refused(f"{value[:40]!r} holds a lone surrogate, not text")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def re2_literal(value: str) -> str:
    """``value`` as an RE2 regular expression that matches only itself.

    >>> re2_literal("v1.2+b")
    'v1\\\\.2\\\\+b'
    """
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


def metric_name(name: str, field: str) -> str:
    """``name`` if it is a PromQL metric name, else :class:`Refused` naming ``field``."""
    if not METRIC_NAME.fullmatch(name):
        raise Refused(f"{field}: {name[:60]!r} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return name


def label_name(name: str, what: str = "label name") -> str:
    if not LABEL_NAME.fullmatch(name):
        raise Refused(f"{name[:60]!r} is not a {what} Prometheus accepts ([a-zA-Z_][a-zA-Z0-9_]*)")
    return name


def parse(text: str) -> pp.Expr:
    """The parsed query, or :class:`Refused` (too long, or not PromQL)."""
    if len(text) > MAX_QUERY_CHARS:
        raise Refused(f"is {len(text)} characters long; at most {MAX_QUERY_CHARS}")
    try:
        return pp.parse(text)
    except ValueError as error:
        raise Refused(f"is not PromQL: {' '.join(str(error).split())[:200]}") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 the parser panics on some input (`x offset NaN`)
        raise Refused(f"is not PromQL: {' '.join(str(error).split())[:200]}") from None


def confine(text: str, label: str, namespace: str) -> str:
    """The check ``text`` rewritten to read only series with ``label="namespace"``, and to
    answer at most :data:`MAX_SERIES` series. :class:`Refused` when it cannot be.

    >>> confine('sum(rate(jobs{ns="a", namespace="other"}[5m])) or up', "namespace", "shop")
    'topk(2, (sum (rate(jobs{ns="a", namespace="shop"}[300s]))) or (up{namespace="shop"}))'
    """
    label_name(label, "namespace label")
    tree = parse(text)
    try:
        kind = _type(tree)
        body = _Renderer(label, namespace).render(tree, 0)
        if kind == "vector":
            query = f"topk({MAX_SERIES}, {body})"
        elif kind == "scalar":
            query = f"vector({body})"
        else:
            raise Refused(f"answers a {kind}; a check must answer an instant vector or a scalar")
        verify(query, label, namespace)
    except Refused:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 the parser's bindings panic on some trees
        raise Refused(f"cannot be rendered ({type(error).__name__})") from None
    return query


def verify(query: str, label: str, namespace: str) -> None:
    """Parse ``query`` again and check every selector in it reads only the namespace."""
    problems: list[str] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.VectorSelector):
            on_label = [m for m in node.matchers.matchers if m.name == label]
            exact = [m for m in on_label if m.op == pp.MatchOp.Equal and m.value == namespace]
            if len(on_label) != 1 or len(exact) != 1 or node.matchers.or_matchers:
                problems.append(f"a selector escapes {label}={namespace!r}")
        return True

    pp.walk(pp.parse(query), visit)
    if problems:
        raise Refused(problems[0])


def _type(node: pp.Expr) -> str:
    """The value type of an expression: vector, scalar, matrix or string."""
    if isinstance(node, pp.NumberLiteral):
        return "scalar"
    if isinstance(node, pp.StringLiteral):
        return "string"
    if isinstance(node, pp.VectorSelector | pp.AggregateExpr):
        return "vector"
    if isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
        return "range vector"
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _type(node.expr)
    if isinstance(node, pp.Call):
        return _lookup(_VALUE, node.func.return_type, "string") or "string"
    if isinstance(node, pp.BinaryExpr):
        both = {_type(node.lhs), _type(node.rhs)}
        return "scalar" if both == {"scalar"} else "vector"
    raise Refused(f"holds an expression we do not know ({type(node).__name__})")


def _duration(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    return f"{sign}{ms // 1000}s" if ms % 1000 == 0 else f"{sign}{ms}ms"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "(-Inf)"
    text = repr(float(value))
    return f"({text})" if value < 0 else text


class _Renderer:
    """PromQL text from a parsed tree, with the namespace enforced on every selector."""

    def __init__(self, label: str, namespace: str) -> None:
        self.label = label
        self.enforced = f"{label}={quote(namespace)}"

    def render(self, node: pp.Expr, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise Refused(f"nests deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if isinstance(node, pp.NumberLiteral):
            return _number(node.val)
        if isinstance(node, pp.StringLiteral):
            return quote(node.val)
        if isinstance(node, pp.VectorSelector):
            return self._selector(node) + self._modifiers(node)
        if isinstance(node, pp.MatrixSelector):
            vs = node.vector_selector
            return f"{self._selector(vs)}[{_duration(node.range)}]{self._modifiers(vs)}"
        if isinstance(node, pp.SubqueryExpr):
            if node.at is not None:
                raise Refused("uses the @ modifier; a check is evaluated at the evaluation time")
            if node.range is None:
                raise Refused("has a subquery without a range")
            step = _duration(node.step) if node.step is not None else ""
            offset = f" offset {_duration(node.offset)}" if node.offset is not None else ""
            return f"({self.render(node.expr, d)})[{_duration(node.range)}:{step}]{offset}"
        if isinstance(node, pp.ParenExpr):
            return f"({self.render(node.expr, d)})"
        if isinstance(node, pp.UnaryExpr):
            return f"-({self.render(node.expr, d)})"
        if isinstance(node, pp.Call):
            return self._call(node, d)
        if isinstance(node, pp.AggregateExpr):
            return self._aggregate(node, d)
        if isinstance(node, pp.BinaryExpr):
            return self._binary(node, d)
        raise Refused(f"holds an expression we do not know ({type(node).__name__})")

    def _selector(self, vs: pp.VectorSelector) -> str:
        if vs.matchers.or_matchers:
            raise Refused("uses `or` inside a selector, which Prometheus does not read")
        parts = []
        for m in vs.matchers.matchers:
            if m.name == self.label:
                continue  # replaced by the enforced matcher, as prom-label-proxy does
            op = _lookup(_MATCH, m.op, None)
            if op is None:
                raise Refused(f"uses a matcher we do not know on {m.name!r}")
            parts.append(f"{label_name(m.name)}{op}{quote(m.value)}")
        parts.append(self.enforced)
        name = metric_name(vs.name, "metric") if vs.name is not None else ""
        return name + "{" + ", ".join(parts) + "}"

    def _modifiers(self, vs: pp.VectorSelector) -> str:
        if vs.at is not None:
            raise Refused("uses the @ modifier; a check is evaluated at the evaluation time")
        return f" offset {_duration(vs.offset)}" if vs.offset is not None else ""

    def _call(self, node: pp.Call, d: int) -> str:
        name = node.func.name
        if not _IDENTIFIER.fullmatch(name) or node.func.experimental:
            raise Refused(f"calls {name!r}, which is not a stable PromQL function")
        return f"{name}({', '.join(self.render(a, d) for a in node.args)})"

    def _aggregate(self, node: pp.AggregateExpr, d: int) -> str:
        op = str(node.op)
        if not _IDENTIFIER.fullmatch(op):
            raise Refused(f"uses the aggregation {op!r}")
        grouping = ""
        if node.modifier is not None:
            by = "by" if node.modifier.type == pp.AggModifierType.By else "without"
            grouping = f" {by} ({', '.join(label_name(n) for n in node.modifier.labels)})"
        args = [self.render(node.expr, d)]
        if node.param is not None:
            args.insert(0, self.render(node.param, d))
        return f"{op}{grouping} ({', '.join(args)})"

    def _binary(self, node: pp.BinaryExpr, d: int) -> str:
        op = str(node.op)
        if op not in _BINARY:
            raise Refused(f"uses the operator {op!r}")
        words = [op]
        mod = node.modifier
        if mod is not None:
            if mod.fill_values.lhs is not None or mod.fill_values.rhs is not None:
                raise Refused("uses fill modifiers, which Prometheus 2 does not read")
            if mod.return_bool:
                words.append("bool")
            if mod.matching is not None:
                on = "on" if mod.matching.type == pp.LabelModifierType.Include else "ignoring"
                words.append(f"{on} ({', '.join(label_name(n) for n in mod.matching.labels)})")
            group = _lookup(_GROUP, mod.card, None)
            if group is not None:
                labels = ", ".join(label_name(n) for n in mod.group_labels or [])
                words.append(f"{group} ({labels})")
        lhs, rhs = self.render(node.lhs, d), self.render(node.rhs, d)
        return f"({lhs}) {' '.join(words)} ({rhs})"
