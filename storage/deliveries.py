"""SQL for the outbox: one delivery per (hit, channel), sent after commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from storage.articles import _ARTICLE_COLUMNS, _article
from storage.hits import _HIT_COLUMNS, _hit
from storage.timefmt import from_db, to_db
from storage.types import Alert, Delivery, StoryMember

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils

_DELIVERY_COLUMNS = (
    "d.id, d.hit_id, d.channel, d.status, d.attempts, d.idempotency_key, d.created_at, "
    "d.next_attempt_at, d.last_error, d.sent_at, d.digest"
)
_WAITING = ("pending", "failed")


def _delivery(row: tuple) -> Delivery:
    return Delivery(
        id=row[0],
        hit_id=row[1],
        channel=row[2],
        status=row[3],
        attempts=row[4],
        idempotency_key=row[5],
        created_at=from_db(row[6]),
        next_attempt_at=from_db(row[7]),
        last_error=row[8],
        sent_at=from_db(row[9]),
        digest=row[10],
    )


def new_idempotency_key() -> str:
    """A Standard Webhooks message id: stable for the life of the delivery."""
    return f"msg_{uuid.uuid4().hex}"


def enqueue(
    db: sqlite_utils.Database,
    hit_id: int,
    channel: str,
    now: datetime,
    status: str = "pending",
    *,
    rule_id: str = "",
    digest: str | None = None,
) -> bool:
    """Add the outbox row for one hit and channel; False if it already exists."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO deliveries (hit_id, channel, status, idempotency_key, created_at, next_attempt_at, "
        "rule_id, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [hit_id, channel, status, new_idempotency_key(), to_db(now), to_db(now), rule_id, digest],
    )
    return cursor.rowcount > 0


def immediate_since(db: sqlite_utils.Database, rule_id: str, channel: str, since: datetime) -> bool:
    """Was an immediate alert for this rule and channel created since `since`? (throttle)"""
    row = db.execute(
        "SELECT 1 FROM deliveries WHERE rule_id = ? AND channel = ? AND created_at >= ? AND digest IS NULL "
        "AND status IN ('pending', 'failed', 'sent', 'dead') LIMIT 1",
        [rule_id, channel, to_db(since)],
    ).fetchone()
    return row is not None


def waiting_for_digest(db: sqlite_utils.Database, digest: str) -> dict[str, list[Alert]]:
    """Channel -> alerts waiting for this digest schedule, oldest first."""
    rows = db.execute(f"{_ALERT_SELECT} WHERE d.digest = ? AND d.status = 'digest' ORDER BY d.id", [digest]).fetchall()
    grouped: dict[str, list[Alert]] = {}
    for alert in _alerts(db, rows):
        grouped.setdefault(alert.delivery.channel, []).append(alert)
    return grouped


def mark_digest_sent(db: sqlite_utils.Database, delivery_ids: list[int], now: datetime) -> None:
    db.conn.executemany(
        "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL WHERE id = ?",
        [(to_db(now), delivery_id) for delivery_id in delivery_ids],
    )


def mark_digest_failed(db: sqlite_utils.Database, delivery_ids: list[int], error: str) -> None:
    """A failed digest keeps its deliveries waiting for the next one: matches are never dropped."""
    db.conn.executemany(
        "UPDATE deliveries SET attempts = attempts + 1, last_error = ? WHERE id = ?",
        [(error, delivery_id) for delivery_id in delivery_ids],
    )


def set_mute(db: sqlite_utils.Database, rule_id: str, until: datetime, now: datetime) -> None:
    db.execute(
        "INSERT INTO mutes (rule_id, until, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT(rule_id) DO UPDATE SET until = excluded.until, created_at = excluded.created_at",
        [rule_id, to_db(until), to_db(now)],
    )


def remove_mute(db: sqlite_utils.Database, rule_id: str) -> bool:
    return db.execute("DELETE FROM mutes WHERE rule_id = ?", [rule_id]).rowcount > 0


def active_mutes(db: sqlite_utils.Database, now: datetime) -> dict[str, datetime]:
    rows = db.execute("SELECT rule_id, until FROM mutes WHERE until > ?", [to_db(now)]).fetchall()
    return {rule_id: from_db(until) for rule_id, until in rows}


