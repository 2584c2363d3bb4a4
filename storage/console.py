"""SQL for the web console and its JSON API and Atom feeds: read models over the archive.

Every query here only reads, in one statement or a few short ones: WAL readers never wait
for the writer, and the writer never waits for them. The console's writes (retry, mute,
feeds add/remove) reuse storage/deliveries.py and storage/feeds.py.

A story, for the console, is the set of hits that share a story id (an article's story is
its first article's id, so an article that joined no other story is a story of its own).
Stories are listed by their newest hit, newest first, with keyset pagination: a page
costs the same on page 1 and page 500.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.articles import _ARTICLE_COLUMNS, _article
from storage.deliveries import carried_order
from storage.exceptions import StorageError
from storage.hits import _terms_from_json
from storage.timefmt import from_db, to_db
from storage.types import SEVERITIES, Article, MatchedTerm

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_RANK_SQL = "CASE h.severity " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in SEVERITY_RANK.items()) + " ELSE -1 END"


@dataclass(frozen=True)
class StoryFilter:
    """What the stories page, /api/stories and the Atom feeds may narrow to (all optional)."""

    rule: str | None = None
    min_severity: str | None = None  # this severity and above
    feed_id: int | None = None  # a story with a hit on an article seen in this feed
    since: datetime | None = None  # hits created at or after
    until: datetime | None = None  # hits created before
    text: str | None = None  # FTS5 query over the story's articles' title and summary


@dataclass(frozen=True)
class StoryCursor:
    """Where the next page starts: stories whose newest hit is older than this one's."""

    newest: str  # storage time text of that story's newest hit
    story_id: int

    def encode(self) -> str:
        return f"{self.newest}~{self.story_id}"

    @classmethod
    def decode(cls, text: str) -> StoryCursor:
        newest, _, story = text.rpartition("~")
        if not story.isdigit() or from_db(newest) is None:
            raise ValueError(f"not a page cursor: {text!r}")
        return cls(newest, int(story))


@dataclass(frozen=True)
class StoryRule:
    """One rule that fired on a story: its first hit there and the terms it matched."""

    rule_id: str
    rule_name: str
    severity: str
    terms: tuple[MatchedTerm, ...]
    article_id: int
    created_at: datetime


@dataclass(frozen=True)
class StorySummary:
    story_id: int
    severity: str  # the highest of its rules
    first_hit_at: datetime
    newest_hit_at: datetime
    rules: tuple[StoryRule, ...]  # highest severity first
    lead: Article  # the article the story's first hit was made on
    outlets: tuple[str, ...]  # feed names that carried the story, first-seen order
    articles: int  # member articles
    hit_articles: tuple[Article, ...] = ()  # the articles its rules' terms point into (the lead first)

    def article(self, article_id: int) -> Article:
        """The article a rule's terms index into (the lead when it is not at hand)."""
        return next((a for a in self.hit_articles if a.id == article_id), self.lead)


@dataclass(frozen=True)
class StoryPage:
    stories: tuple[StorySummary, ...]
    next_cursor: StoryCursor | None  # None: this is the last page


@dataclass(frozen=True)
class StoryMemberArticle:
    article: Article
    feeds: tuple[str, ...]  # every feed that showed this article (an aggregator and the outlet)


@dataclass(frozen=True)
class StoryNotification:
    """One notification of the story on one channel (an outbox row) with every rule it carries.

    With `[alerts] group_by = "story"` one notification carries every hit of the story routed to
    the channel (delivery_hits); `update_number` > 0: an update sent because a later hit raised
    the story's severity (from `raised_from`).
    """

    delivery_id: int
    channel: str
    rule_id: str  # the primary rule: the highest severity (the webhook's data.rule)
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    webhook_id: str
    rule_ids: tuple[str, ...] = ()  # every rule it carries, primary first
    severity: str = ""
    update_number: int = 0
    raised_from: str | None = None

    @property
    def is_update(self) -> bool:
        return self.update_number > 0


@dataclass(frozen=True)
class StoryDetail:
    summary: StorySummary
    members: tuple[StoryMemberArticle, ...]
    notifications: tuple[StoryNotification, ...]


@dataclass(frozen=True)
class ArchiveCounts:
    """What /metrics reads from the database at scrape time."""

    articles: int
    hits_by_rule: dict[str, int]
    deliveries_by_channel_status: dict[tuple[str, str], int]
    feeds_active: int
    feeds_failing: int
    last_success_at: datetime | None


