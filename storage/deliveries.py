"""SQL for the outbox: notifications (one per story and channel, or per hit), sent after commit.

A notification is a `deliveries` row plus the hits it carries (`delivery_hits`). With
`[alerts] group_by = "story"` the first immediate hit of a story opens one per channel,
open (`closed_at` NULL) while it collects; later hits of the story join it until the
dispatcher closes it to send it. Digest, muted and skipped rows, and every row with
`group_by = "rule"`, carry one hit and are closed from the start.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from storage.articles import _ARTICLE_COLUMNS, _article
from storage.hits import _HIT_COLUMNS, _hit
from storage.timefmt import from_db, to_db
from storage.types import SEVERITY_RANK, Alert, Delivery, HitListing, StoryMember

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils

_DELIVERY_COLUMNS = (
    "d.id, d.hit_id, d.channel, d.status, d.attempts, d.idempotency_key, d.created_at, "
    "d.next_attempt_at, d.last_error, d.sent_at, d.digest, d.story_id, d.update_number, d.severity, "
    "d.raised_from, d.closed_at"
)
_WAITING = "('pending', 'failed')"
_IMMEDIATE = "('pending', 'failed', 'sent', 'dead')"  # notifications that went (or go) out on their own


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
        story_id=row[11],
        update_number=row[12] or 0,
        severity=row[13] or "",
        raised_from=row[14],
        closed_at=from_db(row[15]),
    )


def new_idempotency_key() -> str:
    """A random Standard Webhooks message id, for rows that never leave on their own (digests, mutes)."""
    return f"msg_{uuid.uuid4().hex}"


def notification_key(channel: str, story_key: str, update_number: int, rule_id: str | None = None) -> str:
    """The webhook-id of a notification: a function of (channel, the story's first article key,
    update number), and of the rule with `group_by = "rule"`. The same after a lost database, so
    a receiver can drop the repeats of a notification sent again from scratch."""
    parts = [channel, story_key, str(update_number)] + ([rule_id] if rule_id is not None else [])
    return "msg_" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def story_key(db: sqlite_utils.Database, story_id: int) -> str:
    """The identity of a story that survives a lost database: its first article's canonical URL,
    else its link, else the feed URL and entry key it came from."""
    row = db.execute(
        "SELECT a.url, a.link, f.url, (SELECT s.entry_key FROM article_sources s WHERE s.article_id = a.id "
        "ORDER BY s.first_seen_at LIMIT 1) FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.id = ?",
        [story_id],
    ).fetchone()
    if row is None:
        return f"story:{story_id}"
    url, link, feed_url, entry_key = row
    return url or link or f"{feed_url}#{entry_key}"


def _unused(db: sqlite_utils.Database, key: str) -> str:
    """`key`, or a variant of it when a row already holds it (the unique index must never fail a poll)."""
    if db.execute("SELECT 1 FROM deliveries WHERE idempotency_key = ?", [key]).fetchone() is None:
        return key
    return f"{key}.{uuid.uuid4().hex[:8]}"


def enqueue(
    db: sqlite_utils.Database,
    hit_id: int,
    channel: str,
    now: datetime,
    status: str = "pending",
    *,
    rule_id: str = "",
    digest: str | None = None,
    idempotency_key: str | None = None,
    story_id: int | None = None,
    severity: str = "",
) -> int | None:
    """Add a closed one-hit outbox row; returns its id, None if (hit, channel) already has one."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO deliveries (hit_id, channel, status, idempotency_key, created_at, next_attempt_at, "
        "rule_id, digest, story_id, severity, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [hit_id, channel, status, _unused(db, idempotency_key) if idempotency_key else new_idempotency_key(),
         to_db(now), to_db(now), rule_id, digest,
         story_id, severity, to_db(now)],
    )
    if not cursor.rowcount:
        return None
    delivery_id = cursor.lastrowid
    db.execute("INSERT INTO delivery_hits (delivery_id, hit_id) VALUES (?, ?)", [delivery_id, hit_id])
    return delivery_id


