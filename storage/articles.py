"""SQL for the articles aggregate: identity, ingest, search."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from storage.db import transaction
from storage.exceptions import SearchSyntaxError
from storage.fts import fts_query
from storage.timefmt import from_db, to_db
from storage.types import Article, IngestResult

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils

_ARTICLE_COLUMNS = (
    "a.id, a.feed_id, a.url, a.link, a.guid, a.title, a.summary, a.content, a.published_at, "
    "a.first_seen_at, a.content_hash, a.story_id, f.name, a.outlet"
)


def _article(row: tuple, entry_key: str = "") -> Article:
    return Article(
        id=row[0],
        feed_id=row[1],
        url=row[2] or "",
        link=row[3],
        guid=row[4],
        title=row[5],
        summary=row[6],
        content=row[7],
        published_at=from_db(row[8]),
        first_seen_at=from_db(row[9]),
        content_hash=row[10],
        story_id=row[11],
        feed_name=row[12] or "",
        entry_key=entry_key,
        outlet=row[13] or "",
    )


# An entry's text may change after publishing (typo fixes, updates); a feed that
# rewrites every entry on every poll must not grow the database without bound.
MAX_UPDATES_PER_ARTICLE = 24


def ingest_entries(db: sqlite_utils.Database, feed_id: int, entries: list[Article], now: datetime) -> IngestResult:
    """Store one poll's entries; call inside a transaction.

    Identity: (feed, entry_key) first, then the canonical URL across feeds.
    An entry already stored under its key with a new content hash is updated
    in place (and returned as `updated`); one stored by another feed under the
    same canonical URL gets a source row (seen in both), not a new article.
    Lookups and inserts are batched per poll: a few statements, not a few per entry.
    """
    new: list[Article] = []
    updated: list[Article] = []
    unchanged = 0
    stamp = to_db(now)
    known = _known_by_key(db, feed_id, [e.entry_key for e in entries])
    by_url = _ids_by_url(db, [e.url for e in entries if e.url and e.entry_key not in known])
    source_rows: list[tuple] = []
    article_rows: list[tuple] = []
    update_rows: list[tuple] = []
    # Ids are assigned here (the transaction holds the write lock), so a new article is its
    # own story from the INSERT on, without a second UPDATE per row.
    next_id = None
    for entry in entries:
        if entry.entry_key in known:
            article_id, stored_hash, update_count, story_id = known[entry.entry_key]
            if stored_hash == entry.content_hash or update_count >= MAX_UPDATES_PER_ARTICLE:
                unchanged += 1
                continue
            update_rows.append((entry.title, entry.summary, entry.content, entry.content_hash,
                                to_db(entry.published_at), article_id))
            updated.append(replace(entry, id=article_id, story_id=story_id))
            continue
        if entry.url and entry.url in by_url:
            source_rows.append((feed_id, entry.entry_key, by_url[entry.url], stamp))
            continue
        if next_id is None:
            next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM articles").fetchone()[0]
        article_id = next_id
        next_id += 1
        if entry.url:
            by_url[entry.url] = article_id  # a second entry with this URL in the same poll is a source
        article_rows.append((article_id, article_id, feed_id, entry.url or None, entry.link, entry.guid, entry.title,
                             entry.summary, entry.content, to_db(entry.published_at), stamp, entry.content_hash,
                             entry.outlet))
        source_rows.append((feed_id, entry.entry_key, article_id, stamp))
        new.append(replace(entry, id=article_id, first_seen_at=now, story_id=article_id))
    conn = db.conn
    if update_rows:
        conn.executemany(
            "UPDATE articles SET title = ?, summary = ?, content = ?, content_hash = ?, "
            "published_at = coalesce(?, published_at), update_count = update_count + 1 WHERE id = ?",
            update_rows,
        )
    if article_rows:
        conn.executemany(
            "INSERT INTO articles (id, story_id, feed_id, url, link, guid, title, summary, content, published_at, "
            "first_seen_at, content_hash, outlet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            article_rows,
        )
    if source_rows:
        conn.executemany(
            "INSERT OR IGNORE INTO article_sources (feed_id, entry_key, article_id, first_seen_at) VALUES (?, ?, ?, ?)",
            source_rows,
        )
    also_seen = len(source_rows) - len(article_rows)
    return IngestResult(new=tuple(new), updated=tuple(updated), unchanged=unchanged, also_seen=also_seen)


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _known_by_key(db: sqlite_utils.Database, feed_id: int, keys: list[str]) -> dict[str, tuple]:
    """entry_key -> (article id, content hash, update count, story id) for this feed's stored entries."""
    found: dict[str, tuple] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT s.entry_key, a.id, a.content_hash, a.update_count, a.story_id FROM article_sources s "
            f"JOIN articles a ON a.id = s.article_id WHERE s.feed_id = ? AND s.entry_key IN ({marks})",
            [feed_id, *chunk],
        ).fetchall()
        found.update((row[0], row[1:]) for row in rows)
    return found


