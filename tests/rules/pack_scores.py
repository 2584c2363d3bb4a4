"""Precision and recall of the bundled pack on a labelled set, per rule and per article.

A labelled set is a YAML file of `articles`, each with `id`, `title`, `summary` and
`expected` (the rule ids that should fire; empty for a near miss). Per rule, the counts are
micro-averaged over rules (every expected or fired rule of every article counts once). Per
article, an article is on the beat when it expects any rule, and flagged when any rule fires.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from monitor.config import bundled_rules_pack
from rules import Document, Matcher, compile_rules, load_rules


def load_pack() -> tuple:
    path = bundled_rules_pack()
    ruleset = load_rules([(str(path), path.read_text(encoding="utf-8"))])
    return ruleset, compile_rules(ruleset.rules, ruleset.aliases)


@dataclass
class Counts:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positive + self.false_negative
        return self.true_positive / expected if expected else 1.0

    def add(self, expected: bool, fired: bool) -> None:
        self.true_positive += expected and fired
        self.false_positive += fired and not expected
        self.false_negative += expected and not fired


@dataclass
class Scores:
    rules: Counts = field(default_factory=Counts)  # micro-averaged over rules
    articles: Counts = field(default_factory=Counts)
    by_rule: dict[str, Counts] = field(default_factory=dict)
    misses: list[tuple[str, str, set[str], set[str]]] = field(default_factory=list)  # id, title, missed, extra


def labelled_scores(path: Path, matcher: Matcher | None = None) -> Scores:
    if matcher is None:
        _, matcher = load_pack()
    articles = yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]
    scores = Scores(by_rule={rule.id: Counts() for rule in matcher.rules})
    for article in articles:
        fired = {m.rule_id for m in matcher.match(Document(title=article["title"], summary=article["summary"]))}
        expected = set(article["expected"])
        for rule_id in fired | expected:
            hit = (rule_id in expected, rule_id in fired)
            scores.rules.add(*hit)
            scores.by_rule[rule_id].add(*hit)
        scores.articles.add(bool(expected), bool(fired))
        if fired != expected:
            scores.misses.append((article["id"], article["title"], expected - fired, fired - expected))
    return scores


def print_report(path: Path) -> None:
    """The figures for the README: per article, per rule, and every article that differs."""
    scores = labelled_scores(path)
    a, r = scores.articles, scores.rules
    print(f"{path.name}")
    print(
        f"articles: precision {a.precision:.3f}  recall {a.recall:.3f}"
        f"  ({a.true_positive} on the beat flagged, {a.false_positive} near misses flagged, {a.false_negative} missed)"
    )
    print(
        f"rules (micro-averaged): precision {r.precision:.3f}  recall {r.recall:.3f}"
        f"  (expected hits found {r.true_positive}, extra {r.false_positive}, missed {r.false_negative})"
    )
    print(f"{'rule':32} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}")
    for rule_id, c in scores.by_rule.items():
        print(
            f"{rule_id:32} {c.precision:9.3f} {c.recall:7.3f} {c.true_positive:4} {c.false_positive:4} {c.false_negative:4}"
        )
    counted = Counter(len(missed) + len(extra) for _, _, missed, extra in scores.misses)
    print(f"articles where the rules differ from the labels: {len(scores.misses)} ({dict(sorted(counted.items()))})")
    for article_id, title, missed, extra in scores.misses:
        parts = [f"missed {', '.join(sorted(missed))}" if missed else "", f"extra {', '.join(sorted(extra))}" if extra else ""]
        print(f"  {article_id} {title[:60]}: {'; '.join(p for p in parts if p)}")