def _conditions(filters: StoryFilter, text_in_sql: bool = True) -> tuple[list[str], list]:
    where = ["h.story_id IS NOT NULL"]
    params: list = []
    if filters.rule:
        where.append("h.rule_id = ?")
        params.append(filters.rule)
    if filters.min_severity:
        allowed = [s for s in SEVERITIES if SEVERITY_RANK[s] >= SEVERITY_RANK[filters.min_severity]]
        where.append(f"h.severity IN ({', '.join('?' for _ in allowed)})")
        params.extend(allowed)
    if filters.since:
        where.append("h.created_at >= ?")
        params.append(to_db(filters.since))
    if filters.until:
        where.append("h.created_at < ?")
        params.append(to_db(filters.until))
    if filters.feed_id is not None:
        where.append("h.article_id IN (SELECT article_id FROM article_sources WHERE feed_id = ?)")
        params.append(filters.feed_id)
    if filters.text and text_in_sql:
        where.append(
            "h.story_id IN (SELECT a.story_id FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
            "WHERE articles_fts MATCH ?)"
        )
        params.append(filters.text)
    return where, params


def story_page(
    db: sqlite_utils.Database, filters: StoryFilter, *, after: StoryCursor | None = None, limit: int = 50
) -> StoryPage:
    """One page of stories, newest hit first, each with its rules, lead article and outlets.

    Walks the matching hits newest first (an index order, no GROUP BY over the archive) and
    keeps each story at its newest matching hit, until the page is full: a page reads about
    `limit` x (hits per story) rows whatever the archive's size. Past the first page, a story
    met again below the cursor was shown on an earlier page and is skipped.
    """
    try:
        by_story_check = bool(filters.text) and _common_text(db, filters.text)
    except sqlite3.OperationalError as error:
        raise _query_error(error, filters) from error
    where, params = _conditions(filters, text_in_sql=not by_story_check)
    if after is not None:
        # `<=` first: a bare OR would keep SQLite from using the index range (a full scan).
        where.append("h.created_at <= ? AND (h.created_at < ? OR h.story_id < ?)")
        params += [after.newest, after.newest, after.story_id]
    try:
        rows = db.execute(
            f"SELECT h.story_id, h.created_at FROM hits h WHERE {' AND '.join(where)} "
            "ORDER BY h.created_at DESC, h.story_id DESC",
            params,
        )
    except sqlite3.OperationalError as error:
        raise _query_error(error, filters) from error
    picked: dict[int, str] = {}
    try:
        while len(picked) <= limit:
            chunk = rows.fetchmany(500)
            if not chunk:
                break
            for story_id, created_at in chunk:
                if story_id in picked or (after is not None and _shown_before(db, story_id, filters, after)):
                    continue
                if by_story_check and not _story_matches_text(db, story_id, filters.text):
                    continue
                picked[story_id] = created_at
                if len(picked) > limit:
                    break
    except sqlite3.OperationalError as error:
        raise _query_error(error, filters) from error
    finally:
        rows.close()
    ordered = list(picked.items())
    more = len(ordered) > limit
    ordered = ordered[:limit]
    summaries = _summaries(db, [story_id for story_id, _ in ordered])
    stories = tuple(summaries[story_id] for story_id, _ in ordered if story_id in summaries)
    cursor = StoryCursor(ordered[-1][1], ordered[-1][0]) if more and ordered else None
    return StoryPage(stories=stories, next_cursor=cursor)


def _shown_before(db: sqlite_utils.Database, story_id: int, filters: StoryFilter, after: StoryCursor) -> bool:
    """Has this story a matching hit at or above the cursor? (then an earlier page showed it)"""
    where, params = _conditions(filters, text_in_sql=False)  # the story matched the text when it was shown
    # At or above the cursor in (created_at, story_id) order, for this one story id:
    where += ["h.story_id = ?", "h.created_at >= ?" if story_id >= after.story_id else "h.created_at > ?"]
    params += [story_id, after.newest]
    return db.execute(f"SELECT 1 FROM hits h WHERE {' AND '.join(where)} LIMIT 1", params).fetchone() is not None


# A search matching more articles than this is checked story by story as the walk meets them
# (a rowid lookup in the index each); fewer are gathered up front. On 1,000,000 articles
# "antimony" matches 48,000: gathering their stories took 190 ms, checking a page's 300 0.1 ms each.
GATHER_TEXT_MATCHES = 5000


def _common_text(db: sqlite_utils.Database, text: str) -> bool:
    count = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM articles_fts WHERE articles_fts MATCH ? LIMIT ?)", [text, GATHER_TEXT_MATCHES + 1]
    ).fetchone()[0]
    return count > GATHER_TEXT_MATCHES


