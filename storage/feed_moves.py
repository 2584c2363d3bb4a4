"""SQL for feed moves: a permanent redirect moves a feed to its new URL, or merges it into the
feed already polled there (issue 15.10), and the move is remembered, so a config that still
lists the old URL does not add it back on the next start.

Before: the redirect's `UPDATE feeds SET url = ?` was skipped when the new URL was already a
feed, so both were polled forever, and a config-listed feed came back from the config on
every start (both URLs polled, the new one without its validators).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from storage.timefmt import to_db

if TYPE_CHECKING:
    import sqlite_utils

# Taken from the moved feed when its last success is more recent than the target's: after the
# redirect it was fetching the target's URL, so these are the target's freshest answer.
_HEALTH_COLUMNS = (
    "etag, last_modified, body_hash, item_digests, http_status, error, warning, consecutive_failures, "
    "last_polled_at, last_success_at"
)


def move_feed(db: sqlite_utils.Database, feed_id: int, new_url: str, now: datetime) -> int | None:
    """The feed answered a permanent redirect to `new_url`: it is polled there from now on. When
    `new_url` already is a feed, this one is merged into it (its articles become that feed's, the
    fresher health and validators are kept, its row is deleted). Inside the caller's transaction.
    Returns the id of the feed it was merged into, None when it only changed its URL."""
    old_url, active = db.execute("SELECT url, active FROM feeds WHERE id = ?", [feed_id]).fetchone()
    if new_url == old_url:
        return None
    _remember(db, old_url, new_url, now)
    target = db.execute("SELECT id FROM feeds WHERE url = ?", [new_url]).fetchone()
    if target is None:
        db.execute("UPDATE feeds SET url = ? WHERE id = ?", [new_url, feed_id])
        return None
    into = target[0]
    # The entries both feeds showed stay the target's; the others' sources move over.
    db.execute("UPDATE OR IGNORE article_sources SET feed_id = ? WHERE feed_id = ?", [into, feed_id])
    db.execute("DELETE FROM article_sources WHERE feed_id = ?", [feed_id])
    db.execute("UPDATE articles SET feed_id = ? WHERE feed_id = ?", [into, feed_id])
    db.execute(
        f"UPDATE feeds SET ({_HEALTH_COLUMNS}) = (SELECT {_HEALTH_COLUMNS} FROM feeds WHERE id = :moved) "
        "WHERE id = :into AND coalesce((SELECT last_success_at FROM feeds WHERE id = :moved), '') "
        "> coalesce(last_success_at, '')",
        {"moved": feed_id, "into": into},
    )
    if active:  # a feed removed with `feeds remove` is polled again when an active one moves to it
        db.execute("UPDATE feeds SET active = 1 WHERE id = ?", [into])
    db.execute("DELETE FROM feeds WHERE id = ?", [feed_id])
    return into


def _remember(db: sqlite_utils.Database, old_url: str, new_url: str, now: datetime) -> None:
    """old_url -> new_url, with chains shortened (A -> B, then B -> C: A -> C) and a move back
    forgotten (A -> B, then B -> A: A is a feed again, not a move)."""
    db.execute(
        "INSERT INTO feed_moves (old_url, new_url, moved_at) VALUES (?, ?, ?) "
        "ON CONFLICT (old_url) DO UPDATE SET new_url = excluded.new_url, moved_at = excluded.moved_at",
        [old_url, new_url, to_db(now)],
    )
    db.execute("UPDATE feed_moves SET new_url = ? WHERE new_url = ?", [new_url, old_url])
    db.execute("DELETE FROM feed_moves WHERE old_url = new_url")


def moved_to(db: sqlite_utils.Database, url: str) -> str | None:
    """Where a feed that was at `url` is polled now (None: it never moved)."""
    row = db.execute("SELECT new_url FROM feed_moves WHERE old_url = ?", [url]).fetchone()
    return row[0] if row else None


def moved_from(db: sqlite_utils.Database) -> dict[str, tuple[str, ...]]:
    """Every feed URL that others moved to -> their old URLs, oldest move first."""
    found: dict[str, tuple[str, ...]] = {}
    for old_url, new_url in db.execute("SELECT old_url, new_url FROM feed_moves ORDER BY moved_at, old_url"):
        found[new_url] = found.get(new_url, ()) + (old_url,)
    return found
