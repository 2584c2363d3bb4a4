"""Storage: schema, identity, hits, outbox, permissions."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta

import pytest

from storage import DatabaseLockedError, RunLock, StorageError, articles, deliveries, feeds, hits, open_database, transaction
from storage.schema import SCHEMA_VERSION
from storage.types import Article, FeedSpec, Hit, MatchedTerm, PollRecord
from tests.conftest import NOW


def _feed(db, url="http://127.0.0.1/feed.xml", name="Feed"):
    with transaction(db):
        feed, _ = feeds.upsert_feed(db, FeedSpec(url=url, name=name), NOW)
    return feed


def _article(feed_id, key="guid:1", url="https://example.com/a", title="Antimony deal", summary="USSM and FWO sign", **kw):
    return Article(feed_id=feed_id, entry_key=key, url=url, title=title, summary=summary, content_hash=f"{title}|{summary}", **kw)


def test_new_database_is_private_wal_and_versioned(tmp_path):
    path = tmp_path / "sub" / "m.db"
    db = open_database(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    # Re-opening migrates nothing and keeps data.
    again = open_database(path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.db"
    db = open_database(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(StorageError, match="newer"):
        open_database(path)


def test_ingest_is_idempotent_and_detects_updates(db):
    feed = _feed(db)
    with transaction(db):
        first = articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW)
    assert len(first.new) == 1 and first.new[0].id
    with transaction(db):
        again = articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW)
    assert again.new == () and again.unchanged == 1
    with transaction(db):
        edited = articles.ingest_entries(db, feed.id, [_article(feed.id, summary="USSM and FWO sign $500m MoU")], NOW)
    assert len(edited.updated) == 1 and edited.updated[0].id == first.new[0].id
    assert articles.count_articles(db) == 1
    assert articles.get_article(db, first.new[0].id).summary == "USSM and FWO sign $500m MoU"


def test_same_canonical_url_in_two_feeds_is_one_article_seen_in_both(db):
    one = _feed(db, "http://127.0.0.1/one.xml", "One")
    two = _feed(db, "http://127.0.0.1/two.xml", "Two")
    with transaction(db):
        articles.ingest_entries(db, one.id, [_article(one.id, key="guid:a")], NOW)
        result = articles.ingest_entries(db, two.id, [_article(two.id, key="guid:b")], NOW)
    assert result.new == () and result.also_seen == 1
    assert articles.count_articles(db) == 1
    health = {f.name: f.articles_stored for f in feeds.feeds_with_health(db, NOW)}
    assert health == {"One": 1, "Two": 1}


def test_fts_search_finds_title_and_summary_and_reports_bad_syntax(db):
    feed = _feed(db)
    with transaction(db):
        articles.ingest_entries(db, feed.id, [_article(feed.id), _article(feed.id, key="guid:2", url="https://e.com/b",
                                                                          title="Gold prices", summary="rise again")], NOW)
    assert [a.title for a in articles.search_articles(db, "antimony")] == ["Antimony deal"]
    assert [a.title for a in articles.search_articles(db, "rise")] == ["Gold prices"]
    with pytest.raises(StorageError, match="FTS5"):
        articles.search_articles(db, '"unbalanced')


def test_one_hit_per_rule_and_article_and_one_delivery_per_channel(db):
    feed = _feed(db)
    with transaction(db):
        article = articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW).new[0]
    hit = Hit(rule_id="ussm", article_id=article.id, severity="high",
              terms=(MatchedTerm("USSM", "summary", 0, 4, "USSM"),), rule_name="USSM")
    with transaction(db):
        inserted = hits.insert_hits(db, [hit, hit], NOW)
        assert len(inserted) == 1
        assert deliveries.enqueue(db, inserted[0].id, "console", NOW)
        assert not deliveries.enqueue(db, inserted[0].id, "console", NOW)
    with transaction(db):
        assert hits.insert_hits(db, [hit], NOW) == []
    listed = hits.list_hits(db)
    assert listed[0].hit.terms == hit.terms and listed[0].article.title == "Antimony deal"
    waiting = deliveries.waiting_for_channel(db, "console")
    assert len(waiting) == 1 and waiting[0].delivery.idempotency_key.startswith("msg_")


def test_delivery_lifecycle_keeps_its_idempotency_key(db):
    feed = _feed(db)
    with transaction(db):
        article = articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW).new[0]
        hit = hits.insert_hits(db, [Hit("ussm", article.id, "high")], NOW)[0]
        deliveries.enqueue(db, hit.id, "hook", NOW)
    key = deliveries.waiting_for_channel(db, "hook")[0].delivery.idempotency_key
    delivery_id = deliveries.waiting_for_channel(db, "hook")[0].delivery.id
    with transaction(db):
        deliveries.mark_failed(db, delivery_id, "HTTP 503", NOW + timedelta(seconds=5))
    failed = deliveries.list_deliveries(db, "failed")[0]
    assert (failed.delivery.attempts, failed.delivery.last_error, failed.delivery.idempotency_key) == (1, "HTTP 503", key)
    assert deliveries.channels_waiting(db) == {"hook": NOW + timedelta(seconds=5)}
    with transaction(db):
        deliveries.mark_dead(db, delivery_id, "gave up")
        assert deliveries.retry(db, NOW, dead_only=True) == 1
        deliveries.mark_sent(db, delivery_id, NOW)
    sent = deliveries.list_deliveries(db, "sent")[0]
    assert sent.delivery.idempotency_key == key and sent.delivery.attempts == 3


def test_record_poll_tracks_failures_and_keeps_validators_on_304(db):
    feed = _feed(db)
    with transaction(db):
        feeds.record_poll(db, feed.id, PollRecord(NOW, True, 200, etag='"v1"', last_modified="Mon, 01 Jan 2026 00:00:00 GMT"))
        feeds.record_poll(db, feed.id, PollRecord(NOW, True, 304))
    stored = feeds.get_feed(db, feed.id)
    assert (stored.etag, stored.last_modified, stored.consecutive_failures) == ('"v1"', "Mon, 01 Jan 2026 00:00:00 GMT", 0)
    with transaction(db):
        feeds.record_poll(db, feed.id, PollRecord(NOW, False, 500, error="HTTP 500"))
        feeds.record_poll(db, feed.id, PollRecord(NOW, False, None, error="down", counts_as_failure=False))
        feeds.record_poll(db, feed.id, PollRecord(NOW, False, 503, error="HTTP 503"))
    stored = feeds.get_feed(db, feed.id)
    assert stored.consecutive_failures == 2 and stored.failing and stored.error == "HTTP 503"
    with transaction(db):
        feeds.record_poll(db, feed.id, PollRecord(NOW, True, 200, new_url="http://127.0.0.1/moved.xml"))
    stored = feeds.get_feed(db, feed.id)
    assert stored.consecutive_failures == 0 and stored.url == "http://127.0.0.1/moved.xml"


def test_transaction_rolls_back_everything_on_error(db):
    feed = _feed(db)
    with pytest.raises(RuntimeError):
        with transaction(db):
            articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW)
            raise RuntimeError("crash before commit")
    assert articles.count_articles(db) == 0


def test_reader_does_not_fail_while_a_writer_holds_the_lock(tmp_path):
    path = tmp_path / "busy.db"
    writer = open_database(path)
    reader = open_database(path)
    feed = _feed(writer)
    release = threading.Event()

    def hold():
        with transaction(writer):
            articles.ingest_entries(writer, feed.id, [_article(feed.id)], NOW)
            release.wait(2)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert feeds.feeds_with_health(reader, NOW)[0].url == feed.url  # WAL: readers never blocked
    finally:
        release.set()
        thread.join()
    writer.close()
    reader.close()


def test_run_lock_refuses_a_second_daemon(tmp_path):
    path = tmp_path / "m.db"
    with RunLock(path):
        with pytest.raises(DatabaseLockedError, match="already running"):
            RunLock(path).acquire()
    with RunLock(path):  # released on exit
        pass


def test_naive_datetimes_are_rejected(db):
    feed = _feed(db)
    with pytest.raises(ValueError, match="naive"):
        with transaction(db):
            articles.ingest_entries(db, feed.id, [_article(feed.id)], NOW.replace(tzinfo=None))


def test_story_band_keys_are_pruned_after_the_window(db):
    from storage import stories

    feed = _feed(db)
    with transaction(db):
        old = articles.ingest_entries(db, feed.id, [_article(feed.id, key="g:old", url="https://e.com/old")], NOW - timedelta(days=5)).new[0]
        new = articles.ingest_entries(db, feed.id, [_article(feed.id, key="g:new", url="https://e.com/new")], NOW).new[0]
        stories.add_signature(db, old.id, b"\x00" * 8, [1, 2], NOW - timedelta(days=5))
        stories.add_signature(db, new.id, b"\x00" * 8, [1, 3], NOW)
        assert {row[1] for row in stories.band_holders(db, [1], NOW - timedelta(days=10))} == {old.id, new.id}
        assert {row[1] for row in stories.band_holders(db, [1], NOW - timedelta(days=3))} == {new.id}  # the window
        assert stories.prune_bands(db, NOW - timedelta(days=3)) == 2
        assert [row[1] for row in stories.band_holders(db, [1, 2], NOW - timedelta(days=10))] == [new.id]


def test_a_migration_another_process_already_ran_is_not_run_again(tmp_path):
    """Two processes open an old database at once; both read version 1, one migrates first:
    the other's migration looks again inside its own write transaction and does nothing."""
    from storage.schema import MIGRATIONS

    db = open_database(tmp_path / "m.db")  # migrated to the newest version
    MIGRATIONS[1](db)  # the late process running v2 anyway
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "item_digests" in {row[1] for row in db.execute("PRAGMA table_info(feeds)")}


def test_v8_gives_each_band_row_its_articles_story(tmp_path):
    """A database of schema 7 keeps its band keys through v8, each row with its article's story."""
    import sqlite3

    import sqlite_utils

    from storage.schema import MIGRATIONS

    conn = sqlite3.connect(tmp_path / "v7.db", isolation_level=None)
    old = sqlite_utils.Database(conn)
    for migration in MIGRATIONS[:7]:
        migration(old)
    conn.execute("INSERT INTO feeds (id, url, name, created_at) VALUES (1, 'http://127.0.0.1/f.xml', 'F', 'x')")
    conn.executemany("INSERT INTO articles (id, feed_id, title, first_seen_at, story_id) VALUES (?, 1, 't', 'x', ?)",
                     [(1, 1), (2, 1), (3, None)])
    conn.executemany("INSERT INTO article_bands (band_key, article_id) VALUES (?, ?)", [(5, 1), (5, 2), (6, 3)])
    conn.close()
    db = open_database(tmp_path / "v7.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT band_key, article_id, story_id FROM article_bands ORDER BY 1, 2").fetchall() == [
        (5, 1, 1), (5, 2, 1), (6, 3, 3)]
    db.close()