def _story_matches_text(db: sqlite_utils.Database, story_id: int, text: str) -> bool:
    return db.execute(
        "SELECT 1 FROM articles a JOIN articles_fts f ON f.rowid = a.id WHERE a.story_id = ? AND articles_fts MATCH ? LIMIT 1",
        [story_id, text],
    ).fetchone() is not None


def story_detail(db: sqlite_utils.Database, story_id: int) -> StoryDetail | None:
    """A story with every member article (and the feeds that showed it) and its outbox rows."""
    summary = _summaries(db, [story_id]).get(story_id)
    if summary is None:
        return None
    rows = db.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id "
        "WHERE a.story_id = ? ORDER BY a.first_seen_at, a.id",
        [story_id],
    ).fetchall()
    members = [_article(row) for row in rows]
    feeds_of: dict[int, list[str]] = {}
    for article_id, name in _in_chunks(
        db,
        "SELECT s.article_id, f.name FROM article_sources s JOIN feeds f ON f.id = s.feed_id "
        "WHERE s.article_id IN ({marks}) ORDER BY s.first_seen_at",
        [a.id for a in members],
    ):
        names = feeds_of.setdefault(article_id, [])
        if name not in names:
            names.append(name)
    return StoryDetail(
        summary=summary,
        members=tuple(StoryMemberArticle(a, tuple(feeds_of.get(a.id, [a.feed_name]))) for a in members),
        notifications=story_notifications(db, story_id),
    )


def story_notifications(db: sqlite_utils.Database, story_id: int) -> tuple[StoryNotification, ...]:
    """The story's notifications in the order they were opened, each with every rule it carries.

    Found through the hits they carry (delivery_hits), not deliveries.story_id: a row written
    before issue 14, or by enqueue() without a story, still belongs to the story of its hits.
    """
    rows = db.execute(
        "SELECT d.id, d.channel, d.hit_id, d.status, d.attempts, d.last_error, d.next_attempt_at, d.sent_at, "
        "d.created_at, d.idempotency_key, d.severity, d.update_number, d.raised_from FROM deliveries d "
        "WHERE d.id IN (SELECT dh.delivery_id FROM hits h JOIN delivery_hits dh ON dh.hit_id = h.id "
        "WHERE h.story_id = ?) ORDER BY d.id",
        [story_id],
    ).fetchall()
    carried: dict[int, list[tuple[int, str, str]]] = {}
    for delivery_id, hit_id, rule_id, severity in _in_chunks(
        db,
        "SELECT dh.delivery_id, h.id, h.rule_id, h.severity FROM delivery_hits dh JOIN hits h ON h.id = dh.hit_id "
        "WHERE dh.delivery_id IN ({marks})",
        [row[0] for row in rows],
    ):
        carried.setdefault(delivery_id, []).append((hit_id, rule_id, severity))
    notifications = []
    for row in rows:
        opening_hit = row[2]
        # The order the channels use, so the page names the primary rule the webhook named.
        hits = sorted(carried.get(row[0], []), key=lambda h: carried_order(h[2], h[0], opening_hit))
        rule_ids = tuple(dict.fromkeys(rule_id for _, rule_id, _ in hits))
        notifications.append(StoryNotification(
            delivery_id=row[0], channel=row[1], rule_id=rule_ids[0] if rule_ids else "", status=row[3], attempts=row[4],
            last_error=row[5], next_attempt_at=from_db(row[6]), sent_at=from_db(row[7]), created_at=from_db(row[8]),
            webhook_id=row[9], rule_ids=rule_ids, severity=row[10] or (hits[0][2] if hits else ""),
            update_number=row[11] or 0, raised_from=row[12],
        ))
    return tuple(notifications)