def _ids_by_url(db: sqlite_utils.Database, urls: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(urls))):
        marks = ",".join("?" for _ in chunk)
        found.update(db.execute(f"SELECT url, id FROM articles WHERE url IN ({marks})", chunk).fetchall())
    return found


def unknown_entry_keys(db: sqlite_utils.Database, feed_id: int, keys: list[str]) -> set[str]:
    """The entry keys this feed has not stored yet (which entries are new)."""
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT entry_key FROM article_sources WHERE feed_id = ? AND entry_key IN ({marks})", [feed_id, *chunk]
        ).fetchall()
        known.update(row[0] for row in rows)
    return set(keys) - known


def get_article(db: sqlite_utils.Database, article_id: int) -> Article | None:
    row = db.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.id = ?",
        [article_id],
    ).fetchone()
    return _article(row) if row else None


def articles_since(db: sqlite_utils.Database, since: datetime | None, batch_size: int = 1000):
    """Yield stored articles first seen at or after `since`, oldest first, in batches."""
    last_id = 0
    since_text = to_db(since) if since else ""
    while True:
        rows = db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.id > ? AND a.first_seen_at >= ? ORDER BY a.id LIMIT ?",
            [last_id, since_text, batch_size],
        ).fetchall()
        if not rows:
            return
        yield [_article(row) for row in rows]
        last_id = rows[-1][0]


def count_articles_since(db: sqlite_utils.Database, since: datetime | None) -> int:
    return db.execute(
        "SELECT count(*) FROM articles WHERE first_seen_at >= ?", [to_db(since) if since else ""]
    ).fetchone()[0]


def index_pending(db: sqlite_utils.Database, batch_size: int = 20_000) -> int:
    """Add articles stored since the last call to the full-text index; returns how many.

    Call outside other transactions: it opens its own, one per batch.
    """
    total = 0
    while True:
        with transaction(db):
            last = db.execute("SELECT last_indexed_id FROM fts_progress WHERE id = 1").fetchone()[0]
            upto = db.execute(
                "SELECT max(id) FROM (SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?)", [last, batch_size]
            ).fetchone()[0]
            if upto is None:
                return total
            db.execute(
                "INSERT INTO articles_fts (rowid, title, summary) SELECT id, title, summary FROM articles "
                "WHERE id > ? AND id <= ? ORDER BY id",
                [last, upto],
            )
            db.execute("UPDATE fts_progress SET last_indexed_id = ? WHERE id = 1", [upto])
            total += upto - last


def search_articles(db: sqlite_utils.Database, query: str, limit: int = 50, catch_up: bool = True) -> list[Article]:
    """Full-text search over title and summary (FTS5 syntax, hyphenated words as phrases:
    storage/fts.py), best match first. `catch_up` first indexes what was stored since the
    last indexing (needs a writable connection)."""
    if catch_up:
        index_pending(db)  # a search sees everything stored so far
    try:
        rows = _search_rows(db, fts_query(query), limit)
    except sqlite3.OperationalError as error:
        raise SearchSyntaxError(f"search query {query!r} is not valid FTS5 syntax: {error}") from error
    return [_article(row) for row in rows]


def unindexed_count(db: sqlite_utils.Database) -> int:
    """Articles stored since the last full-text indexing (a read-only search cannot see them)."""
    last = db.execute("SELECT last_indexed_id FROM fts_progress WHERE id = 1").fetchone()[0]
    return db.execute("SELECT count(*) FROM articles WHERE id > ?", [last]).fetchone()[0]


def _search_rows(db: sqlite_utils.Database, query: str, limit: int) -> list[tuple]:
    return db.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
        "JOIN feeds f ON f.id = a.feed_id WHERE articles_fts MATCH ? ORDER BY articles_fts.rank LIMIT ?",
        [query, limit],
    ).fetchall()


def count_articles(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM articles").fetchone()[0]
