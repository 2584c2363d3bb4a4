"""SQL for stories: signatures, LSH band keys, and story membership."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from storage.timefmt import to_db


def add_signature(db: sqlite_utils.Database, article_id: int, signature: bytes, band_keys: list[int], now: datetime) -> None:
    db.execute(
        "INSERT OR REPLACE INTO article_signatures (article_id, signature, first_seen_at) VALUES (?, ?, ?)",
        [article_id, signature, to_db(now)],
    )
    db.conn.executemany("INSERT INTO article_bands (band_key, article_id) VALUES (?, ?)", [(k, article_id) for k in band_keys])


def candidates(db: sqlite_utils.Database, band_keys: list[int], since: datetime, exclude_article_id: int) -> list[tuple[int, int, bytes]]:
    """(article id, story id, signature) of articles sharing a band key, first seen since `since`."""
    if not band_keys:
        return []
    marks = ",".join("?" for _ in band_keys)
    return db.execute(
        f"""
        SELECT a.id, a.story_id, s.signature FROM articles a
        JOIN article_signatures s ON s.article_id = a.id
        WHERE a.id IN (SELECT article_id FROM article_bands WHERE band_key IN ({marks}))
          AND s.first_seen_at >= ? AND a.id != ?
        """,
        [*band_keys, to_db(since), exclude_article_id],
    ).fetchall()


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
