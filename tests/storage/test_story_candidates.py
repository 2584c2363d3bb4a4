"""Story candidates (storage/stories.py): the per-key cap is applied where the band index is
read, so grouping an article costs the same however many articles share a boilerplate key."""

from __future__ import annotations

from datetime import timedelta

from storage import articles, feeds, open_database, stories, transaction
from storage.types import Article, FeedSpec
from tests.conftest import NOW

BOILERPLATE_KEY = 4242  # held by every article: a templated paragraph every report carries


def _archive(path, holders: int):
    """`holders` articles that all share BOILERPLATE_KEY; each also has a key of its own."""
    db = open_database(path)
    with transaction(db):
        feed, _ = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/wire.xml", name="Wire"), NOW)
        new = articles.ingest_entries(db, feed.id, [
            Article(feed_id=feed.id, entry_key=f"guid:{i}", url=f"https://wire.example/{i}", title=f"Report {i}",
                    summary="Gold was steady.", content_hash=str(i))
            for i in range(holders)
        ], NOW - timedelta(hours=1)).new
        stories.add_signatures(db, [(a.id, bytes(512), [BOILERPLATE_KEY, 10_000 + a.id]) for a in new],
                               NOW - timedelta(hours=1))
    return db, [a.id for a in new]


def _vm_steps(db, keys: list[int]) -> tuple[int, list]:
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 1)
    try:
        found = stories.candidates(db, keys, NOW - timedelta(days=3), exclude_article_id=0)
    finally:
        db.conn.set_progress_handler(None, 1)
    return steps[0], found


def test_a_busy_key_yields_only_its_newest_holders(tmp_path):
    db, ids = _archive(tmp_path / "a.db", 30)
    found = stories.candidates(db, [BOILERPLATE_KEY, 10_000 + ids[0]], NOW - timedelta(days=3), exclude_article_id=0)
    by_key = {}
    for article_id, _story, signature, key in found:
        by_key.setdefault(key, []).append(article_id)
        assert signature == bytes(512)
    assert sorted(by_key[BOILERPLATE_KEY]) == ids[-stories.CANDIDATES_PER_KEY:]
    assert by_key[10_000 + ids[0]] == [ids[0]]  # the oldest article is still found by its own key
    assert stories.candidates(db, [BOILERPLATE_KEY], NOW, exclude_article_id=0) == []  # all first seen before `since`
    db.close()


def test_the_cost_of_a_lookup_does_not_grow_with_the_holders_of_a_key(tmp_path):
    """Counted in SQLite virtual-machine steps, not seconds: a loaded machine cannot flake it.
    Reading every holder and capping in Python took ~26x more steps at 2,000 holders than at 50."""
    few, few_ids = _archive(tmp_path / "few.db", 50)
    many, many_ids = _archive(tmp_path / "many.db", 2000)
    few_steps, few_found = _vm_steps(few, [BOILERPLATE_KEY, 10_000 + few_ids[-1]])
    many_steps, many_found = _vm_steps(many, [BOILERPLATE_KEY, 10_000 + many_ids[-1]])
    assert len(few_found) == len(many_found) == stories.CANDIDATES_PER_KEY + 1
    assert many_steps <= few_steps * 1.2, (few_steps, many_steps)
    few.close()
    many.close()
