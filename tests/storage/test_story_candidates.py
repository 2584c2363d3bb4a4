"""Story candidates (storage/stories.py): the per-key cap is applied where the band index is
read, so grouping an article costs the same however many articles share a boilerplate key; the
holders' stories come with the band rows, and signatures are read only for the holders asked for."""

from __future__ import annotations

from datetime import timedelta

from storage import articles, feeds, open_database, stories, transaction
from storage.types import Article, FeedSpec
from tests.conftest import NOW, vm_steps

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
        stories.add_signatures(db, [(a.id, a.id, bytes(512), [BOILERPLATE_KEY, 10_000 + a.id]) for a in new],
                               NOW - timedelta(hours=1))
    return db, [a.id for a in new]


def _vm_steps(db, keys: list[int]) -> tuple[int, list]:
    return vm_steps(db, lambda: stories.band_holders(db, keys, NOW - timedelta(days=3)))


def test_a_busy_key_yields_only_its_newest_holders(tmp_path):
    db, ids = _archive(tmp_path / "a.db", 30)
    found = stories.band_holders(db, [BOILERPLATE_KEY, 10_000 + ids[0]], NOW - timedelta(days=3))
    by_key = {}
    for key, article_id, story_id in found:
        by_key.setdefault(key, []).append(article_id)
        assert story_id == article_id  # each article its own story, carried by the band row
    assert sorted(by_key[BOILERPLATE_KEY]) == ids[-stories.CANDIDATES_PER_KEY:]
    assert by_key[10_000 + ids[0]] == [ids[0]]  # the oldest article is still found by its own key
    assert stories.band_holders(db, [BOILERPLATE_KEY], NOW) == []  # all first seen before `since`
    assert stories.signatures(db, [ids[0], ids[-1], 999_999]) == {ids[0]: bytes(512), ids[-1]: bytes(512)}
    db.close()


def test_a_band_row_carries_the_story_its_article_joined(tmp_path):
    db, ids = _archive(tmp_path / "s.db", 3)
    with transaction(db):
        stories.add_signature(db, ids[1], bytes(512), [777], NOW - timedelta(hours=1), story_id=ids[0])
    assert stories.band_holders(db, [777], NOW - timedelta(days=3)) == [(777, ids[1], ids[0])]
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
