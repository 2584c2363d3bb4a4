"""The bundled pack on Urdu: scores on the labelled Urdu set (tests/data/rules_pack_labelled_urdu.yaml).

`python -m tests.rules.test_urdu_pack` prints precision and recall per article and per rule,
and every article where the rules differ from the labels.
"""

from __future__ import annotations

import re

import pytest
import yaml

from rules import Document, Rule, compile_rules
from rules.compile import parse_alias_entry
from rules.query import AliasRef, And, Field, Near, Not, Or, Term, parse_query
from tests.conftest import DATA
from tests.rules.pack_scores import labelled_scores, load_pack, print_report

URDU_SET = DATA / "rules_pack_labelled_urdu.yaml"
_ARABIC = re.compile("[\u0600-\u06ff]")


def urdu_terms() -> dict[str, dict[str, bool]]:
    """Each Urdu term of the pack (an alias entry or a word of a query) -> {rule id: positive?}.

    A term only under NOT is not positive: it can never be a reason a rule matched, only
    one it did not.
    """
    ruleset, _ = load_pack()
    used_by: dict[str, dict[str, bool]] = {}

    def visit(rule_id: str, node, negated: bool) -> None:
        if isinstance(node, Not):
            visit(rule_id, node.child, not negated)
            return
        if isinstance(node, (AliasRef, Term)):
            terms = [parse_alias_entry(e) for e in ruleset.aliases[node.name]] if isinstance(node, AliasRef) else [node]
            for term in terms:
                if _ARABIC.search(term.text):
                    rules = used_by.setdefault(term.written, {})
                    rules[rule_id] = rules.get(rule_id, False) or not negated
            return
        for child in _children(node):
            visit(rule_id, child, negated)

    for rule in ruleset.rules:
        visit(rule.id, parse_query(rule.query), False)
    return used_by


def _children(node) -> tuple:
    if isinstance(node, (And, Or)):
        return node.children
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, Field):
        return (node.expr,)
    return ()


def _example_outcomes() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Urdu term -> the rules whose match: true examples report it as a matched term, and
    -> the rules whose match: false examples contain it (the term alone matches the example)."""
    ruleset, matcher = load_pack()
    used_by = urdu_terms()
    reported: dict[str, set[str]] = {}
    present: dict[str, set[str]] = {}
    singles = {term: compile_rules([Rule(id="t", query=_as_query(term))]) for term in used_by}
    for rule in ruleset.rules:
        for example in rule.tests:
            doc = Document(title=example.title, summary=example.text, content=example.text)
            if example.match:
                found = matcher.match_rule(rule.id, doc, check_enabled=False, check_feed=False)
                for t in found.terms if found else ():
                    reported.setdefault(t.term, set()).add(rule.id)
            else:
                for term, single in singles.items():
                    if rule.id in used_by[term] and single.match(doc):
                        present.setdefault(term, set()).add(rule.id)
    return reported, present


def _as_query(term: str) -> str:
    bare = term.rstrip("*")
    return (f'"{bare}"' if len(bare.split()) > 1 else bare) + ("*" if term.endswith("*") else "")


def test_pack_speaks_urdu_for_every_actor_place_and_mineral():
    used_by = urdu_terms()
    for name in ("ریکوڈک", "ریکو ڈک", "یونائیٹڈ اسٹیٹس اسٹریٹجک میٹلز", "تانبا", "تانبے", "سونا", "سونے",
                 "ایف ڈبلیو او", "این ایل سی", "موٹا اینگل", "سیندک", "چاغی", "بلوچستان", "خیبر پختونخوا",
                 "گلگت بلتستان", "اینٹیمنی", "ٹنگسٹن", "لیتھیم", "نایاب زمینی", "اہم معدنیات", "مفاہمتی یادداشت",
                 "معاہدہ", "ریفائنری", "کنسیشن", "برآمدات", "ٹوکنائز*", "بیرک گولڈ"):
        assert name in used_by, name


def test_every_urdu_term_has_a_matching_and_a_non_matching_example():
    """Each Urdu term is a reported reason in a `match: true` example of a rule that uses it,
    and stands in a `match: false` example of such a rule (so `rules check` proves both)."""
    reported, present = _example_outcomes()
    used_by = urdu_terms()
    positive = {t: {r for r, pos in rules.items() if pos} for t, rules in used_by.items()}
    unmatched = sorted(t for t in used_by if positive[t] and not reported.get(t, set()) & positive[t])
    unrefused = sorted(t for t in used_by if not present.get(t, set()) & set(used_by[t]))
    assert not unmatched, f"no match: true example reports {unmatched}"
    assert not unrefused, f"no match: false example contains {unrefused}"


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("سونے کی قیمت میں فی تولہ اضافہ", "صرافہ بازار میں سونا مہنگا ہو گیا، کراچی میں 24 قیراط سونا نئی سطح پر پہنچا۔"),
        ("بلوچستان میں بارش اور برفباری", "کوئٹہ، چاغی اور گوادر میں سردی کی شدت بڑھ گئی۔"),
        ("کوئٹہ میں دھماکا، تین اہلکار زخمی", "بلوچستان پولیس کے مطابق حملہ آور فرار ہو گئے۔"),
        ("پاکستان اور امریکا کا کرکٹ میچ بارش سے متاثر", "امریکی ٹیم کے خلاف میچ ڈیلاس میں کھیلا جانا تھا۔"),
        ("پاکستان اور امریکا کا ٹیکسٹائل معاہدہ", "امریکا کو پاکستانی ٹیکسٹائل کی برآمدات پر ٹیرف کم ہوگا۔"),
    ],
)
def test_urdu_near_misses_fire_nothing(title, summary):
    _, matcher = load_pack()
    assert matcher.match(Document(title=title, summary=summary)) == []


def test_pack_precision_and_recall_on_the_urdu_set():
    scores = labelled_scores(URDU_SET)
    # Targets of issue 18.4 at the article level (measured figures: README "The bundled rules pack").
    assert scores.articles.recall >= 0.9 and scores.articles.precision >= 0.85


def test_urdu_set_is_large_and_balanced():
    articles = yaml.safe_load(URDU_SET.read_text(encoding="utf-8"))["articles"]
    on_beat = [a for a in articles if a["expected"]]
    assert len(articles) >= 60
    assert len(on_beat) >= 30 and len(articles) - len(on_beat) >= 30
    assert all(a["title"] and a["summary"] for a in articles)


if __name__ == "__main__":  # the figures for the README
    print_report(URDU_SET)
