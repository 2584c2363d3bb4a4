"""Many rules compiled together still match exactly what each rule alone would.

Correctness at scale, not speed: bench/bench_match.py measures speed.
"""

from __future__ import annotations

import random

from rules_reference import reference

from rules import Document, Rule, compile_rules, parse_query, tokenise

METALS = ["antimony", "copper", "gold", "tungsten", "lithium", "cobalt", "nickel", "tin", "zinc", "silver"]
PLACES = ["Pakistan", "Chile", "Peru", "Congo", "Balochistan", "Gilgit-Baltistan", "Zambia", "Bolivia"]
TOPICS = ["export", "exports", "ban", "deal", "mine", "mines", "mining", "refinery", "tariff", "price"]
FILLER = ["the", "a", "said", "on", "monday", "officials", "new", "will", "year", "report", "and", "of"]
ALIASES = {"andes": ("Chile", "Peru", "Bolivia"), "battery": ("lithium", "cobalt", "nickel", '"battery metals"')}


def _rules(rng: random.Random, count: int) -> list[Rule]:
    shapes = [
        lambda: rng.choice(METALS),
        lambda: f"{rng.choice(METALS)} AND {rng.choice(PLACES)}",
        lambda: f"({rng.choice(METALS)} OR {rng.choice(METALS)}) AND {rng.choice(TOPICS)}",
        lambda: f"{rng.choice(METALS)} NEAR/{rng.randint(0, 4)} {rng.choice(TOPICS)}*",
        lambda: f"{rng.choice(METALS)} ONEAR/{rng.randint(0, 3)} {rng.choice(PLACES)}",
        lambda: f"{rng.choice(PLACES)} AND {rng.choice(METALS)} NOT {rng.choice(TOPICS)}",
        lambda: f'"{rng.choice(METALS)} {rng.choice(TOPICS)}" OR {rng.choice(PLACES)} {rng.choice(TOPICS)}',
        lambda: f"@{rng.choice(list(ALIASES))} AND {rng.choice(TOPICS)}",
        lambda: f"title:{rng.choice(METALS)} AND content:({rng.choice(PLACES)} OR {rng.choice(TOPICS)})",
        lambda: f"({rng.choice(METALS)} AND {rng.choice(TOPICS)}) OR ({rng.choice(PLACES)} AND mine*)",
    ]
    rules = []
    for i in range(count):
        fields = rng.choice([("title", "summary", "content"), ("title", "summary", "content"), ("content",)])
        rules.append(Rule(id=f"r{i}", query=rng.choice(shapes)(), fields=fields))
    return rules


def _text(rng: random.Random, words: int) -> str:
    vocab = METALS + PLACES + TOPICS + FILLER * 3
    out = []
    for _ in range(words):
        out.append(rng.choice(vocab))
        out.append(rng.choice([" ", " ", ", ", ". ", "\n", "\u2019s ", " \u2014 "]))
    return "".join(out)


def test_1500_rules_agree_with_each_rule_alone() -> None:
    rng = random.Random(7)
    rules = _rules(rng, 1500)
    matcher = compile_rules(rules, ALIASES)
    assert len(matcher) == 1500
    trees = {r.id: parse_query(r.query) for r in rules}
    docs = [Document(title=_text(rng, 8), summary=_text(rng, 20), content=_text(rng, 120)) for _ in range(100)]
    total = 0
    for doc in docs:
        tokens = {f: tuple(tokenise(getattr(doc, f))) for f in ("title", "summary", "content")}
        got = {m.rule_id: m for m in matcher.match(doc)}
        expected = {r.id for r in rules if reference(trees[r.id], tokens, r.fields, ALIASES)}
        assert set(got) == expected
        total += len(expected)
        for m in got.values():
            assert m.terms
            for t in m.terms:
                assert getattr(doc, t.field)[t.start : t.end] == t.text
    assert total > 500  # the corpus exercises the rules


def test_disabled_and_feed_scoped_rules_at_scale() -> None:
    rng = random.Random(11)
    rules = [
        Rule(id=r.id, query=r.query, enabled=i % 3 != 0, feeds=("dawn",) if i % 5 == 0 else None)
        for i, r in enumerate(_rules(rng, 1200))
    ]
    matcher = compile_rules(rules, ALIASES)
    doc = Document(title=_text(rng, 8), content=_text(rng, 200), feed="bbc")
    tokens = {"title": tokenise(doc.title), "summary": (), "content": tokenise(doc.content)}
    got = {m.rule_id for m in matcher.match(doc)}
    expected = {
        r.id
        for r in rules
        if r.enabled and r.feeds is None and reference(parse_query(r.query), tokens, r.fields, ALIASES)
    }
    assert got == expected and expected
