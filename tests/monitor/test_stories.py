"""One story, one alert: reprints in other feeds join the first article's story."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from monitor.parse.signature import signature
from monitor.stories import similarity
from storage import deliveries, hits
from storage.types import FeedSpec
from tests.behaviour_server import rss
from tests.conftest import DATA, NOW

BODY = (
    "Pakistan and the United States signed a $500 million memorandum of understanding on critical minerals. "
    "The agreement between United States Strategic Metals (USSM) and the Frontier Works Organisation covers "
    "exploration, extraction and processing, beginning with exports of antimony, copper, gold and tungsten."
)


def item(guid: str, title: str, body: str = BODY) -> tuple[str, str, str]:
    return (guid, title, body)


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def config(tmp_path, urls) -> Config:
    return Config(
        storage_path=tmp_path / "stories.db",
        polling=PollingConfig(host_gap=0.0, per_host=8, timeout=10),
        feeds=tuple(FeedSpec(url=u, name=u.rsplit("/", 1)[-1]) for u in urls),
        rules_files=(DATA / "e2e-rules.yaml",),
        alerts=AlertsConfig(default_channels=("console", "ops"), skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console"), "ops": ChannelConfig("ops", "console")},
    )


def cycle(cfg, clock):
    async def go():
        async with Monitor(cfg, console_stream=io.StringIO(), use_process_pool=False, now=clock) as monitor:
            await monitor.run_once()
            return hits.list_hits(monitor.db, limit=100), deliveries.list_deliveries(monitor.db)

    return asyncio.run(go())


def test_similarity_of_reprints_and_of_different_stories():
    a = signature("Pakistan, US sign minerals MoU", BODY)
    b = signature("USSM, FWO ink $500m deal", BODY + " Officials said more deals would follow.")
    c = signature("Gold prices rise", "Gold rose 1% in London as the dollar weakened and investors sought safety ahead of data.")
    assert similarity(a.values, b.to_bytes()) > 0.6
    assert similarity(a.values, c.to_bytes()) < 0.1
    assert signature("Short", "two words") is None


def test_three_feeds_one_story_one_alert_per_channel_and_a_late_reprint_joins(tmp_path, feed_server):
    feed_server.set_file("/dawn.xml", rss(item("d1", "Pakistan, US sign $500m critical minerals MoU")))
    feed_server.set_file("/news.xml", rss(item("n1", "USSM and FWO ink minerals pact")))
    feed_server.set_file("/wire.xml", rss(item("w1", "US firm to export antimony from Pakistan", BODY + " (APP)")))
    cfg = config(tmp_path, [feed_server.url(p) for p in ("/dawn.xml", "/news.xml", "/wire.xml")])
    clock = Clock()

    listed, sent = cycle(cfg, clock)

    assert len(listed) == 6  # 2 rules x 3 articles: every hit is stored and listed
    assert {h.article.story_id for h in listed} == {listed[0].article.story_id}
    assert all(h.story_size == 3 for h in listed)
    # One notification per (story, channel), carrying both rules and the three copies' hits.
    assert sorted((a.delivery.channel, sorted(a.rule_ids), len(a.matched)) for a in sent) == [
        ("console", ["antimony", "ussm"], 6), ("ops", ["antimony", "ussm"], 6)
    ]

    # A day later a fourth outlet reprints it, and the first entry is edited: no new alerts.
    feed_server.set_file("/late.xml", rss(item("l1", "Minerals deal: what it means", BODY)))
    feed_server.set_file("/dawn.xml", rss(item("d1", "Pakistan, US sign $500m critical minerals MoU (updated)")))
    cfg = config(tmp_path, [feed_server.url(p) for p in ("/dawn.xml", "/news.xml", "/wire.xml", "/late.xml")])
    clock.now = NOW + timedelta(days=1)
    listed2, sent2 = cycle(cfg, clock)
    assert len(sent2) == len(sent)
    assert len(listed2) == 8 and all(h.story_size == 4 for h in listed2)
    members = sent2[0].also_reported_by
    assert {m.feed_name for m in members} >= {"news.xml", "wire.xml", "late.xml"} - {sent2[0].article.feed_name}


def test_a_reprint_after_the_window_starts_a_new_story(tmp_path, feed_server):
    feed_server.set_file("/dawn.xml", rss(item("d1", "Pakistan, US sign $500m critical minerals MoU")))
    clock = Clock()
    cycle(config(tmp_path, [feed_server.url("/dawn.xml")]), clock)
    feed_server.set_file("/late.xml", rss(item("l1", "Minerals deal revisited", BODY)))
    clock.now = NOW + timedelta(days=4)
    listed, sent = cycle(config(tmp_path, [feed_server.url("/dawn.xml"), feed_server.url("/late.xml")]), clock)
    assert len({h.article.story_id for h in listed}) == 2
    assert len(sent) == 4  # 2 channels x 2 stories, each naming both rules
    assert all(sorted(a.rule_ids) == ["antimony", "ussm"] for a in sent)
