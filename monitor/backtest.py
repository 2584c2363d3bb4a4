"""`rules backtest`: a candidate rules file over the archive, compared with live hits. Reads only."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from monitor.parse.canonical import canonical_url
from monitor.exceptions import MonitorError
from monitor.pipeline import document_for
from rules import Matcher
from rules.types import Rule
from storage.articles import articles_since
from storage.hits import hits_for_rule_ids

# (canonical article URL, rule id) -> relevant?
Labels = dict[tuple[str, str], bool]


@dataclass(frozen=True)
class RuleBacktest:
    rule_id: str
    matches: int
    live: int
    gained: int
    lost: int
    precision: float | None = None
    recall: float | None = None
    gained_ids: frozenset[int] = frozenset()  # articles the candidate matches and the live rule did not
    lost_ids: frozenset[int] = frozenset()

    def as_json(self) -> dict:
        return {
            "rule": self.rule_id, "matches": self.matches, "live": self.live, "gained": self.gained,
            "lost": self.lost, "precision": self.precision, "recall": self.recall,
        }


@dataclass(frozen=True)
class BacktestReport:
    articles: int
    rules: list[RuleBacktest]


def read_labels(path: Path) -> Labels:
    """CSV rows `url,rule,relevant` (a header row is allowed); relevant is yes/no/true/false/1/0."""
    labels: Labels = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("url", "article_url", "#"):
                continue
            if len(row) < 3:
                raise MonitorError(f"{path}:{number}: expected url,rule,relevant")
            answer = row[2].strip().lower()
            if answer not in ("yes", "no", "true", "false", "1", "0", "y", "n"):
                raise MonitorError(f"{path}:{number}: relevant must be yes or no, got {row[2]!r}")
            labels[(canonical_url(row[0].strip()), row[1].strip())] = answer in ("yes", "true", "1", "y")
    return labels


def backtest_rules(
    db: sqlite_utils.Database,
    matcher: Matcher,
    rules: tuple[Rule, ...],
    since: datetime | None,
    labels: Labels | None,
    advance: Callable[[int], None] = lambda n: None,
) -> BacktestReport:
    candidate: dict[str, set[int]] = {rule.id: set() for rule in rules}
    urls: dict[int, str] = {}
    total = 0
    for batch in articles_since(db, since):
        for article in batch:
            urls[article.id] = canonical_url(article.url or article.link)
            for match in matcher.match(document_for(article)):
                candidate[match.rule_id].add(article.id)
        total += len(batch)
        advance(len(batch))
    live = hits_for_rule_ids(db, since)
    report = []
    for rule in rules:
        found = candidate[rule.id]
        before = live.get(rule.id, set())
        precision = recall = None
        if labels is not None:
            precision, recall = _precision_recall(rule.id, found, urls, labels)
        report.append(RuleBacktest(rule.id, len(found), len(before), len(found - before), len(before - found), precision, recall,
                                   frozenset(found - before), frozenset(before - found)))
    return BacktestReport(articles=total, rules=report)


def _precision_recall(rule_id: str, found: set[int], urls: dict[int, str], labels: Labels) -> tuple[float | None, float | None]:
    labelled = {url: relevant for (url, rid), relevant in labels.items() if rid == rule_id}
    if not labelled:
        return None, None
    matched_urls = {urls[a] for a in found}
    true_positive = sum(1 for url, relevant in labelled.items() if relevant and url in matched_urls)
    false_positive = sum(1 for url, relevant in labelled.items() if not relevant and url in matched_urls)
    relevant_total = sum(1 for relevant in labelled.values() if relevant)
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else None
    recall = true_positive / relevant_total if relevant_total else None
    return precision, recall
