"""The schema, as numbered migrations. PRAGMA user_version is the schema version.

Each index says which query it serves. Never edit a released migration: add one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from storage.exceptions import SchemaTooNewError

if TYPE_CHECKING:  # annotations only: reading commands never load sqlite_utils (storage/db.py)
    import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        BEGIN IMMEDIATE;
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,          -- serves: lookup by URL (feeds add/remove, config sync)
            name TEXT NOT NULL,
            interval_seconds INTEGER,              -- the operator's interval, NULL: default/adaptive
            adaptive_interval_seconds INTEGER,     -- from the observed publishing rate
            adaptive INTEGER NOT NULL DEFAULT 1,
            full_text INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 1,      -- 0 after `feeds remove`; rows stay for their articles
            etag TEXT,
            last_modified TEXT,
            http_status INTEGER,
            error TEXT,
            warning TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_polled_at TEXT,
            last_success_at TEXT,
            next_poll_at TEXT,
            disabled_reason TEXT,
            body_hash TEXT,
            retry_after_until TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),   -- the feed that showed it first
            url TEXT,                                        -- canonical link, NULL when the entry has none
            link TEXT NOT NULL DEFAULT '',
            guid TEXT,
            title TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            published_at TEXT,
            first_seen_at TEXT NOT NULL,
            content_hash TEXT NOT NULL DEFAULT '',
            story_id INTEGER,
            update_count INTEGER NOT NULL DEFAULT 0      -- in-place text updates; capped (a feed rewriting every entry)
        );
        -- serves: identity across feeds (one row per canonical URL)
        CREATE UNIQUE INDEX articles_url ON articles(url) WHERE url IS NOT NULL;
        -- serves: hits list --since, rules backtest --since (range over first_seen_at)
        CREATE INDEX articles_first_seen ON articles(first_seen_at);
        -- serves: stories show ID (members of a story)
        CREATE INDEX articles_story ON articles(story_id);

        -- One row per (feed, entry): an article seen in several feeds has several sources.
        CREATE TABLE article_sources (
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            entry_key TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            first_seen_at TEXT NOT NULL,
            PRIMARY KEY (feed_id, entry_key)                 -- serves: is this entry new?
        );
        -- serves: articles stored per feed (feeds list), sources of an article
        CREATE INDEX article_sources_article ON article_sources(article_id);

        CREATE TABLE hits (
            id INTEGER PRIMARY KEY,
            rule_id TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            severity TEXT NOT NULL,
            rule_name TEXT NOT NULL DEFAULT '',
            terms TEXT NOT NULL DEFAULT '[]',                -- JSON list of matched terms with spans
            created_at TEXT NOT NULL,
            story_id INTEGER,                                -- the story of the article when the hit was made
            UNIQUE (rule_id, article_id)                     -- serves: exactly one hit per rule and article
        );
        -- serves: "has this rule already alerted on this story?"
        CREATE INDEX hits_rule_story ON hits(rule_id, story_id);
        -- serves: hits list --since (newest first)
        CREATE INDEX hits_created ON hits(created_at);
        -- serves: hits of an article (explain, backtest comparisons)
        CREATE INDEX hits_article ON hits(article_id);

        -- The transactional outbox: written in the poll's transaction, sent after commit.
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            hit_id INTEGER NOT NULL REFERENCES hits(id),
            channel TEXT NOT NULL,
            status TEXT NOT NULL,                            -- pending | sent | failed | dead | muted | skipped
            attempts INTEGER NOT NULL DEFAULT 0,
            idempotency_key TEXT NOT NULL UNIQUE,            -- the webhook-id; same on every retry
            created_at TEXT NOT NULL,
            next_attempt_at TEXT,
            last_error TEXT,
            sent_at TEXT,
            digest TEXT,                                     -- NULL: immediate; else the digest schedule it waits for
            rule_id TEXT NOT NULL DEFAULT '',                -- copied from the hit for the throttle check
            UNIQUE (hit_id, channel)                         -- serves: one delivery per hit and channel
        );
        -- serves: throttle ("an immediate alert for this rule and channel in the last hour?")
        CREATE INDEX deliveries_rule_channel ON deliveries(rule_id, channel, created_at);
        -- serves: collecting a digest's waiting deliveries
        CREATE INDEX deliveries_digest ON deliveries(digest, status) WHERE digest IS NOT NULL;

        -- Story clustering: a MinHash signature per article and its LSH band keys.
        CREATE TABLE article_signatures (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            signature BLOB NOT NULL,
            first_seen_at TEXT NOT NULL
        );
        -- WITHOUT ROWID: the primary key is the only b-tree, so each key costs one insert.
        CREATE TABLE article_bands (
            band_key INTEGER NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            PRIMARY KEY (band_key, article_id)               -- serves: candidate reprints (same band key)
        ) WITHOUT ROWID;

        -- `alerts mute RULE --for 6h`: hits still stored, deliveries start as 'muted'.
        CREATE TABLE mutes (
            rule_id TEXT PRIMARY KEY,
            until TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        -- serves: the dispatcher's "what is due now" scan
        CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);

        -- Full-text index for `hits search`, named and shaped as sqlite-utils' enable_fts
        -- makes it, so `sqlite-utils search` and Datasette use it as they are. New rows are
        -- indexed in batches (storage.articles.index_pending), not by an insert trigger:
        -- FTS5 writes a segment per transaction, which was a third of the cost of a poll.
        CREATE VIRTUAL TABLE articles_fts USING FTS5 (title, summary, content=[articles]);
        CREATE TABLE fts_progress (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_indexed_id INTEGER NOT NULL              -- articles up to this id are in articles_fts
        );
        INSERT INTO fts_progress (id, last_indexed_id) VALUES (1, 0);
        CREATE TRIGGER articles_ad AFTER DELETE ON articles
        WHEN old.id <= (SELECT last_indexed_id FROM fts_progress) BEGIN
          INSERT INTO articles_fts (articles_fts, rowid, title, summary) VALUES('delete', old.rowid, old.title, old.summary);
        END;
        CREATE TRIGGER articles_au AFTER UPDATE OF title, summary ON articles
        WHEN old.id <= (SELECT last_indexed_id FROM fts_progress) BEGIN
          INSERT INTO articles_fts (articles_fts, rowid, title, summary) VALUES('delete', old.rowid, old.title, old.summary);
          INSERT INTO articles_fts (rowid, title, summary) VALUES (new.rowid, new.title, new.summary);
        END;
        PRAGMA user_version = 1;
        COMMIT;
        """
    )