_ALERT_SELECT = f"""
    SELECT {_DELIVERY_COLUMNS}, {_HIT_COLUMNS}, {_ARTICLE_COLUMNS}
    FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN articles a ON a.id = h.article_id
    JOIN feeds f ON f.id = a.feed_id
"""
_DELIVERY_WIDTH = len(_DELIVERY_COLUMNS.split(","))
_HIT_WIDTH = len(_HIT_COLUMNS.split(","))


def _alerts(db: sqlite_utils.Database, rows: list[tuple]) -> list[Alert]:
    alerts = []
    for row in rows:
        delivery = _delivery(row[:_DELIVERY_WIDTH])
        hit = _hit(row[_DELIVERY_WIDTH : _DELIVERY_WIDTH + _HIT_WIDTH])
        article = _article(row[_DELIVERY_WIDTH + _HIT_WIDTH :])
        members = story_members(db, article.story_id, exclude_article_id=article.id) if article.story_id else ()
        alerts.append(Alert(delivery=delivery, hit=hit, article=article, also_reported_by=members))
    return alerts


def story_members(db: sqlite_utils.Database, story_id: int, exclude_article_id: int | None = None) -> tuple[StoryMember, ...]:
    rows = db.execute(
        "SELECT a.id, coalesce(a.url, a.link), a.title, f.name, a.published_at FROM articles a "
        "JOIN feeds f ON f.id = a.feed_id WHERE a.story_id = ? AND a.id != ? ORDER BY a.id",
        [story_id, exclude_article_id or 0],
    ).fetchall()
    return tuple(StoryMember(article_id=r[0], url=r[1], title=r[2], feed_name=r[3], published_at=from_db(r[4])) for r in rows)


def waiting_for_channel(db: sqlite_utils.Database, channel: str, limit: int = 100) -> list[Alert]:
    """The channel's undelivered alerts in creation order (the head decides when to send)."""
    rows = db.execute(
        f"{_ALERT_SELECT} WHERE d.channel = ? AND d.status IN ('pending', 'failed') ORDER BY d.id LIMIT ?",
        [channel, limit],
    ).fetchall()
    return _alerts(db, rows)


def channels_waiting(db: sqlite_utils.Database) -> dict[str, datetime | None]:
    """Channel -> next attempt time of its oldest waiting delivery."""
    rows = db.execute(
        "SELECT channel, next_attempt_at FROM deliveries d WHERE status IN ('pending', 'failed') "
        "AND id = (SELECT min(id) FROM deliveries e WHERE e.channel = d.channel AND e.status IN ('pending', 'failed'))"
    ).fetchall()
    return {channel: from_db(next_at) for channel, next_at in rows}


def mark_sent(db: sqlite_utils.Database, delivery_id: int, now: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL, "
        "next_attempt_at = NULL WHERE id = ?",
        [to_db(now), delivery_id],
    )


def mark_failed(db: sqlite_utils.Database, delivery_id: int, error: str, next_attempt_at: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
        [error, to_db(next_attempt_at), delivery_id],
    )


def mark_dead(db: sqlite_utils.Database, delivery_id: int, error: str) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, next_attempt_at = NULL WHERE id = ?",
        [error, delivery_id],
    )


def list_deliveries(db: sqlite_utils.Database, status: str | None = None, limit: int = 200) -> list[Alert]:
    if status:
        rows = db.execute(f"{_ALERT_SELECT} WHERE d.status = ? ORDER BY d.id DESC LIMIT ?", [status, limit]).fetchall()
    else:
        rows = db.execute(f"{_ALERT_SELECT} ORDER BY d.id DESC LIMIT ?", [limit]).fetchall()
    return _alerts(db, rows)


def retry(db: sqlite_utils.Database, now: datetime, delivery_id: int | None = None, dead_only: bool = False) -> int:
    """Make failed/dead deliveries due now again; returns how many."""
    if delivery_id is not None:
        cursor = db.execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ? WHERE id = ? AND status IN ('failed', 'dead')",
            [to_db(now), delivery_id],
        )
    else:
        statuses = ("dead",) if dead_only else ("failed", "dead")
        marks = ", ".join("?" for _ in statuses)
        cursor = db.execute(
            f"UPDATE deliveries SET status = 'pending', next_attempt_at = ? WHERE status IN ({marks})",
            [to_db(now), *statuses],
        )
    return cursor.rowcount
