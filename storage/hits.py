"""SQL for the hits aggregate: one row per (rule, article), with the matched terms."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from storage.articles import _ARTICLE_COLUMNS, _article
from storage.timefmt import from_db, to_db
from storage.types import Hit, HitListing, MatchedTerm

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils


def _terms_to_json(terms: tuple[MatchedTerm, ...]) -> str:
    # By hand, not dataclasses.asdict: its recursive deep copy was a tenth of storing a poll.
    return json.dumps(
        [{"term": t.term, "field": t.field, "start": t.start, "end": t.end, "text": t.text} for t in terms],
        ensure_ascii=False,
    )


def _terms_from_json(text: str) -> tuple[MatchedTerm, ...]:
    return tuple(MatchedTerm(**item) for item in json.loads(text or "[]"))


def _hit(row: tuple) -> Hit:
    return Hit(
        id=row[0],
        rule_id=row[1],
        article_id=row[2],
        severity=row[3],
        rule_name=row[4],
        terms=_terms_from_json(row[5]),
        created_at=from_db(row[6]),
        story_id=row[7],
    )


_HIT_COLUMNS = "h.id, h.rule_id, h.article_id, h.severity, h.rule_name, h.terms, h.created_at, h.story_id"


def insert_hits(db: sqlite_utils.Database, hits: list[Hit], now: datetime) -> list[Hit]:
    """Insert hits; a (rule, article) already stored is skipped. Returns the inserted ones with ids."""
    inserted: list[Hit] = []
    stamp = to_db(now)
    for hit in hits:
        cursor = db.execute(
            "INSERT OR IGNORE INTO hits (rule_id, article_id, severity, rule_name, terms, created_at, story_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [hit.rule_id, hit.article_id, hit.severity, hit.rule_name, _terms_to_json(hit.terms), stamp, hit.story_id],
        )
        if cursor.rowcount:
            inserted.append(replace(hit, id=cursor.lastrowid, created_at=now))
    return inserted


def rules_with_hits(db: sqlite_utils.Database, article_id: int) -> set[str]:
    """Rule ids that already hit this article (an updated entry re-alerts only for new ones)."""
    rows = db.execute("SELECT rule_id FROM hits WHERE article_id = ?", [article_id]).fetchall()
    return {row[0] for row in rows}


def list_hits(
    db: sqlite_utils.Database, *, since: datetime | None = None, rule_id: str | None = None, limit: int = 100
) -> list[HitListing]:
    """Newest hits first, with their articles and the size of their story."""
    where = ["h.created_at >= ?"]
    params: list = [to_db(since) if since else ""]
    if rule_id:
        where.append("h.rule_id = ?")
        params.append(rule_id)
    params.append(limit)
    rows = db.execute(
        f"""
        SELECT {_HIT_COLUMNS}, {_ARTICLE_COLUMNS},
               (SELECT count(*) FROM articles m WHERE m.story_id = a.story_id)
        FROM hits h JOIN articles a ON a.id = h.article_id JOIN feeds f ON f.id = a.feed_id
        WHERE {" AND ".join(where)}
        ORDER BY h.created_at DESC, h.id DESC LIMIT ?
        """,
        params,
    ).fetchall()
    width = len(_HIT_COLUMNS.split(","))
    return [
        HitListing(hit=_hit(row[:width]), article=_article(row[width:-1]), story_size=row[-1]) for row in rows
    ]


def hits_for_rule_ids(db: sqlite_utils.Database, since: datetime | None) -> dict[str, set[int]]:
    """rule id -> article ids hit since `since` (the live side of a backtest)."""
    rows = db.execute(
        "SELECT h.rule_id, h.article_id FROM hits h JOIN articles a ON a.id = h.article_id "
        "WHERE a.first_seen_at >= ?",
        [to_db(since) if since else ""],
    ).fetchall()
    result: dict[str, set[int]] = {}
    for rule_id, article_id in rows:
        result.setdefault(rule_id, set()).add(article_id)
    return result


def count_hits_since(db: sqlite_utils.Database, since: datetime) -> int:
    return db.execute("SELECT count(*) FROM hits WHERE created_at >= ?", [to_db(since)]).fetchone()[0]  # hits_created


def stored_rule_ids(db: sqlite_utils.Database) -> set[str]:
    """Every rule id that has hits (a rule since removed from the rules files included)."""
    return {row[0] for row in db.execute("SELECT DISTINCT rule_id FROM hits")}