def open_notification(
    db: sqlite_utils.Database,
    *,
    hit_id: int,
    rule_id: str,
    channel: str,
    story_id: int,
    severity: str,
    now: datetime,
    send_at: datetime,
    idempotency_key: str,
    update_number: int = 0,
    raised_from: str | None = None,
) -> int:
    """Open a notification of `story_id` on `channel`, collecting until `send_at`; returns its id."""
    cursor = db.execute(
        "INSERT INTO deliveries (hit_id, channel, status, idempotency_key, created_at, next_attempt_at, rule_id, "
        "story_id, update_number, severity, raised_from) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
        [hit_id, channel, _unused(db, idempotency_key), to_db(now), to_db(send_at), rule_id, story_id, update_number,
         severity, raised_from],
    )
    delivery_id = cursor.lastrowid
    db.execute("INSERT INTO delivery_hits (delivery_id, hit_id) VALUES (?, ?)", [delivery_id, hit_id])
    return delivery_id


def collecting(db: sqlite_utils.Database, story_id: int, channel: str) -> tuple[int, str] | None:
    """(id, severity) of the notification of this story still collecting on this channel."""
    row = db.execute(
        "SELECT id, severity FROM deliveries WHERE story_id = ? AND channel = ? AND closed_at IS NULL "
        "AND status = 'pending' ORDER BY id DESC LIMIT 1",
        [story_id, channel],
    ).fetchone()
    return (row[0], row[1]) if row else None


def notified(db: sqlite_utils.Database, story_id: int, channel: str) -> tuple[str, int] | None:
    """(highest severity, last update number) of this story's notifications on this channel so far."""
    rows = db.execute(
        f"SELECT severity, update_number FROM deliveries WHERE story_id = ? AND channel = ? AND digest IS NULL "
        f"AND status IN {_IMMEDIATE}",
        [story_id, channel],
    ).fetchall()
    if not rows:
        return None
    highest = max((severity for severity, _ in rows), key=lambda s: SEVERITY_RANK.get(s, -1))
    return highest, max(number for _, number in rows)


def join_notification(db: sqlite_utils.Database, delivery_id: int, hit_id: int, severity: str, current: str) -> str:
    """Add a hit to a collecting notification; returns the notification's severity after it."""
    db.execute("INSERT OR IGNORE INTO delivery_hits (delivery_id, hit_id) VALUES (?, ?)", [delivery_id, hit_id])
    if SEVERITY_RANK.get(severity, -1) > SEVERITY_RANK.get(current, -1):
        db.execute("UPDATE deliveries SET severity = ? WHERE id = ?", [severity, delivery_id])
        return severity
    return current


def close(db: sqlite_utils.Database, delivery_ids: list[int], now: datetime) -> None:
    """No more hits join these notifications: they are about to be sent (their content is now fixed)."""
    db.conn.executemany(
        "UPDATE deliveries SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
        [(to_db(now), delivery_id) for delivery_id in delivery_ids],
    )


def release_collecting(db: sqlite_utils.Database, now: datetime) -> int:
    """Make every collecting notification due now (`run --once` ends without waiting group_wait)."""
    return db.execute(
        "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND closed_at IS NULL AND next_attempt_at > ?",
        [to_db(now), to_db(now)],
    ).rowcount


