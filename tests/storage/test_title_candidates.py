"""Title candidates (storage/titles.py): an article with text is compared by title only with
title-only articles, so its lookup reads only those, however many full-text reports share a
templated title's key (the boilerplate corpus of bench/bench_e2e.py)."""

from __future__ import annotations

from datetime import timedelta

from storage import articles, feeds, open_database, titles, transaction
from storage.types import Article, FeedSpec
from tests.conftest import NOW, vm_steps

KEY = "copper price report"


def _archive(path, full_text: int):
    """`full_text` articles with text and one title-only item, all under one title key."""
    db = open_database(path)
    seen = NOW - timedelta(hours=1)
    with transaction(db):
        feed, _ = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/wire.xml", name="Wire"), NOW)
        new = articles.ingest_entries(db, feed.id, [
            Article(feed_id=feed.id, entry_key=f"guid:{i}", url=f"https://wire.example/{i}",
                    title=f"Copper price report day {i}", summary="Copper was steady.", content_hash=str(i))
            for i in range(full_text + 1)
        ], seen).new
        titles.add_titles(db, [(KEY, a.id, a is new[-1]) for a in new], seen)
    return db, [a.id for a in new]


def test_title_only_lookup_reads_only_the_title_only_holders(tmp_path):
    db, ids = _archive(tmp_path / "t.db", 300)
    since = NOW - timedelta(days=3)
    every = titles.title_candidates(db, [KEY], since)
    assert len(every) == 301
    only = titles.title_candidates(db, [KEY], since, title_only=True)
    assert [(key, article_id, title_only) for key, article_id, _story, _title, title_only in only] == [(KEY, ids[-1], True)]
    db.close()


def _vm_steps(db, keys: list[str]) -> tuple[int, list]:
    return vm_steps(db, lambda: titles.title_candidates(db, keys, NOW - timedelta(days=3), title_only=True))


def test_the_title_only_lookup_does_not_read_the_full_text_holders(tmp_path):
    """Counted in SQLite virtual-machine steps: through the partial index of title-only rows,
    3,000 full-text holders of the key cost what 30 do (the primary key walked all of them)."""
    few, few_ids = _archive(tmp_path / "few.db", 30)
    many, many_ids = _archive(tmp_path / "many.db", 3000)
    few_steps, few_found = _vm_steps(few, [KEY])
    many_steps, many_found = _vm_steps(many, [KEY])
    assert [row[1] for row in few_found] == [few_ids[-1]] and [row[1] for row in many_found] == [many_ids[-1]]
    assert many_steps <= few_steps * 1.2, (few_steps, many_steps)
    few.close()
    many.close()
