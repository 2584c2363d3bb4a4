"""The rules page's playground and backtest: try a query before it goes live.

`try_query` compiles a candidate query with the live files' aliases and matches one pasted
article against it and against every live rule (pure). `backtest_query` runs the candidate
over the archive's last N days with monitor/backtest.py and names the articles it would
gain and lose against the live hits of the rule it replaces (reads only).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlite_utils

from alerts.render import Segment, field_segments
from monitor.backtest import backtest_rules
from monitor.rulesource import LoadedRules
from rules import RulesError, RuleSyntaxError, compile_rules
from rules.types import Document, Rule
from storage.articles import get_article
from storage.types import Article, MatchedTerm

CANDIDATE = "candidate"
MAX_BACKTEST_DAYS = 90
MAX_LISTED = 50  # gained / lost articles named on the page (the counts are exact)


@dataclass(frozen=True)
class PlaygroundMatch:
    rule_id: str
    severity: str
    title: tuple[Segment, ...]
    text: tuple[Segment, ...]
    terms: tuple[str, ...]


@dataclass(frozen=True)
class PlaygroundResult:
    error: str | None = None  # the candidate query does not compile: what and where
    error_column: int | None = None
    candidate: PlaygroundMatch | None = None  # None: the candidate did not match (or no query)
    live: tuple[PlaygroundMatch, ...] = ()  # the live rules that match the article


@dataclass(frozen=True)
class BacktestResult:
    error: str | None = None
    articles: int = 0
    days: int = 0
    replaces: str | None = None
    matches: int = 0
    live: int = 0
    gained: tuple[Article, ...] = field(default_factory=tuple)
    lost: tuple[Article, ...] = field(default_factory=tuple)
    gained_count: int = 0
    lost_count: int = 0


def candidate_rule(query: str, replaces: Rule | None) -> Rule:
    """The query as a rule: the replaced rule's settings (fields, feeds) with the new query."""
    if replaces is not None:
        return replace(replaces, query=query, tests=(), enabled=True)
    return Rule(id=CANDIDATE, query=query)


def try_query(loaded: LoadedRules, query: str, title: str, text: str) -> PlaygroundResult:
    document = Document(title=title, summary=text, content="")
    live = tuple(_shown(loaded.by_id[m.rule_id].severity, m.rule_id, m.terms, title, text)
                 for m in loaded.matcher.match(document) if m.rule_id in loaded.by_id)
    if not query.strip():
        return PlaygroundResult(live=live)
    try:
        matcher = compile_rules([Rule(id=CANDIDATE, query=query)], loaded.ruleset.aliases)
    except RuleSyntaxError as error:
        return PlaygroundResult(error=str(error), error_column=error.column, live=live)
    except RulesError as error:
        return PlaygroundResult(error=str(error), live=live)
    found = matcher.match_rule(CANDIDATE, document, check_enabled=False, check_feed=False)
    candidate = _shown("candidate", CANDIDATE, found.terms, title, text) if found else None
    return PlaygroundResult(candidate=candidate, live=live)


def _shown(severity: str, rule_id: str, terms, title: str, text: str) -> PlaygroundMatch:
    article = Article(feed_id=0, entry_key="", url="", title=title, summary=text)
    matched = tuple(MatchedTerm(t.term, t.field, t.start, t.end, t.text) for t in terms)
    return PlaygroundMatch(
        rule_id=rule_id,
        severity=severity,
        title=field_segments(article, matched, "title"),
        text=field_segments(article, matched, "summary"),
        terms=tuple(dict.fromkeys(t.text for t in matched)),
    )


def backtest_query(
    db: sqlite_utils.Database, loaded: LoadedRules, query: str, replaces: str | None, days: int, now: datetime
) -> BacktestResult:
    if not query.strip():
        return BacktestResult(error="write a query to backtest")
    if not 1 <= days <= MAX_BACKTEST_DAYS:
        return BacktestResult(error=f"days: expected 1 to {MAX_BACKTEST_DAYS}, got {days}")
    if replaces and replaces not in loaded.by_id:
        return BacktestResult(error=f"no live rule {replaces!r} to compare with")
    rule = candidate_rule(query, loaded.by_id.get(replaces) if replaces else None)
    try:
        matcher = compile_rules([rule], loaded.ruleset.aliases)
    except RulesError as error:
        return BacktestResult(error=str(error))
    report = backtest_rules(db, matcher, (rule,), now - timedelta(days=days), None)
    (row,) = report.rules
    return BacktestResult(
        articles=report.articles,
        days=days,
        replaces=replaces,
        matches=row.matches,
        live=row.live,
        gained=_articles(db, row.gained_ids),
        lost=_articles(db, row.lost_ids),
        gained_count=row.gained,
        lost_count=row.lost,
    )


def _articles(db: sqlite_utils.Database, ids: frozenset[int]) -> tuple[Article, ...]:
    newest = sorted(ids, reverse=True)[:MAX_LISTED]
    return tuple(a for a in (get_article(db, i) for i in newest) if a is not None)