def _v2(db: sqlite_utils.Database) -> None:
    """feeds.item_digests: the digests of the last parsed body's frame and items (monitor/parse/delta.py)."""
    from storage.db import transaction  # storage.db imports this module

    with transaction(db):  # BEGIN IMMEDIATE, then look again: another process may have migrated meanwhile
        if db.execute("PRAGMA user_version").fetchone()[0] >= 2:
            return
        db.execute("ALTER TABLE feeds ADD COLUMN item_digests BLOB")
        db.execute("PRAGMA user_version = 2")


def _v3(db: sqlite_utils.Database) -> None:
    """hits(story_id, created_at): the web console's stories (storage/console.py)."""
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 3:
            return
        # serves: a story's hits and notifications, and "was this story on an earlier page?"
        # (storage/console.py)
        db.execute("CREATE INDEX hits_story_created ON hits(story_id, created_at)")
        db.execute("PRAGMA user_version = 3")


def _v4(db: sqlite_utils.Database) -> None:
    """hits(rule_id, created_at): one rule's stories, newest first (storage/console.py)."""
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 4:
            return
        # serves: the stories of one rule, newest first (the console's rule filter, per-rule Atom feeds)
        db.execute("CREATE INDEX hits_rule_created ON hits(rule_id, created_at)")
        db.execute("PRAGMA user_version = 4")


def _v5(db: sqlite_utils.Database) -> None:
    """Notifications (issue 14): an outbox row carries every hit of one story routed to one channel.

    Existing rows become closed one-hit notifications, so nothing already queued changes.
    """
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 5:
            return
        # One statement at a time: executescript() would COMMIT the transaction first.
        for statement in re.split(r";[ \t]*(?:--[^\n]*)?\n", _V5_STATEMENTS):
            if statement.strip():
                db.execute(statement)


