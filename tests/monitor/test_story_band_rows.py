"""Band rows on boilerplate (issue 17.4): a band key already held across three stories finds no
candidates (monitor/stories.py), so new articles are not added to it, in the poll or on disk;
reprints still join their story through the keys of their own, and each band row carries the
story its article joined."""

from __future__ import annotations

import types
from datetime import timedelta

import numpy as np

from monitor.config import AlertsConfig, Config, PollingConfig, StoriesConfig
from monitor.parse.signature import NUM_PERM, band_keys
from monitor.pipeline import Pipeline
from monitor.rulesource import LoadedRules
from monitor.stories import BOILERPLATE_REFRESH, BOILERPLATE_STORIES
from rules import RuleSet, compile_rules
from storage import feeds, open_database, transaction
from storage.types import Article, FeedSpec, PollRecord
from tests.conftest import NOW

FOOTER = (7, 7)  # the first band's two values: the same in every report (a shared agency paragraph)


def _values(report: int) -> np.ndarray:
    """A report's MinHash values: the footer band, the rest its own (similarity ~0 between reports)."""
    values = np.arange(NUM_PERM, dtype=np.uint32) + np.uint32(1000 * (report + 1))
    values[:2] = FOOTER
    return values


def _article(feed_id: int, n: int, report: int) -> Article:
    values = _values(report)
    return Article(feed_id=feed_id, entry_key=f"guid:{n}", url=f"https://wire.example/{n}", title=f"Report {n}",
                   summary=f"Copper report {report}.", content_hash=str(n),
                   story_signature=values.astype("<u4").tobytes(), story_band_keys=band_keys(values))


def test_a_boilerplate_key_gains_no_rows_and_reprints_still_join(tmp_path):
    db = open_database(tmp_path / "b.db")
    config = Config(storage_path=tmp_path / "b.db", polling=PollingConfig(), feeds=(), rules_files=(),
                    alerts=AlertsConfig(), channels={}, stories=StoriesConfig())
    pipeline = Pipeline(db, config, fetcher=None, rules=types.SimpleNamespace(  # type: ignore[arg-type]
        current=LoadedRules(RuleSet(), compile_rules([]), {}, ())))
    with transaction(db):
        feed = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/wire.xml"), NOW)[0]
    footer_key = band_keys(_values(0))[0]

    def poll(minute: int, pairs: list[tuple[int, int]]):
        now = NOW + timedelta(minutes=minute)
        result, _ = pipeline.store_poll(feed.id, [_article(feed.id, n, report) for n, report in pairs],
                                        PollRecord(now, True, 200), now)
        return {a.entry_key: a.id for a in result.new}

    first = poll(0, [(0, 0), (1, 1)])  # two reports, in one poll
    later = poll(1, [(2, 2), (3, 3), (4, 4)])  # the third makes the footer key boilerplate
    reprints = poll(2, [(5, 0), (6, 4)])  # the same reports as 0 and 4, again
    footer_rows = db.execute("SELECT article_id FROM article_bands WHERE band_key = ? ORDER BY article_id",
                             [footer_key]).fetchall()
    assert [row[0] for row in footer_rows][:BOILERPLATE_STORIES] == [first["guid:0"], first["guid:1"], later["guid:2"]]
    # ... and then one now and then (BOILERPLATE_REFRESH of the window since its newest): in a
    # window of ~70 articles, 60 more reports add about ln(67/8) / ln(1 / (1 - 1/8)) ~ 16 rows, not 60.
    poll(3, [(n, n) for n in range(100, 160)])
    rows_after = db.execute("SELECT count(*) FROM article_bands WHERE band_key = ?", [footer_key]).fetchone()[0]
    assert BOILERPLATE_REFRESH == 1 / 8 and rows_after - len(footer_rows) <= 20, rows_after
    story = dict(db.execute("SELECT id, story_id FROM articles").fetchall())
    assert story[reprints["guid:5"]] == first["guid:0"]
    assert story[reprints["guid:6"]] == later["guid:4"]
    assert len({story[i] for i in (*first.values(), *later.values())}) == 5  # the footer merged nothing
    # The reprint's own band rows carry the story it joined (read back without the articles table).
    assert set(db.execute("SELECT story_id FROM article_bands WHERE article_id = ?", [reprints["guid:6"]]).fetchall()) \
        == {(later["guid:4"],)}
    # Every report still holds all of its other keys.
    assert db.execute("SELECT count(*) FROM article_bands WHERE article_id = ? AND band_key != ?",
                      [later["guid:3"], footer_key]).fetchone()[0] == 7
    db.close()
