"""SQL for the feeds aggregate: the list to poll and each feed's health."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.feed_moves import move_feed, moved_from
from storage.timefmt import from_db, to_db
from storage.types import Feed, FeedSpec, PollRecord

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils

_FEED_COLUMNS = (
    "id, url, name, interval_seconds, etag, last_modified, http_status, error, warning, "
    "consecutive_failures, last_polled_at, last_success_at, next_poll_at, disabled_reason, body_hash, full_text, "
    "adaptive_interval_seconds, adaptive, item_digests"
)


def _feed(row: tuple, articles_stored: int = 0, new_per_day: float | None = 0.0) -> Feed:
    return Feed(
        id=row[0],
        url=row[1],
        name=row[2],
        interval_seconds=row[3],
        etag=row[4],
        last_modified=row[5],
        http_status=row[6],
        error=row[7],
        warning=row[8],
        consecutive_failures=row[9],
        last_polled_at=from_db(row[10]),
        last_success_at=from_db(row[11]),
        next_poll_at=from_db(row[12]),
        disabled_reason=row[13],
        body_hash=row[14],
        full_text=bool(row[15]),
        adaptive_interval_seconds=row[16],
        adaptive=bool(row[17]),
        item_digests=row[18],
        articles_stored=articles_stored,
        new_per_day=new_per_day,
    )


def upsert_feed(db: sqlite_utils.Database, spec: FeedSpec, now: datetime) -> tuple[Feed, bool]:
    """Add a feed, or re-activate and update an existing one. Returns (feed, created)."""
    existing = db.execute("SELECT id FROM feeds WHERE url = ?", [spec.url]).fetchone()
    name = spec.name or spec.url
    if existing:
        # No name given (a config entry without one): keep the stored name (from `feeds add --name` or OPML).
        db.execute(
            "UPDATE feeds SET name = coalesce(nullif(?, ''), name), interval_seconds = ?, full_text = ?, adaptive = ?, "
            "active = 1 WHERE id = ?",
            [spec.name, spec.interval_seconds, int(spec.full_text), int(spec.adaptive), existing[0]],
        )
        return get_feed(db, existing[0]), False
    cursor = db.execute(
        "INSERT INTO feeds (url, name, interval_seconds, full_text, adaptive, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [spec.url, name, spec.interval_seconds, int(spec.full_text), int(spec.adaptive), to_db(now)],
    )
    return get_feed(db, cursor.lastrowid), True


def deactivate_feed(db: sqlite_utils.Database, url: str) -> bool:
    """`feeds remove`: stop polling; the feed's articles and hits stay."""
    cursor = db.execute("UPDATE feeds SET active = 0 WHERE url = ? AND active = 1", [url])
    return cursor.rowcount > 0


def get_feed(db: sqlite_utils.Database, feed_id: int) -> Feed:
    row = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = ?", [feed_id]).fetchone()
    if row is None:
        raise KeyError(feed_id)
    return _feed(row)


def feed_by_url(db: sqlite_utils.Database, url: str) -> Feed | None:
    row = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = ?", [url]).fetchone()
    return _feed(row) if row else None


def active_feeds(db: sqlite_utils.Database) -> list[Feed]:
    rows = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE active = 1 ORDER BY id").fetchall()
    return [_feed(row) for row in rows]


def active_feed_ids(db: sqlite_utils.Database) -> list[int]:
    """Ids only: reading 10,000 whole rows held the event loop for a tenth of a second."""
    return [row[0] for row in db.execute("SELECT id FROM feeds WHERE active = 1 ORDER BY id")]


def feeds_with_health(db: sqlite_utils.Database, now: datetime) -> list[Feed]:
    """Active feeds with articles stored and the new-articles rate over the last 7 days
    (over the feed's life when shorter; None before it has a day of history)."""
    week_ago = to_db(now - timedelta(days=7))
    rows = db.execute(
        f"""
        SELECT {", ".join("f." + c.strip() for c in _FEED_COLUMNS.split(","))},
               (SELECT count(*) FROM article_sources s WHERE s.feed_id = f.id),
               (SELECT count(*) FROM article_sources s WHERE s.feed_id = f.id AND s.first_seen_at >= ?),
               f.created_at
        FROM feeds f WHERE f.active = 1 ORDER BY f.id
        """,
        [week_ago],
    ).fetchall()
    width = len(_FEED_COLUMNS.split(","))
    old_urls = moved_from(db)
    return [
        replace(
            _feed(row[:width], articles_stored=row[width], new_per_day=_per_day(row[width + 1], from_db(row[width + 2]), now)),
            moved_from=old_urls.get(row[1], ()),
        )
        for row in rows
    ]


def _per_day(new_in_week: int, created_at: datetime | None, now: datetime) -> float | None:
    days = min(7.0, (now - created_at).total_seconds() / 86400) if created_at else 7.0
    return round(new_in_week / days, 2) if days >= 1 else None


def record_poll(db: sqlite_utils.Database, feed_id: int, record: PollRecord) -> None:
    """Write one poll's outcome on the feed row (health, caching headers, schedule); a permanent
    redirect moves the feed (storage/feed_moves.py: after a merge the row is gone)."""
    if record.success:
        failures_sql = "0"
    elif record.counts_as_failure:
        failures_sql = "consecutive_failures + 1"
    else:
        failures_sql = "consecutive_failures"
    db.execute(
        f"""
        UPDATE feeds SET
            last_polled_at = ?,
            http_status = ?,
            error = ?,
            warning = ?,
            etag = coalesce(?, etag),
            last_modified = coalesce(?, last_modified),
            next_poll_at = ?,
            body_hash = coalesce(?, body_hash),
            adaptive_interval_seconds = coalesce(?, adaptive_interval_seconds),
            item_digests = CASE WHEN ? THEN ? ELSE item_digests END,
            disabled_reason = ?,
            consecutive_failures = {failures_sql},
            last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END
        WHERE id = ?
        """,
        [
            to_db(record.polled_at),
            record.http_status,
            record.error,
            record.warning,
            record.etag,
            record.last_modified,
            to_db(record.next_poll_at),
            record.body_hash,
            record.adaptive_interval_seconds,
            int(record.parsed),
            record.item_digests,
            record.disabled_reason,
            int(record.success),
            to_db(record.polled_at),
            feed_id,
        ],
    )
    if record.new_url:  # a permanent redirect moves the feed, or merges it into the feed polled there
        move_feed(db, feed_id, record.new_url, record.polled_at)
