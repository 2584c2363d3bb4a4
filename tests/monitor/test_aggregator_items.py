"""Aggregator items (issue 14.4): a Google News or Bing News item is read as its outlet's article,
and its title-only copy joins the outlet's story: one notification for both."""

from __future__ import annotations

import asyncio
import io

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from monitor.parse.feed import parse_feed
from storage import deliveries, feeds
from storage.types import FeedSpec
from tests.behaviour_server import rss
from tests.conftest import CORPUS, DATA, NOW
from tests.reliability.rel_support import Clock

TITLE = "Pakistan, US sign $500m critical minerals MoU"
BODY = ("United States Strategic Metals (USSM) and Pakistan's Frontier Works Organisation signed a $500 million "
        "memorandum of understanding covering exports of antimony, copper, gold and tungsten.")


def google_news(*items: tuple[str, str, str]) -> bytes:
    """A Google News RSS search as Google serves it: (id, title with " - Outlet", outlet) items."""
    entries = "".join(
        f"<item><title>{title}</title><link>https://news.google.com/rss/articles/{key}?oc=5</link>"
        f'<guid isPermaLink="false">{key}</guid><pubDate>Fri, 27 Nov 2026 08:00:00 GMT</pubDate>'
        f'<description>&lt;a href="https://news.google.com/rss/articles/{key}?oc=5" target="_blank"&gt;'
        f"{title.rsplit(' - ', 1)[0]}&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color=\"#6f6f6f\"&gt;{outlet}&lt;/font&gt;"
        f'</description><source url="https://www.{outlet.lower()}.com">{outlet}</source></item>'
        for key, title, outlet in items
    )
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>"USSM" - Google News</title>'
            f"<link>https://news.google.com/search?q=USSM</link><description>Google News</description>{entries}"
            "</channel></rss>").encode()


def test_a_google_news_item_is_read_as_the_outlets_article():
    parsed = parse_feed(google_news(("CBMiA1", f"{TITLE} - Dawn", "Dawn")), {}, 1, "Google News: USSM",
                        "https://news.google.com/rss/search?q=USSM")
    [article] = parsed.articles
    assert (article.title, article.outlet, article.summary) == (TITLE, "Dawn", "")  # the link list is no text
    assert article.title_only and article.feed_name == "Google News: USSM"  # the feed is still recorded


def test_the_corpus_google_news_feed_and_a_source_element():
    parsed = parse_feed((CORPUS / "prof18-rssparser__feed-test-source.xml").read_bytes(), {}, 1, "Google", "")
    first = parsed.articles[0]
    assert first.outlet == "RTBF" and not first.title.endswith(" - RTBF") and first.summary == ""
    # An item that names its <source> but whose title carries no suffix keeps its title and text.
    parsed = parse_feed((CORPUS / "feed-rs__rss_2.0_example_2.xml").read_bytes(), {}, 1, "NASA", "")
    named = [a for a in parsed.articles if a.outlet]
    assert named and named[0].outlet == "NASA Breaking News" and named[0].summary


def test_an_ordinary_title_with_a_dash_is_left_alone():
    body = rss(("g1", "Copper output rises - the numbers", "Copper output rose 5% in the first half."))
    [article] = parse_feed(body, {}, 1, "Wire", "https://wire.example.com/feed.xml").articles
    assert article.title == "Copper output rises - the numbers" and article.outlet == ""


def _config(tmp_path, urls) -> Config:
    return Config(
        storage_path=tmp_path / "aggregator.db",
        polling=PollingConfig(host_gap=0.0, per_host=8, timeout=10),
        feeds=tuple(FeedSpec(url=url, name=name) for name, url in urls),
        rules_files=(DATA / "e2e-rules.yaml",),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )


def test_the_google_news_copy_and_the_outlets_feed_give_one_notification(tmp_path, feed_server):
    feed_server.set_file("/google.xml", google_news(("CBMiA1", f"{TITLE} - Dawn", "Dawn")))
    feed_server.set_file("/dawn.xml", rss(("d1", TITLE, BODY)))
    for first, second in (("/google.xml", "/dawn.xml"), ("/dawn.xml", "/google.xml")):
        folder = tmp_path / first.strip("/.xml")
        folder.mkdir()
        urls = [("Google News: USSM", feed_server.url("/google.xml")), ("Dawn", feed_server.url("/dawn.xml"))]
        console, clock = io.StringIO(), Clock(NOW)

        async def go():
            async with Monitor(_config(folder, urls), console_stream=console, use_process_pool=False, now=clock) as monitor:
                for path in (first, second):  # polled 5 s apart, within group_wait
                    await monitor.pipeline.poll_feed(feeds.feed_by_url(monitor.db, feed_server.url(path)).id)
                    clock.advance(5)
                clock.advance(30)
                await monitor.dispatcher.drain()
                return deliveries.list_deliveries(monitor.db)

        [notification] = asyncio.run(go())
        assert len(console.getvalue().splitlines()) == 1, console.getvalue()
        outlets = {notification.article.source_name} | {m.feed_name for m in notification.also_reported_by}
        assert len(notification.also_reported_by) == 1 and outlets == {"Dawn"}  # the Google copy names Dawn
        assert sorted(notification.rule_ids) == ["antimony", "ussm"]