_V5_STATEMENTS = """
            ALTER TABLE deliveries ADD COLUMN story_id INTEGER;          -- the story it is about
            ALTER TABLE deliveries ADD COLUMN update_number INTEGER NOT NULL DEFAULT 0;  -- >0: a severity update
            ALTER TABLE deliveries ADD COLUMN severity TEXT NOT NULL DEFAULT '';  -- its highest hit's
            ALTER TABLE deliveries ADD COLUMN raised_from TEXT;         -- an update: the severity notified before
            ALTER TABLE deliveries ADD COLUMN closed_at TEXT;           -- NULL: the story's hits may still join
            ALTER TABLE deliveries ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;  -- 1: its next attempt probes a paused channel
            -- Every hit a notification carries (its opening hit included).
            CREATE TABLE delivery_hits (
                delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
                hit_id INTEGER NOT NULL REFERENCES hits(id),
                PRIMARY KEY (delivery_id, hit_id)                       -- serves: the hits of a notification
            ) WITHOUT ROWID;
            -- serves: throttle ("an immediate notification carrying this rule on this channel lately?")
            CREATE INDEX delivery_hits_hit ON delivery_hits(hit_id);
            -- serves: "is a notification of this story collecting on this channel?", "what was notified?"
            CREATE INDEX deliveries_story_channel ON deliveries(story_id, channel) WHERE story_id IS NOT NULL;
            -- serves: a channel's due notifications, oldest first (each on its own retry schedule)
            CREATE INDEX deliveries_channel_due ON deliveries(channel, status, next_attempt_at);
            INSERT INTO delivery_hits (delivery_id, hit_id) SELECT id, hit_id FROM deliveries;
            UPDATE deliveries SET closed_at = created_at,
                severity = coalesce((SELECT severity FROM hits WHERE hits.id = deliveries.hit_id), ''),
                story_id = (SELECT story_id FROM hits WHERE hits.id = deliveries.hit_id);
            PRAGMA user_version = 5
"""


def _v6(db: sqlite_utils.Database) -> None:
    """Aggregator items (issue 14.4): the outlet an item names, and title keys for story grouping."""
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 6:
            return
        db.execute("ALTER TABLE articles ADD COLUMN outlet TEXT NOT NULL DEFAULT ''")  # <source> of an aggregator item
        # A title key per article first seen within the story window (pruned with the band keys):
        # an aggregator item with only a title joins the story of an article with the same title.
        db.execute(
            "CREATE TABLE article_titles ("
            " title_key TEXT NOT NULL,"
            " article_id INTEGER NOT NULL REFERENCES articles(id),"
            " title_only INTEGER NOT NULL,"  # the article has no text but its title
            " first_seen_at TEXT NOT NULL,"
            " PRIMARY KEY (title_key, article_id)"  # serves: the articles with this title key
            ") WITHOUT ROWID"
        )
        db.execute("PRAGMA user_version = 6")


def _v7(db: sqlite_utils.Database) -> None:
    """Feed moves (issue 15.10): every URL that answered a permanent redirect, and where it went."""
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 7:
            return
        db.execute(
            "CREATE TABLE feed_moves ("
            " old_url TEXT PRIMARY KEY,"  # serves: config sync ("is this config URL a feed that moved?")
            " new_url TEXT NOT NULL,"  # where it is polled now (chains are shortened as feeds move on)
            " moved_at TEXT NOT NULL"
            ")"
        )
        # serves: a feed's old URLs (feeds list), shortening a chain when a feed moves again
        db.execute("CREATE INDEX feed_moves_new ON feed_moves(new_url)")
        db.execute("PRAGMA user_version = 7")


def _v8(db: sqlite_utils.Database) -> None:
    """Story grouping on boilerplate text (issue 17.4): each band key row carries its article's
    story, and title-only articles get an index of their own, so neither lookup reads the
    articles table nor every holder of a busy key."""
    from storage.db import transaction

    with transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] >= 8:
            return
        # The band table is one story window deep (pruned hourly), so rebuilding it is cheap.
        db.execute(
            "CREATE TABLE article_bands_v8 ("
            " band_key INTEGER NOT NULL,"
            " article_id INTEGER NOT NULL REFERENCES articles(id),"
            " story_id INTEGER NOT NULL,"  # the article's story when its keys were stored (it never changes after)
            " PRIMARY KEY (band_key, article_id)"  # serves: the newest holders of a band key, and their stories
            ") WITHOUT ROWID"
        )
        db.execute(
            "INSERT INTO article_bands_v8 (band_key, article_id, story_id) "
            "SELECT b.band_key, b.article_id, coalesce(a.story_id, a.id) FROM article_bands b JOIN articles a ON a.id = b.article_id"
        )
        db.execute("DROP TABLE article_bands")
        db.execute("ALTER TABLE article_bands_v8 RENAME TO article_bands")
        # serves: the title-only holders of a title key (an article with text is compared by title
        # only with those; templated titles share a key with thousands of full-text reports)
        db.execute("CREATE INDEX article_titles_title_only ON article_titles(title_key) WHERE title_only = 1")
        db.execute("PRAGMA user_version = 8")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had before."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this monitor's ({SCHEMA_VERSION}); upgrade minerals-monitor"
        )
    # Each migration is one script that opens and commits its own transaction and
    # sets user_version inside it, so a crash leaves the old version or the new one.
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version - 1](db)
    return current
