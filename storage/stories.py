"""SQL for stories: signatures, LSH band keys, and story membership."""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import TYPE_CHECKING

from storage.timefmt import from_db, to_db
from storage.types import StorySummary

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils


def add_signatures(db: sqlite_utils.Database, signed: list[tuple[int, bytes, list[int]]], now: datetime) -> None:
    """Store (article id, signature, band keys) for a poll's new articles."""
    stamp = to_db(now)
    db.conn.executemany(
        "INSERT OR REPLACE INTO article_signatures (article_id, signature, first_seen_at) VALUES (?, ?, ?)",
        [(article_id, signature, stamp) for article_id, signature, _ in signed],
    )
    db.conn.executemany(
        "INSERT INTO article_bands (band_key, article_id) VALUES (?, ?)",
        [(key, article_id) for article_id, _, keys in signed for key in keys],
    )


def add_signature(db: sqlite_utils.Database, article_id: int, signature: bytes, band_keys: list[int], now: datetime) -> None:
    add_signatures(db, [(article_id, signature, band_keys)], now)


# Candidates per band key: the most recent ones. A key shared by hundreds of articles is
# boilerplate, not a story; every member of a story carries its story id, so the newest
# few suffice, and comparing with all of them grew the cost of a poll with the archive.
CANDIDATES_PER_KEY = 8


def candidates(
    db: sqlite_utils.Database, band_keys: list[int], since: datetime, exclude_article_id: int,
    per_key: int = CANDIDATES_PER_KEY,
) -> list[tuple[int, int, bytes, int]]:
    """(article id, story id, signature, band key) of the most recent `per_key` articles
    sharing each band key, first seen since `since`."""
    # Index-only reads of (key, article) pairs, then the newest `per_key` of each key kept in
    # Python: only those few articles' signatures are read and compared.
    by_key: dict[int, list[int]] = {}
    for start in range(0, len(band_keys), 500):
        chunk = band_keys[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for key, article_id in db.execute(
            f"SELECT band_key, article_id FROM article_bands WHERE band_key IN ({marks}) AND article_id != ?",
            [*chunk, exclude_article_id],
        ):
            by_key.setdefault(key, []).append(article_id)
    keyed = [
        (key, article_id)
        for key, holders in by_key.items()
        for article_id in (holders if len(holders) <= per_key else heapq.nlargest(per_key, holders))
    ]
    ids = sorted({article_id for _, article_id in keyed})
    stored: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for article_id, story_id, signature in db.execute(
            f"""
            SELECT a.id, a.story_id, s.signature FROM articles a
            JOIN article_signatures s ON s.article_id = a.id
            WHERE a.id IN ({marks}) AND s.first_seen_at >= ?
            """,
            [*chunk, to_db(since)],
        ):
            stored[article_id] = (story_id, signature)
    return [(article_id, *stored[article_id], key) for key, article_id in keyed if article_id in stored]


def join_story(db: sqlite_utils.Database, article_id: int, story_id: int) -> None:
    db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [story_id, article_id])


def story_alerted(db: sqlite_utils.Database, rule_id: str, story_id: int, exclude_article_id: int) -> bool:
    """Has this rule already hit another article of this story? (one alert per rule and story)"""
    row = db.execute(
        "SELECT 1 FROM hits WHERE rule_id = ? AND story_id = ? AND article_id != ? LIMIT 1",
        [rule_id, story_id, exclude_article_id],
    ).fetchone()
    return row is not None


def prune_bands(db: sqlite_utils.Database, before: datetime) -> int:
    """Drop band keys of articles first seen before `before`: they can no longer gain members.

    Keeps the band table at one story window of articles, however large the archive grows.
    """
    row = db.execute("SELECT min(id) FROM articles WHERE first_seen_at >= ?", [to_db(before)]).fetchone()
    oldest_kept = row[0] if row and row[0] is not None else None
    if oldest_kept is None:
        return db.execute("DELETE FROM article_bands").rowcount
    return db.execute("DELETE FROM article_bands WHERE article_id < ?", [oldest_kept]).rowcount


def list_stories(db: sqlite_utils.Database, since: datetime, min_articles: int = 2, limit: int = 50) -> list[StorySummary]:
    """Stories that gained an article since `since` and have at least `min_articles`, newest
    first; title and link are the story's first article's (its id is the story id)."""
    rows = db.execute(
        """
        WITH recent AS (  -- index articles_first_seen
            SELECT story_id, max(first_seen_at) AS last_seen FROM articles
            WHERE first_seen_at >= ? AND story_id IS NOT NULL GROUP BY story_id
        ), sized AS (  -- index articles_story
            SELECT story_id, last_seen, (SELECT count(*) FROM articles m WHERE m.story_id = recent.story_id) AS size
            FROM recent
        )
        SELECT s.story_id, s.size, first.first_seen_at, s.last_seen,
               coalesce(first.title, ''), coalesce(first.url, first.link, ''),
               (SELECT group_concat(name, char(31)) FROM (
                    SELECT DISTINCT f.name FROM articles m JOIN feeds f ON f.id = m.feed_id WHERE m.story_id = s.story_id)),
               (SELECT count(*) FROM articles m JOIN hits h ON h.article_id = m.id WHERE m.story_id = s.story_id)
        FROM sized s LEFT JOIN articles first ON first.id = s.story_id
        WHERE s.size >= ? ORDER BY s.last_seen DESC, s.story_id DESC LIMIT ?
        """,
        [to_db(since), min_articles, limit],
    ).fetchall()
    return [
        StorySummary(
            story_id=row[0], articles=row[1], first_seen_at=from_db(row[2]), last_seen_at=from_db(row[3]),
            title=row[4], url=row[5], feeds=tuple(sorted((row[6] or "").split("\x1f"))) if row[6] else (), hits=row[7],
        )
        for row in rows
    ]
