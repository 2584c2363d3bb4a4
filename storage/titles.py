"""SQL for title keys: an aggregator item with only a title joins the story of its outlet's article.

One row per article first seen within the story window (pruned with the band keys, so the
table stays one window deep): its title key (monitor/stories.py `title_key`) and whether it
has no text but its title.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from storage.timefmt import to_db


def add_titles(db: sqlite_utils.Database, rows: list[tuple[str, int, bool]], now: datetime) -> None:
    """Store (title key, article id, title only) for a poll's new articles."""
    stamp = to_db(now)
    db.conn.executemany(
        "INSERT OR IGNORE INTO article_titles (title_key, article_id, title_only, first_seen_at) VALUES (?, ?, ?, ?)",
        [(key, article_id, int(title_only), stamp) for key, article_id, title_only in rows],
    )


def title_candidates(
    db: sqlite_utils.Database, keys: list[str], since: datetime, title_only: bool = False
) -> list[tuple[str, int, int, str, bool]]:
    """(title key, article id, story id, title, title only) of the articles with these title keys
    first seen since `since`; with `title_only`, only the articles that have no text but their title."""
    found: list[tuple[str, int, int, str, bool]] = []
    # Title-only holders through their own partial index (the planner would walk the primary key,
    # every holder of the key: thousands for a templated title, to keep none of them).
    only = " AND t.title_only = 1" if title_only else ""
    source = "article_titles t INDEXED BY article_titles_title_only" if title_only else "article_titles t"
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        found += [
            (row[0], row[1], row[2], row[3], bool(row[4]))
            for row in db.execute(
                f"SELECT t.title_key, a.id, a.story_id, a.title, t.title_only FROM {source} "
                f"JOIN articles a ON a.id = t.article_id WHERE t.title_key IN ({marks}) AND t.first_seen_at >= ?{only}",
                [*chunk, to_db(since)],
            )
        ]
    return found


def prune_titles(db: sqlite_utils.Database, before: datetime) -> int:
    """Drop the title keys of articles first seen before `before`: they can no longer gain members."""
    return db.execute("DELETE FROM article_titles WHERE first_seen_at < ?", [to_db(before)]).rowcount