def immediate_since(db: sqlite_utils.Database, rule_id: str, channel: str, since: datetime) -> bool:
    """Did an immediate notification carrying this rule on this channel start since `since`? (throttle)"""
    row = db.execute(
        f"SELECT 1 FROM hits h JOIN delivery_hits dh ON dh.hit_id = h.id JOIN deliveries d ON d.id = dh.delivery_id "
        f"WHERE h.rule_id = ? AND d.channel = ? AND d.created_at >= ? AND d.digest IS NULL "
        f"AND d.status IN {_IMMEDIATE} LIMIT 1",
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
_CHUNK = 500


def carried_order(severity: str, hit_id: int | None, opening_hit_id: int | None) -> tuple[int, bool, int]:
    """Sort key of the hits a notification carries: highest severity first (the first is its
    primary rule), among equals the opening hit, then the order they came in."""
    return -SEVERITY_RANK.get(severity, -1), hit_id != opening_hit_id, hit_id or 0


def _alerts(db: sqlite_utils.Database, rows: list[tuple]) -> list[Alert]:
    """Alerts for outbox rows, with every hit they carry and their stories' other outlets:
    three queries for the whole batch, not three per alert."""
    opened = [
        (_delivery(row[:_DELIVERY_WIDTH]), _hit(row[_DELIVERY_WIDTH : _DELIVERY_WIDTH + _HIT_WIDTH]),
         _article(row[_DELIVERY_WIDTH + _HIT_WIDTH :]))
        for row in rows
    ]
    carried = _carried_hits(db, [delivery.id for delivery, _, _ in opened])
    members = _members_of(db, {article.story_id for _, _, article in opened if article.story_id})
    alerts = []
    for delivery, hit, article in opened:
        matched = carried.get(delivery.id) or [HitListing(hit=hit, article=article)]
        matched.sort(key=lambda m: carried_order(m.hit.severity, m.hit.id, hit.id))
        others = tuple(member for member in members.get(article.story_id, ()) if member.article_id != article.id)
        alerts.append(Alert(delivery=delivery, hit=matched[0].hit, article=article, also_reported_by=others,
                            matched=tuple(matched)))
    return alerts


def _carried_hits(db: sqlite_utils.Database, delivery_ids: list[int]) -> dict[int, list[HitListing]]:
    found: dict[int, list[HitListing]] = {}
    for start in range(0, len(delivery_ids), _CHUNK):
        chunk = delivery_ids[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        for row in db.execute(
            f"SELECT dh.delivery_id, {_HIT_COLUMNS}, {_ARTICLE_COLUMNS} FROM delivery_hits dh "
            f"JOIN hits h ON h.id = dh.hit_id JOIN articles a ON a.id = h.article_id JOIN feeds f ON f.id = a.feed_id "
            f"WHERE dh.delivery_id IN ({marks})",
            chunk,
        ):
            found.setdefault(row[0], []).append(HitListing(hit=_hit(row[1 : 1 + _HIT_WIDTH]), article=_article(row[1 + _HIT_WIDTH :])))
    return found


def _members_of(db: sqlite_utils.Database, story_ids: set[int]) -> dict[int, list[StoryMember]]:
    found: dict[int, list[StoryMember]] = {}
    ids = sorted(story_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        for row in db.execute(
            "SELECT a.story_id, a.id, coalesce(a.url, a.link), a.title, coalesce(nullif(a.outlet, ''), f.name), a.published_at "
            f"FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.story_id IN ({marks}) ORDER BY a.id",
            chunk,
        ):
            member = StoryMember(article_id=row[1], url=row[2], title=row[3], feed_name=row[4], published_at=from_db(row[5]))
            found.setdefault(row[0], []).append(member)
    return found


def story_members(db: sqlite_utils.Database, story_id: int, exclude_article_id: int | None = None) -> tuple[StoryMember, ...]:
    rows = db.execute(
        "SELECT a.id, coalesce(a.url, a.link), a.title, coalesce(nullif(a.outlet, ''), f.name), a.published_at FROM articles a "
        "JOIN feeds f ON f.id = a.feed_id WHERE a.story_id = ? AND a.id != ? ORDER BY a.id",
        [story_id, exclude_article_id or 0],
    ).fetchall()
    return tuple(StoryMember(article_id=r[0], url=r[1], title=r[2], feed_name=r[3], published_at=from_db(r[4])) for r in rows)


def waiting_for_channel(db: sqlite_utils.Database, channel: str, limit: int = 100) -> list[Alert]:
    """The channel's undelivered notifications in creation order, due or not."""
    rows = db.execute(
        f"{_ALERT_SELECT} WHERE d.channel = ? AND d.status IN {_WAITING} ORDER BY d.id LIMIT ?",
        [channel, limit],
    ).fetchall()
    return _alerts(db, rows)


def due_ids(db: sqlite_utils.Database, channel: str, now: datetime, limit: int = 100,
            after_id: int = 0) -> list[tuple[int, bool]]:
    """(id, still collecting) of the channel's notifications due at `now`, oldest first (after `after_id`)."""
    rows = db.execute(
        f"SELECT id, closed_at IS NULL FROM deliveries WHERE channel = ? AND status IN {_WAITING} "
        "AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?",
        [channel, to_db(now), after_id, limit],
    ).fetchall()
    return [(row[0], bool(row[1])) for row in rows]


def alerts_by_id(db: sqlite_utils.Database, delivery_ids: list[int]) -> list[Alert]:
    """The notifications with these ids that are still waiting, in id order."""
    rows: list[tuple] = []
    for start in range(0, len(delivery_ids), _CHUNK):
        chunk = delivery_ids[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        rows += db.execute(f"{_ALERT_SELECT} WHERE d.id IN ({marks}) AND d.status IN {_WAITING}", chunk).fetchall()
    rows.sort(key=lambda row: row[0])
    return _alerts(db, rows)


def next_attempt_of(db: sqlite_utils.Database, delivery_id: int) -> datetime | None:
    """When this notification is tried next (None: it no longer waits)."""
    row = db.execute(f"SELECT next_attempt_at FROM deliveries WHERE id = ? AND status IN {_WAITING}", [delivery_id]).fetchone()
    return from_db(row[0]) if row else None


def next_due(db: sqlite_utils.Database, channel: str) -> datetime | None:
    """When the channel's next waiting notification is due (None: nothing waits)."""
    row = db.execute(
        f"SELECT min(next_attempt_at) FROM deliveries WHERE channel = ? AND status IN {_WAITING}", [channel]
    ).fetchone()
    return from_db(row[0]) if row and row[0] else None


def channels_waiting(db: sqlite_utils.Database) -> dict[str, datetime | None]:
    """Channel -> when its next waiting notification is due."""
    rows = db.execute(
        f"SELECT channel, min(next_attempt_at) FROM deliveries WHERE status IN {_WAITING} GROUP BY channel"
    ).fetchall()
    return {channel: from_db(next_at) for channel, next_at in rows}


def mark_sent(db: sqlite_utils.Database, delivery_id: int, now: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL, "
        "next_attempt_at = NULL, closed_at = coalesce(closed_at, ?), probe = 0 WHERE id = ?",
        [to_db(now), to_db(now), delivery_id],
    )


def mark_failed(db: sqlite_utils.Database, delivery_id: int, error: str, next_attempt_at: datetime,
                probe: bool = False) -> None:
    """A failed attempt. `probe`: the failure paused the channel, and this notification's next
    attempt probes it (kept here so that the pause survives a restart or the next `run --once`)."""
    db.execute(
        "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
        "probe = ? WHERE id = ?",
        [error, to_db(next_attempt_at), int(probe), delivery_id],
    )


def channel_probe(db: sqlite_utils.Database, channel: str) -> int | None:
    """The waiting notification whose next attempt probes this paused channel (None: not paused)."""
    row = db.execute(
        f"SELECT min(id) FROM deliveries WHERE channel = ? AND probe = 1 AND status IN {_WAITING}", [channel]
    ).fetchone()
    return row[0] if row else None


def mark_dead(db: sqlite_utils.Database, delivery_id: int, error: str) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, next_attempt_at = NULL, "
        "probe = 0 WHERE id = ?",
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
