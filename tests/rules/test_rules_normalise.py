"""Normalisation: what is unified, and offsets that map back to the original."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules import normalise, tokenise
from rules.normalise import fold_char, word_view


@pytest.mark.parametrize(
    "original, expected",
    [
        ("Antimony", "antimony"),
        ("ANTIMONY EXPORTS", "antimony exports"),
        ("AT&amp;T", "at&t"),
        ("Tom &amp;amp; Jerry", "tom &amp; jerry"),  # decoded once, as html.unescape does
        ("caf&eacute; &#233;t&#xE9;", "cafe ete"),
        ("&nbsp;gold", " gold"),
        ("R&D and &unknown; stay", "r&d and &unknown; stay"),
        ("\ufb01nance", "finance"),  # ligature, NFKC
        ("\uff30\uff41\uff4b", "pak"),  # fullwidth letters
        ("Rekó Diq", "reko diq"),
        ("Reko\u0301 Diq", "reko diq"),  # combining accent
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("\u2018quoted\u2019 \u201cdouble\u201d", "'quoted' \"double\""),
        ("Pakistan\u2019s", "pakistan's"),
        ("a\u2010b\u2011c\u2012d\u2013e\u2014f\u2015g\u2212h\ufe58i\ufe63j\uff0dk", "a-b-c-d-e-f-g-h-i-j-k"),
        ("anti\u00admony", "antimony"),  # soft hyphen removed
        ("Pak\u200bistan", "pakistan"),  # zero-width space removed
        ("a\u00a0b\u202fc\u2009d\u3000e", "a b c d e"),
        ("more\u2026", "more."),
        ("€500m • ©", " 500m    "),
    ],
)
def test_normalise_text(original: str, expected: str) -> None:
    assert normalise(original).text == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("Pakistan’s Frontier Works", ("pakistan", "frontier", "works")),
        ("PAKISTAN'S", ("pakistan",)),
        ("miners' strike", ("miners", "strike")),
        ("Gilgit\u2011Baltistan", ("gilgit", "baltistan")),
        ("U.S.-Pakistan", ("u", "s", "pakistan")),
        ("rare\nearth,  elements", ("rare", "earth", "elements")),
        ("$500\u00a0million", ("500", "million")),
        ("snake_case", ("snake", "case")),
        ("O’Neill", ("o", "neill")),
        ("Ελλάδα", ("ελλαδα",)),
    ],
)
def test_tokenise(text: str, words: tuple[str, ...]) -> None:
    assert tokenise(text) == words


def test_word_view_keeps_length_and_blanks_separators() -> None:
    n = normalise("Pakistan’s  «USSM» — &amp; co.")
    assert len(n.words) == len(n.text)
    assert n.words.split() == ["pakistan", "ussm", "co"]
    assert word_view("pakistan's gold") == "pakistan   gold"


def test_offsets_map_back_through_entities_and_expansions() -> None:
    text = "&quot;Stra\u00dfe&quot; &amp; \ufb01ne Rek\u00f3 anti\u00admony"
    n = normalise(text)
    assert n.text == '"strasse" & fine reko antimony'
    for word in ("strasse", "fine", "reko", "antimony"):
        start = n.text.index(word)
        assert n.original_text(start, start + len(word)) in {"Stra\u00dfe", "\ufb01ne", "Rek\u00f3", "anti\u00admony"}
    start = n.text.index("strasse")
    assert n.original_span(start, start + 7) == (6, 12)
    # A span ending inside an expansion covers the whole original character.
    assert n.original_text(start, start + 5) == "Stra\u00df"
    assert n.original_text(0, 1) == "&quot;"


def test_identity_offsets_for_plain_and_same_length_text() -> None:
    assert normalise("Plain ASCII").identity
    n = normalise("Pakistan\u2019s \u201cdeal\u201d \u2014 Rek\u00f3")
    assert n.identity
    assert n.original_span(3, 8) == (3, 8)


def test_has_lowercase_checks_the_original_capitals() -> None:
    n = normalise("USSM and Ussm and ussm")
    assert not n.has_lowercase(0, 4)
    assert n.has_lowercase(9, 13)
    assert n.has_lowercase(18, 22)


def test_fold_char() -> None:
    assert fold_char("\u00c9") == "e"
    assert fold_char("\u2014") == "-"
    assert fold_char("\u00ad") == ""
    assert fold_char("\u00bd") == "1 2"  # ½ -> 1⁄2, the fraction slash separates
    assert fold_char("Ж") == "ж"


TRICKY = st.lists(
    st.one_of(
        st.sampled_from(list("abcXYZ 0123'’“”-\u2011\u2014\u00a0\u00ad\u200b.,&;#\n\u00e9\u0301\u00df\ufb01\u00bd\u0130")),
        st.sampled_from(["&amp;", "&eacute;", "&#8217;", "&nbsp;", "&ampere", "&#x41;", "&bogus;", "'s", "’S"]),
    ),
    max_size=40,
).map("".join)


@given(st.one_of(TRICKY, st.text(max_size=40)))
@settings(max_examples=400, deadline=None)
def test_every_word_maps_back_to_original_text_that_has_it(text: str) -> None:
    n = normalise(text)
    assert len(n.words) == len(n.text)
    assert n.text == normalise(text).text  # deterministic
    last_start = 0
    for m in re.finditer(r"[^ ]+", n.words):
        start, end = n.original_span(*m.span())
        assert 0 <= start <= end <= len(text)
        assert start >= last_start
        last_start = start
        # The original characters behind a word normalise to text holding that word.
        assert m.group() in tokenise(text[start:end]) or m.group() in "".join(tokenise(text[start:end]))


@given(TRICKY)
@settings(max_examples=200, deadline=None)
def test_normalising_twice_changes_nothing_more(text: str) -> None:
    once = normalise(text).text
    # A decoded "&" may start a new entity ("&amp;ii;" -> "&ii;" -> "ⅈ"): one decoding is the contract.
    assume("&" not in once)
    assert tokenise(once) == tokenise(text)
