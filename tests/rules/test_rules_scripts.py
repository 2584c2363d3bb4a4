"""Arabic-script (Urdu) normalisation and scripts without spaces (issue 18.1, 18.2).

The normalisation table lives in docs/urdu.md; each of its rows is a case here, so the
documentation and the code cannot drift apart.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Document, Rule, compile_rules, normalise, tokenise
from rules.script_folds import ARABIC_SCRIPT, fold_arabic_script
from tests.conftest import REPO

TABLE = REPO / "docs" / "urdu.md"
_CODE = re.compile(r"`([^`]+)`")


def table_rows() -> list[tuple[str, list[str], list[str], list[str]]]:
    """(mapping, typed spellings, matching spellings, spellings that must differ) per row."""
    text = TABLE.read_text(encoding="utf-8")
    section = text.split("## Arabic-script normalisation", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        mapping, typed, matches, _why = cells
        same, _, differ = matches.partition("(not")
        rows.append((mapping, _CODE.findall(typed), _CODE.findall(same), _CODE.findall(differ)))
    return rows


ROWS = table_rows()


def test_the_table_has_a_row_per_mapping():
    assert len(ROWS) >= 25
    mappings = " ".join(mapping for mapping, *_ in ROWS)
    for char in ARABIC_SCRIPT:
        code = f"U+{ord(char):04X}"
        assert code in mappings or char.isdigit(), f"{code} has no row in docs/urdu.md"


@pytest.mark.parametrize(("mapping", "typed", "same", "differ"), ROWS, ids=[r[0] for r in ROWS])
def test_each_row_of_the_table(mapping: str, typed: list[str], same: list[str], differ: list[str]):
    assert typed and len(typed) == len(same), mapping
    for written, expected in zip(typed, same):
        assert tokenise(written) == tokenise(expected), (mapping, written, expected)
        # the row's spelling, as a rule, matches the other spelling in an article, and back
        for query, text in ((expected, written), (written, expected)):
            found = _hits(query, text)
            assert found, (mapping, query, text)
            for start, end in found:  # offsets are the article's own characters
                assert tokenise(text[start:end]) == tokenise(text), (mapping, text[start:end])
    for written in differ:
        assert tokenise(written) != tokenise(typed[0]), (mapping, written)


def _hits(query: str, text: str) -> list[tuple[int, int]]:
    term = f'"{query}"' if len(tokenise(query)) > 1 else query
    found = compile_rules([Rule(id="r", query=term)]).match(Document(title=text))
    return [(t.start, t.end) for t in found[0].terms] if found else []


def test_issue_examples_match_as_typed_by_arabic_keyboards():
    rules = compile_rules([Rule(id="reko", query="ریکوڈک"), Rule(id="critical", query='"اہم معدنیات"')])
    title = "ريكوڈك منصوبے میں اهم معدنيات"
    (reko, critical) = rules.match(Document(title=title))
    assert [t.text for t in reko.terms] == ["ريكوڈك"]
    assert [t.text for t in critical.terms] == ["اهم معدنيات"]


def test_highlight_maps_back_through_tatweel_harakat_and_hamza():
    title = "پاکِستان کا ریکو\u0640\u0640ڈک منصوبہ، دیئے گئے"
    found = compile_rules([Rule(id="r", query="پاکستان AND ریکوڈک AND دیے")]).match(Document(title=title))
    assert [t.text for t in found[0].terms] == ["پاکِستان", "ریکو\u0640\u0640ڈک", "دیئے"]
    for t in found[0].terms:
        assert title[t.start : t.end] == t.text


def test_digits_of_every_kind_are_one_number():
    rule = compile_rules([Rule(id="r", query='"2.6 ارب"')])
    for text in ("2.6 ارب ڈالر", "۲.۶ ارب ڈالر", "٢.٦ ارب ڈالر", "۲٫۶ ارب ڈالر"):
        assert rule.match(Document(title=text)), text
    assert not rule.match(Document(title="۲.۷ ارب ڈالر"))


def test_urdu_punctuation_separates_words():
    assert tokenise("ریکوڈک۔چاغی،تانبا؟سونا") == ("ریکوڈک", "چاغی", "تانبا", "سونا")


# --- scripts written without spaces ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("锑", "中国限制锑出口", True),  # antimony, inside a run of characters
        ("锑", "中国限制锑出口", True),
        ("稀土", "中国稀土出口管制", True),  # rare earths: the characters in a row
        ("稀土", "稀有金属和土地", False),  # the same characters apart
        ("稀土 AND 出口", "中国稀土出口管制", True),
        ("锑 NEAR/1 出口", "锑的出口", True),  # NEAR counts characters here
        ("锑 NEAR/1 出口", "锑矿石的出口", False),
        ("アンチモン", "中国のアンチモン輸出規制", True),  # Japanese katakana
        ("ทองคำ", "ราคาทองคำวันนี้", True),  # Thai: gold
        ("พลวง", "ราคาทองคำวันนี้", False),  # Thai: antimony
        ("안티몬", "중국 안티몬 수출", True),  # Korean has spaces: whole words
        ("안티", "중국 안티몬 수출", False),
    ],
)
def test_scripts_without_spaces_match_a_term_wherever_its_characters_stand(query, text, expected):
    found = compile_rules([Rule(id="r", query=query)]).match(Document(title=text))
    assert bool(found) is expected
    for t in found[0].terms if found else ():
        assert text[t.start : t.end] == t.text and t.text.replace(" ", "") in query.replace(" AND ", "")


# --- properties over random Arabic-script text ---------------------------------------

ARABIC_TEXT = st.lists(
    st.sampled_from(
        list("ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھءیےيكهةۃئؤأآۓىۀ ۔،؟٫٬")
        + ["\u064e", "\u0650", "\u0651", "\u0670", "\u0640", "\u200c", "\u200d", "۲", "٦", "7", "&amp;", "’s"]
    ),
    max_size=40,
).map("".join)


@given(ARABIC_TEXT)
@settings(max_examples=300, deadline=None)
def test_every_word_maps_back_to_original_characters(text: str):
    n = normalise(text)
    assert len(n.words) == len(n.text)
    for m in re.finditer(r"[^ ]+", n.words):
        start, end = n.original_span(*m.span())
        assert 0 <= start <= end <= len(text)
        assert m.group() in "".join(tokenise(text[start:end]))


@given(ARABIC_TEXT)
@settings(max_examples=200, deadline=None)
def test_folding_is_stable_and_agrees_with_the_signature_fold(text: str):
    words = tokenise(text)
    assert tokenise(" ".join(words)) == words  # normalising normalised words changes nothing
    # The signatures' cheap fold gives the same words for the Urdu letters (no entities here).
    if "&" not in text:
        assert tuple(normalise(fold_arabic_script(text)).words.split()) == words
