"""Custom checks confined to their tenant: parsing, namespace enforcement, quoting.

Every accepted query is parsed again here, independently of the code under test, and
every selector in it must read only the tenant's namespace; everything else must be
refused with a message.
"""

from __future__ import annotations

import promql_parser as pp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.analysis.promql import MAX_QUERY_CHARS, Refused, confine, quote, re2_literal

TENANT = "shop"


def value_of(query: str) -> str:
    """The value of the first matcher of a one-selector query."""
    tree = pp.parse(query)
    assert isinstance(tree, pp.VectorSelector)
    return tree.matchers.matchers[0].value


def selectors(query: str) -> list[pp.VectorSelector]:
    """Every vector selector of a query (those inside matrix selectors too)."""
    found: list[pp.VectorSelector] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.VectorSelector):
            found.append(node)
        return True

    pp.walk(pp.parse(query), visit)
    return found


def confined(query: str, label: str = "namespace", namespace: str = TENANT) -> bool:
    """True when every selector of ``query`` has exactly ``label="namespace"``."""
    found = selectors(query)
    return all(
        [(m.op, m.value) for m in s.matchers.matchers if m.name == label]
        == [(pp.MatchOp.Equal, namespace)]
        and not s.matchers.or_matchers
        for s in found
    )


# (attack, text of the check): each must be refused, or rendered confined.
ATTACKS = [
    (
        "closes the old wrapper and tags another rollout's key",
        'vector(1)), "meshrollout_check", "c", "", ""), "meshrollout_key", "victim/web", "", "")'
        " or label_replace(label_replace((vector(9)",
    ),
    ("`or` with another namespace's series", 'up{namespace="shop"} or up{namespace="victim"}'),
    ("a regex on the namespace", 'sum(rate(http_requests_total{namespace=~".+"}[5m]))'),
    ("a negative matcher on the namespace", 'count(up{namespace!="shop"})'),
    ("two matchers on the namespace", 'up{namespace="shop", namespace="victim"}'),
    ("a subquery over another namespace", 'max_over_time(up{namespace="victim"}[1h:1m])'),
    (
        "a nested subquery",
        'max_over_time(max_over_time(rate(x{namespace="v"}[1m])[1h:1m])[2h:10m])',
    ),
    ("every series of the server", '{__name__=~".+"}'),
    ("a name-only selector", 'count({__name__=~"istio_.*"})'),
    ("a join that copies another namespace", 'up * on() group_left(namespace) up{namespace="v"}'),
    ("label_replace renaming the namespace", 'label_replace(up, "namespace", "victim", "", "")'),
    ("a comment hiding a second term", 'up # note\n or up{namespace="victim"}'),
    ("a newline in a label value", 'up{job="a\\nb\\"c"}'),
    ("unicode in a label value", 'up{job="日本\\u2028é"}'),
    ("a raw string", 'up{job=`x"y`, namespace=`victim`}'),
    ("an offset into the past", 'up{namespace="victim"} offset 1d'),
    ("an aggregation over everything", 'topk(100000, {__name__=~".+"})'),
    ("a scalar", "scalar(up)"),
    ("absent() of another namespace", 'absent(up{namespace="victim"})'),
    ("the @ modifier", 'up{namespace="victim"} @ 1700000000'),
    ("@ start()", "up @ start()"),
    ("an experimental function reading target_info", "info(up)"),
    ("`or` inside a selector", 'up{namespace="shop" or namespace="victim"}'),
    ("a UTF-8 quoted label name", 'up{"name.space"="victim"}'),
    ("a range vector answer", "up[5m]"),
    ("a string answer", '"text"'),
    ("not PromQL", "sum(("),
    ("empty", ""),
    ("too deep", "(" * 100 + "up" + ")" * 100),
    ("too long", "up + " * (MAX_QUERY_CHARS // 5) + "up"),
]


@pytest.mark.parametrize(("attack", "text"), ATTACKS, ids=[a for a, _ in ATTACKS])
def test_a_check_is_confined_to_its_namespace_or_refused(attack: str, text: str) -> None:
    """Whatever the check says, what is sent reads only the tenant's namespace."""
    try:
        query = confine(text, "namespace", TENANT)
    except Refused as error:
        query, refusal = "", str(error)
    else:
        refusal = ""
    if not query:
        assert refusal  # refused, saying why
        return
    assert confined(query), query
    assert "victim" not in "".join(str(s.matchers) for s in selectors(query))
    assert query.startswith(("topk(2, ", "vector("))


REFUSED = [
    ("sum((", "is not PromQL"),
    ("", "is not PromQL"),
    ("up @ 100", "@ modifier"),
    ("info(up)", "not a stable PromQL function"),
    ('up{a="b" or c="d"}', "`or` inside a selector"),
    ('up{"a.b"="c"}', "not a label name"),
    ("up[5m]", "answers a range vector"),
    ("rate(up[5m])[1h:]", "answers a range vector"),
    ('"text"', "answers a string"),
    ("(" * 100 + "up" + ")" * 100, "nests deeper than"),
    ("up+" * 2000 + "up", "characters long"),
    ('vector(1)), "k", "v", "", "") or (vector(2)', "is not PromQL"),
    ("up offset NaN", "is not PromQL"),  # the parser panics on it
    ("up @ -10", "@ modifier"),  # reading its time panics
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_what_cannot_be_confined_is_refused_saying_why(text: str, message: str) -> None:
    """Refusals say what is wrong."""
    with pytest.raises(Refused, match=message):
        confine(text, "namespace", TENANT)


RENDERED = [
    (
        'sum(rate(jobs{ns="a", namespace="other"}[5m])) or up',
        "namespace",
        'topk(2, (sum (rate(jobs{ns="a", namespace="shop"}[300s]))) or (up{namespace="shop"}))',
    ),
    ("vector(3)", "namespace", "topk(2, vector(3.0))"),
    ("1 + 2", "namespace", "vector((1.0) + (2.0))"),
    ("time()", "namespace", "vector(time())"),
    (
        'histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="q\\"\\n"}[1m] offset 1m)))',
        "namespace",
        "topk(2, histogram_quantile(0.99, sum by (le) "
        '(rate(x_bucket{a="q\\"\\n", namespace="shop"}[60s] offset 60s))))',
    ),
    (
        "a > bool on(x) group_right(y) -b",
        "namespace",
        'topk(2, (a{namespace="shop"}) > bool on (x) group_right (y) (-(b{namespace="shop"})))',
    ),
    (
        'istio_requests_total{destination_service_namespace="victim", namespace="v"}',
        "destination_service_namespace",
        'topk(2, istio_requests_total{namespace="v", destination_service_namespace="shop"})',
    ),
    (
        'count_values("v", up) unless ignoring(a) up',
        "namespace",
        'topk(2, (count_values ("v", up{namespace="shop"})) unless ignoring (a) '
        '(up{namespace="shop"}))',
    ),
]


@pytest.mark.parametrize(("text", "label", "expected"), RENDERED)
def test_rendered_text(text: str, label: str, expected: str) -> None:
    """The query sent is rendered from the tree, operands parenthesised, values quoted."""
    assert confine(text, label, TENANT) == expected
    assert confined(expected, label)


QUOTED = [
    ("plain", '"plain"'),
    ('a"b', '"a\\"b"'),
    ("a\\b", '"a\\\\b"'),
    ("a\nb\rc\td", '"a\\nb\\rc\\td"'),
    ("\x00\x7f", '"\\x00\\x7f"'),
    ("\u2028\ufeff", '"\\u2028\\ufeff"'),
    ("日本 é 🚀", '"日本 é 🚀"'),
    ("\U000e0001", '"\\U000e0001"'),
]


@pytest.mark.parametrize(("value", "literal"), QUOTED)
def test_quote_escapes_per_promql_string_rules(value: str, literal: str) -> None:
    """Backslash, quote, newlines and every unprintable character are escaped."""
    assert quote(value) == literal
    assert value_of(f"up{{a={literal}}}") == value


def test_a_lone_surrogate_is_refused() -> None:
    """Text that is not Unicode cannot be sent."""
    with pytest.raises(Refused, match="surrogate"):
        quote("a\ud800")


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_any_text_survives_quoting(value: str) -> None:
    """Whatever the value, the parser reads back exactly it, as one string."""
    assert value_of(f"up{{a={quote(value)}}}") == value


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20))
def test_any_value_in_a_check_stays_confined(value: str) -> None:
    """A value anywhere in a check never widens it."""
    query = confine(f"up{{job={quote(value)}}} or down", "namespace", TENANT)
    assert confined(query)
    assert [m.value for m in selectors(query)[0].matchers.matchers if m.name == "job"] == [value]


@pytest.mark.parametrize("value", ["v1", "v1.2+b", "a|b", "(.*)", "x\\y", "[^]$"])
def test_re2_literal_matches_only_itself(value: str) -> None:
    """Regex metacharacters of a version are escaped for RE2."""
    import re

    assert re.fullmatch(re2_literal(value), value)
    assert not re.fullmatch(re2_literal(value), value + "x")


TOKENS = [*'abxyz_:{}[]()"`=~!<>+-*/%^,. 0123456789@\\\n#']
TOKENS += ["or ", "and ", "unless ", "offset ", "by ", "without ", "on", "ignoring", "bool "]
TOKENS += ["sum", "rate", "topk", "label_replace", "group_left", "1h", "5m", ":", "Inf", "NaN"]
TOKENS += ["start()", "-1", "1e999", 'namespace="victim"', "namespace", "__name__", "\x00", "é"]


@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30).map("".join))
def test_any_text_is_confined_or_refused(text: str) -> None:
    """Fuzzed checks: a Refused or a confined query, never another error (the parser's
    own panics included)."""
    try:
        query = confine(text, "namespace", TENANT)
    except Refused:
        return
    assert confined(query), query