def _summaries(db: sqlite_utils.Database, story_ids: list[int]) -> dict[int, StorySummary]:
    """Rules, lead article and outlets of several stories in a few IN (...) queries."""
    if not story_ids:
        return {}
    by_story: dict[int, dict[str, StoryRule]] = {}
    newest: dict[int, str] = {}
    for row in _in_chunks(
        db,
        "SELECT h.story_id, h.rule_id, h.rule_name, h.severity, h.terms, h.article_id, h.created_at "
        "FROM hits h WHERE h.story_id IN ({marks}) ORDER BY h.created_at, h.id",
        story_ids,
    ):
        story_id, rule_id = row[0], row[1]
        rules = by_story.setdefault(story_id, {})
        if rule_id not in rules:  # the rule's first hit in the story: the one that alerted
            rules[rule_id] = StoryRule(rule_id, row[2], row[3], _terms_from_json(row[4]), row[5], from_db(row[6]))
        newest[story_id] = max(newest.get(story_id, ""), row[6])
    lead_ids = {story_id: min(rules.values(), key=lambda r: r.created_at).article_id for story_id, rules in by_story.items()}
    leads = {
        row[0]: _article(row)
        for row in _in_chunks(
            db, f"SELECT {_ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.id IN ({{marks}})",
            [rule.article_id for rules in by_story.values() for rule in rules.values()],
        )
    }
    outlets: dict[int, list[str]] = {}
    sizes: dict[int, int] = {}
    for story_id, name, article_id in _in_chunks(
        db,
        "SELECT a.story_id, f.name, a.id FROM articles a JOIN article_sources s ON s.article_id = a.id "
        "JOIN feeds f ON f.id = s.feed_id WHERE a.story_id IN ({marks}) ORDER BY s.first_seen_at, s.feed_id",
        story_ids,
    ):
        names = outlets.setdefault(story_id, [])
        if name not in names:
            names.append(name)
        sizes.setdefault(story_id, set()).add(article_id)  # type: ignore[union-attr]
    summaries = {}
    for story_id, rules in by_story.items():
        ordered = sorted(rules.values(), key=lambda r: (-SEVERITY_RANK.get(r.severity, -1), r.created_at, r.rule_id))
        lead = leads.get(lead_ids[story_id])
        if lead is None:
            continue
        summaries[story_id] = StorySummary(
            story_id=story_id,
            severity=ordered[0].severity,
            first_hit_at=min(r.created_at for r in ordered),
            newest_hit_at=from_db(newest[story_id]),
            rules=tuple(ordered),
            lead=lead,
            outlets=tuple(outlets.get(story_id, [lead.feed_name])),
            articles=len(sizes.get(story_id, ())) or 1,
            hit_articles=(lead, *(leads[i] for i in dict.fromkeys(r.article_id for r in ordered) if i != lead.id and i in leads)),
        )
    return summaries


def _in_chunks(db: sqlite_utils.Database, sql: str, ids: Iterable[int], size: int = 500) -> list[tuple]:
    values = list(dict.fromkeys(ids))
    rows: list[tuple] = []
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        rows.extend(db.execute(sql.format(marks=", ".join("?" for _ in chunk)), chunk).fetchall())
    return rows


def _query_error(error: sqlite3.OperationalError, filters: StoryFilter) -> Exception:
    if filters.text:  # the only text SQLite parses from the user: fts5 syntax, unterminated string, ...
        return StorageError(f"search {filters.text!r} is not a valid full-text query: {error}")
    return StorageError(str(error))


def feed_names(db: sqlite_utils.Database) -> list[tuple[int, str]]:
    """(id, name) of every feed, for the stories filter."""
    return db.execute("SELECT id, name FROM feeds ORDER BY name COLLATE NOCASE, id").fetchall()


def archive_counts(db: sqlite_utils.Database) -> ArchiveCounts:
    # max(id), not count(*): articles are never deleted, and count(*) walks a 1,000,000-row index.
    articles = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
    by_rule = dict(db.execute("SELECT rule_id, count(*) FROM hits GROUP BY rule_id").fetchall())
    by_status = {
        (channel, status): count
        for channel, status, count in db.execute("SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status")
    }
    active, failing, last_success = db.execute(
        "SELECT count(*), sum(consecutive_failures > 0 OR disabled_reason IS NOT NULL), max(last_success_at) "
        "FROM feeds WHERE active = 1"
    ).fetchone()
    return ArchiveCounts(
        articles=articles,
        hits_by_rule=by_rule,
        deliveries_by_channel_status=by_status,
        feeds_active=active,
        feeds_failing=failing or 0,
        last_success_at=from_db(last_success),
    )


def last_success_at(db: sqlite_utils.Database) -> datetime | None:
    """The newest successful poll of any active feed (readiness)."""
    return from_db(db.execute("SELECT max(last_success_at) FROM feeds WHERE active = 1").fetchone()[0])


def write_problem(db: sqlite_utils.Database, timeout_ms: int = 2000) -> str | None:
    """Why the database cannot be written now, or None: takes the write lock and lets it go at
    once, waiting at most `timeout_ms` for a writer (readiness must answer quickly)."""
    from storage.db import BUSY_TIMEOUT_MS

    db.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.Error as error:
        if "locked" in str(error) or "busy" in str(error):
            return f"the write lock was not granted within {timeout_ms / 1000:g}s"
        return str(error)
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return None
