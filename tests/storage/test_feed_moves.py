"""Feed moves in storage (issue 15.10): a permanent redirect to a URL that already is a feed
merges the two in one transaction; moves are remembered, chains shortened, a move back forgotten."""

from __future__ import annotations

from datetime import timedelta

from storage import articles, feed_moves, feeds, transaction
from storage.types import Article, FeedSpec, PollRecord
from tests.conftest import NOW

OLD, NEW, NEWER = "http://127.0.0.1/old.xml", "http://127.0.0.1/new.xml", "http://127.0.0.1/newer.xml"


def _feed(db, url):
    with transaction(db):
        return feeds.upsert_feed(db, FeedSpec(url=url), NOW)[0]


def _store(db, feed, *keys):
    entries = [Article(feed_id=feed.id, entry_key=key, url=f"https://e.example.com/{key}", title=key, summary="s",
                       content_hash=key) for key in keys]
    with transaction(db):
        articles.ingest_entries(db, feed.id, entries, NOW)


def test_a_redirect_to_a_listed_feed_merges_articles_and_keeps_the_fresher_validators(db):
    old, new = _feed(db, OLD), _feed(db, NEW)
    _store(db, old, "a1", "shared")
    _store(db, new, "b1", "shared")  # an entry both feeds showed
    with transaction(db):
        feeds.record_poll(db, new.id, PollRecord(NOW - timedelta(minutes=5), True, 200, etag='"stale"'))
        feeds.deactivate_feed(db, NEW)  # removed with `feeds remove`: polled again once the old one moves to it
        # The old feed's redirected poll fetched NEW just now: its validators are the fresher ones.
        feeds.record_poll(db, old.id, PollRecord(NOW, True, 200, etag='"fresh"', new_url=NEW))
    (merged,) = feeds.feeds_with_health(db, NOW)
    assert (merged.id, merged.url, merged.etag, merged.last_success_at) == (new.id, NEW, '"fresh"', NOW)
    assert merged.articles_stored == 3 and merged.moved_from == (OLD,)
    assert db.execute("SELECT DISTINCT feed_id FROM articles").fetchall() == [(new.id,)]
    assert feeds.feed_by_url(db, OLD) is None and feed_moves.moved_to(db, OLD) == NEW


def test_a_merge_keeps_the_targets_validators_when_they_are_fresher(db):
    old, new = _feed(db, OLD), _feed(db, NEW)
    with transaction(db):
        feeds.record_poll(db, new.id, PollRecord(NOW, True, 200, etag='"target"'))
        feeds.record_poll(db, old.id, PollRecord(NOW - timedelta(hours=1), False, 500, error="HTTP 500"))
        assert feed_moves.move_feed(db, old.id, NEW, NOW) == new.id
    kept = feeds.get_feed(db, new.id)
    assert (kept.etag, kept.error, kept.consecutive_failures) == ('"target"', None, 0)


def test_moves_are_remembered_chains_shortened_and_a_move_back_forgotten(db):
    feed = _feed(db, OLD)
    with transaction(db):
        assert feed_moves.move_feed(db, feed.id, NEW, NOW) is None  # no feed there: the row only changes URL
        feed_moves.move_feed(db, feed.id, NEWER, NOW + timedelta(seconds=1))
    assert feeds.get_feed(db, feed.id).url == NEWER
    assert (feed_moves.moved_to(db, OLD), feed_moves.moved_to(db, NEW)) == (NEWER, NEWER)
    assert feed_moves.moved_from(db) == {NEWER: (OLD, NEW)}
    with transaction(db):
        feed_moves.move_feed(db, feed.id, OLD, NOW + timedelta(seconds=2))  # and back where it started
    assert feed_moves.moved_to(db, OLD) is None and feed_moves.moved_from(db) == {OLD: (NEW, NEWER)}
