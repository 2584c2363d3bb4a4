"""The query language: trees, error columns, printing back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import RuleSyntaxError, format_query, parse_query
from rules.query import AliasRef, And, Field, Near, Not, Or, Term


def W(text: str, wildcard: bool = False) -> Term:
    letters = [c for c in text if c.isalpha()]
    caps = len(letters) >= 2 and all(c.isupper() for c in letters)
    return Term(text, False, wildcard, caps)


def P(text: str, wildcard: bool = False) -> Term:
    letters = [c for c in text if c.isalpha()]
    caps = len(letters) >= 2 and all(c.isupper() for c in letters)
    return Term(text, True, wildcard, caps)


TREES = [
    ("gold", W("gold")),
    ("Gold", W("Gold")),
    ("USSM", Term("USSM", case_sensitive=True)),
    ("U.S.", Term("U.S.", case_sensitive=True)),
    ("G7", Term("G7", case_sensitive=False)),
    ("Gilgit-Baltistan", W("Gilgit-Baltistan")),
    ('"rare earth"', P("rare earth")),
    ('"REKO DIQ"', Term("REKO DIQ", phrase=True, case_sensitive=True)),
    ('"rare earth*"', P("rare earth", wildcard=True)),
    ('"rare earth"*', P("rare earth", wildcard=True)),
    ("mineral*", W("mineral", wildcard=True)),
    ("gold silver", And((W("gold"), W("silver")))),
    ("gold AND silver", And((W("gold"), W("silver")))),
    ("gold and silver", And((W("gold"), W("and"), W("silver")))),
    ("gold OR silver copper", Or((W("gold"), And((W("silver"), W("copper")))))),
    ("a OR b AND c", Or((W("a"), And((W("b"), W("c")))))),
    ("(a OR b) c", And((Or((W("a"), W("b"))), W("c")))),
    ("a AND (b AND c)", And((W("a"), W("b"), W("c")))),
    ("a OR (b OR c)", Or((W("a"), W("b"), W("c")))),
    ("NOT gold silver", And((Not(W("gold")), W("silver")))),
    ("gold NOT silver", And((W("gold"), Not(W("silver"))))),
    ("gold AND NOT silver", And((W("gold"), Not(W("silver"))))),
    ("NOT NOT gold", Not(Not(W("gold")))),
    ("a NEAR/5 b", Near(W("a"), W("b"), 5, False)),
    ("a NEAR/0 b", Near(W("a"), W("b"), 0, False)),
    ("a ONEAR/3 b", Near(W("a"), W("b"), 3, True)),
    ('(a OR "b c") NEAR/2 @x', Near(Or((W("a"), P("b c"))), AliasRef("x"), 2, False)),
    ("NOT a NEAR/3 b", Not(Near(W("a"), W("b"), 3))),
    ("x a NEAR/3 b", And((W("x"), Near(W("a"), W("b"), 3)))),
    ("title:antimony", Field("title", W("antimony"))),
    ("title: antimony", Field("title", W("antimony"))),
    ('content:"rare earth"', Field("content", P("rare earth"))),
    ("summary:(a OR b)", Field("summary", Or((W("a"), W("b"))))),
    ("title:@ussm", Field("title", AliasRef("ussm"))),
    ("title:(a NEAR/2 b)", Field("title", Near(W("a"), W("b"), 2))),
    ("@ussm", AliasRef("ussm")),
    ("@rare_earths-2", AliasRef("rare_earths-2")),
    ("NEARBY", Term("NEARBY", case_sensitive=True)),
    ("gold(silver)", And((W("gold"), W("silver")))),
]


@pytest.mark.parametrize("query, tree", TREES, ids=[q for q, _ in TREES])
def test_parse_tree(query: str, tree) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize("query, tree", TREES, ids=[q for q, _ in TREES])
def test_format_round_trip(query: str, tree) -> None:
    assert parse_query(format_query(parse_query(query))) == tree


def test_term_words_are_normalised() -> None:
    assert W("Gilgit‑Baltistan’s").words == ("gilgit", "baltistan")
    assert P("Rekó  Diq").words == ("reko", "diq")
    assert W("mineral", wildcard=True).written == "mineral*"


def test_columns_are_recorded_but_not_compared() -> None:
    tree = parse_query("gold  AND @ussm")
    assert isinstance(tree, And)
    assert [c.column for c in tree.children] == [1, 11]
    assert tree == parse_query("gold AND @ussm")


ERRORS = [
    ("", 1, "empty query"),
    ("(gold OR silver", 16, "expected ')' to close the '(' at column 1"),
    ("gold)", 5, "unexpected ')'"),
    ("gold AND", 9, "'AND' needs a word, phrase or '(' after it"),
    ("AND gold", 1, "'AND' needs a word or phrase before it"),
    ("gold OR OR silver", 9, "after 'OR', found 'OR'"),
    ("gold NOT", 9, "'NOT' needs a word"),
    ("gold NEAR silver", 6, "NEAR needs a distance like NEAR/5"),
    ("gold NEAR/x silver", 6, "NEAR needs a distance like NEAR/5"),
    ("gold ONEAR silver", 6, "ONEAR needs a distance like ONEAR/5"),
    ("gold NEAR/500 silver", 6, "at most 100"),
    ("gold near/5 silver", 6, "operators are written in capitals: NEAR/5"),
    ("gold NEAR/5", 12, "needs a word, phrase or '(' after it"),
    ("NEAR/5 gold", 1, "before it"),
    ('gold "rare earth', 6, "unterminated phrase"),
    ('gold ""', 6, "empty phrase"),
    ("gold mi*ne", 8, "'*' is only allowed at the end of a word"),
    ('"ra*re earth"', 4, "'*' is only allowed at the end"),
    ("a*", 1, "at least 2 letters"),
    ("gold -*", 6, "'-*' has no letters"),
    ("body:gold", 1, "unknown field 'body:'"),
    ("title:", 7, "'title:' needs a word"),
    ("title:summary:gold", 7, "cannot follow another"),
    ("title:(summary:gold)", 8, "'summary:' inside 'title:(...)'"),
    ("()", 2, "empty parentheses"),
    ("(gold OR )", 10, "after 'OR', found ')'"),
    ("a NEAR/3 (b AND c)", 10, "NEAR works on words, phrases, @aliases"),
    ("a NEAR/3 NOT b", 10, "after 'NEAR', found 'NOT'"),
    ("title:a NEAR/3 b", 1, "put AND, NOT and field scopes outside"),
    ("a NEAR/3 b NEAR/3 c", 12, "NEAR cannot be chained"),
    ("-gold", 1, "write NOT gold"),
    ("@", 1, "invalid alias reference '@'"),
    ("@1abc", 1, "invalid alias reference"),
    ("gold &&", 6, "'&&' has no letters or digits"),
]


@pytest.mark.parametrize("query, column, message", ERRORS, ids=[q or "<empty>" for q, _, _ in ERRORS])
def test_syntax_error_column(query: str, column: int, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_query(query)
    assert info.value.column == column
    assert message in info.value.message
    assert info.value.query == query


def test_syntax_error_pointer_and_location() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_query("(gold")
    error = info.value
    assert error.pointer() == "(gold\n     ^"
    assert str(error) == "column 6: expected ')' to close the '(' at column 1, found the end of the query"
    located = error.located("rules.yaml", 4, 13)
    assert str(located) == "rules.yaml:4:13: expected ')' to close the '(' at column 1, found the end of the query"
    assert located.column == 6


def test_nesting_is_bounded() -> None:
    assert parse_query("(" * 32 + "gold" + ")" * 32) == W("gold")
    with pytest.raises(RuleSyntaxError, match="too deeply nested") as info:
        parse_query("(" * 1000 + "gold" + ")" * 1000)
    assert info.value.column == 33
    with pytest.raises(RuleSyntaxError, match="too deeply nested"):
        parse_query("NOT " * 1000 + "gold")
    assert parse_query("gold " * 2000) == And(tuple([W("gold")] * 2000))


def test_non_string_query() -> None:
    with pytest.raises(TypeError):
        parse_query(None)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------

QUERYISH = st.text(alphabet=list('ab gold"()*@:-/_ANDORNOTEA05tiles.&’\u00a0\u2011'), max_size=40)


@given(st.one_of(st.text(max_size=40), QUERYISH))
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_raises_syntax_error(text: str) -> None:
    try:
        tree = parse_query(text)
    except RuleSyntaxError as e:
        assert 1 <= e.column <= len(text) + 1
        assert e.message
    else:
        assert parse_query(format_query(tree)) == tree


WORDS = st.sampled_from(["gold", "Copper", "USSM", "REE", "Gilgit-Baltistan", "U.S.", "Rekó", "G7", "nickel"])


def _terms() -> st.SearchStrategy:
    words = st.builds(lambda w, star: f"{w}*" if star and w[-1].isalnum() else w, WORDS, st.booleans())
    phrases = st.builds(
        lambda ws, star: '"' + " ".join(ws) + ("*" if star and ws[-1][-1].isalnum() else "") + '"',
        st.lists(WORDS, min_size=1, max_size=3),
        st.booleans(),
    )
    aliases = st.sampled_from(["@ussm", "@rare_earths", "@pk"])
    return st.one_of(words, phrases, aliases)


def _near_operand() -> st.SearchStrategy:
    return st.one_of(_terms(), st.lists(_terms(), min_size=2, max_size=3).map(lambda ts: "(" + " OR ".join(ts) + ")"))


def _queries(with_fields: bool = True) -> st.SearchStrategy:
    near = st.builds(
        lambda a, op, n, b: f"{a} {op}/{n} {b}",
        _near_operand(),
        st.sampled_from(["NEAR", "ONEAR"]),
        st.integers(0, 20),
        _near_operand(),
    )
    base = st.one_of(_terms(), near)

    def extend(inner: st.SearchStrategy) -> st.SearchStrategy:
        options = [
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: " AND ".join(f"({x})" for x in xs)),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: " ".join(f"({x})" for x in xs)),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: " OR ".join(xs)),
            inner.map(lambda x: f"NOT ({x})"),
        ]
        return st.one_of(*options)

    tree = st.recursive(base, extend, max_leaves=8)
    if not with_fields:
        return tree
    scoped = st.builds(lambda f, q: f"{f}:({q})", st.sampled_from(["title", "summary", "content"]), tree)
    return st.one_of(tree, scoped, st.builds(lambda a, b: f"{a} {b}", scoped, tree))


@given(_queries())
@settings(max_examples=300, deadline=None)
def test_format_then_parse_is_identity(query: str) -> None:
    tree = parse_query(query)
    printed = format_query(tree)
    assert parse_query(printed) == tree
    assert format_query(parse_query(printed)) == printed
