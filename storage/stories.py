"""SQL for stories: signatures, LSH band keys, and story membership."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from storage.timefmt import to_db

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils


def add_signatures(
    db: sqlite_utils.Database, signed: list[tuple[int, int, bytes, list[int]]], now: datetime
) -> None:
    """Store (article id, story id, signature, band keys) for a poll's new articles, once
    their stories are decided (the band rows carry the story, so a lookup need not read the
    articles table)."""
    stamp = to_db(now)
    db.conn.executemany(
        "INSERT OR REPLACE INTO article_signatures (article_id, signature, first_seen_at) VALUES (?, ?, ?)",
        [(article_id, signature, stamp) for article_id, _, signature, _ in signed],
    )
    db.conn.executemany(
        "INSERT INTO article_bands (band_key, article_id, story_id) VALUES (?, ?, ?)",
        [(key, article_id, story_id) for article_id, story_id, _, keys in signed for key in keys],
    )


def add_signature(
    db: sqlite_utils.Database, article_id: int, signature: bytes, band_keys: list[int], now: datetime,
    story_id: int | None = None,
) -> None:
    """One article's signature; its story is its own unless `story_id` says otherwise."""
    add_signatures(db, [(article_id, article_id if story_id is None else story_id, signature, band_keys)], now)


# Holders per band key: the most recent ones. A key shared by hundreds of articles is
# boilerplate (a templated price report, an agency's standard paragraph), not a story; every
# member of a story carries its story id, so the newest few suffice.
CANDIDATES_PER_KEY = 8

# The newest `per_key` holders of each key with their stories, read from the (band_key,
# article_id) primary key and nothing else: for each key, the correlated subquery steps back
# `per_key` entries from the end of that key's range and the join reads from there to the end.
# So a key costs ~2 x per_key index steps however many articles share it (reading every holder
# and keeping the newest in Python made a boilerplate-heavy cold poll twice as long), and no
# row of the articles or signatures tables is read: most of a boilerplate poll's holders sit
# under keys that find no candidates (monitor/stories.py), so their signatures are never needed.
# The window is an article id bound (`window_start`: the earliest article first seen since
# `since`, as band pruning counts it); it and the cap make one lower bound, so the range read
# starts at the larger (two bounds let the planner start at the window and filter every holder).
# CROSS JOIN keeps the keys as the outer loop; the keys arrive as one JSON array, so the
# statement text is the same for any number of keys (one prepared statement, cached).
_HOLDERS_SQL = """
WITH wanted(band_key) AS (SELECT DISTINCT value FROM json_each(?1))
SELECT b.band_key, b.article_id, b.story_id
FROM wanted
CROSS JOIN article_bands b ON b.band_key = wanted.band_key AND b.article_id >= max(?3, coalesce(
    (SELECT x.article_id FROM article_bands x WHERE x.band_key = wanted.band_key
     ORDER BY x.article_id DESC LIMIT 1 OFFSET ?2), 0))
"""


def band_holders(
    db: sqlite_utils.Database, band_keys: list[int], since: datetime, per_key: int = CANDIDATES_PER_KEY,
) -> list[tuple[int, int, int]]:
    """(band key, article id, story id) of the most recent `per_key` articles holding each
    band key, first seen since `since`."""
    start = window_start(db, since) if band_keys else None
    if start is None:
        return []  # no key asked, or no article in the window
    return db.execute(_HOLDERS_SQL, [json.dumps(list(band_keys)), per_key - 1, start]).fetchall()


def window_start(db: sqlite_utils.Database, since: datetime) -> int | None:
    """The story window as an article id: the first article first seen since `since` (None: none)."""
    row = db.execute("SELECT id FROM articles WHERE first_seen_at >= ? ORDER BY first_seen_at LIMIT 1", [to_db(since)]).fetchone()
    return row[0] if row else None


def signatures(db: sqlite_utils.Database, article_ids: list[int]) -> dict[int, bytes]:
    """The stored signature of each of these articles (rowid lookups; ids as one JSON array)."""
    if not article_ids:
        return {}
    return dict(db.execute(
        "SELECT s.article_id, s.signature FROM json_each(?) j CROSS JOIN article_signatures s ON s.article_id = j.value",
        [json.dumps(list(article_ids))],
    ).fetchall())


def join_story(db: sqlite_utils.Database, article_id: int, story_id: int) -> None:
    join_stories(db, [(article_id, story_id)])


def join_stories(db: sqlite_utils.Database, joined: list[tuple[int, int]]) -> None:
    """Each (article id, story id): the article joins that story."""
    db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?", [(story_id, article_id) for article_id, story_id in joined])


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

