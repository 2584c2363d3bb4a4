"""Each fetching behaviour, end to end: what a poll records on the feed row."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import io
import time
from datetime import timedelta

import pytest

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from storage import articles, feeds, transaction
from storage.types import FeedSpec
from tests.behaviour_server import BehaviourServer, Response, conditional, gzip_bomb, rss
from tests.conftest import DATA

BODY = rss(("g1", "Antimony exports", "USSM and FWO"), ("g2", "Copper", "Saindak output"))


@pytest.fixture
def server():
    with BehaviourServer() as running:
        yield running


class Poller:
    """One Monitor over one database; poll(url) polls that feed and returns its stored row."""

    def __init__(self, tmp_path, **polling):
        self.config = Config(
            storage_path=tmp_path / "poll.db",
            polling=PollingConfig(host_gap=0.0, per_host=4, timeout=polling.pop("timeout", 5), jitter=0.0, **polling),
            feeds=(),
            rules_files=(DATA / "e2e-rules.yaml",),
            alerts=AlertsConfig(),
            channels={"console": ChannelConfig("console", "console")},
        )

    def poll(self, url: str, times: int = 1):
        async def go():
            async with Monitor(self.config, console_stream=io.StringIO(), use_process_pool=False) as monitor:
                with transaction(monitor.db):
                    feed, _ = feeds.upsert_feed(monitor.db, FeedSpec(url=url, name="f"), monitor.now())
                started = time.monotonic()
                for _ in range(times):
                    summary = await monitor.pipeline.poll_feed(feed.id)
                elapsed = time.monotonic() - started
                return feeds.get_feed(monitor.db, feed.id), summary, articles.count_articles(monitor.db), elapsed

        return asyncio.run(go())


def test_304_after_etag_keeps_everything_and_adds_nothing(tmp_path, server):
    url = server.route("/etag", conditional(BODY))
    feed, summary, count, _ = Poller(tmp_path).poll(url, times=2)
    assert summary.http_status == 304 and summary.success and count == 2
    assert feed.etag == '"v1"' and feed.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT" and feed.error is None
    assert server.requests_to("/etag")[1].headers["if-none-match"] == '"v1"'


def test_304_after_last_modified(tmp_path, server):
    url = server.route("/lm", conditional(BODY, use_etag=False))
    feed, summary, _, _ = Poller(tmp_path).poll(url, times=2)
    assert summary.http_status == 304 and feed.etag is None and feed.last_modified


def test_etag_that_changes_while_content_does_not_is_not_reparsed(tmp_path, server):
    versions = iter(range(100))
    url = server.route("/churn", lambda r: Response(200, BODY, {"ETag": f'"{next(versions)}"', "Content-Type": "application/rss+xml"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url, times=3)
    assert summary.success and summary.new_articles == 0 and count == 2
    assert feed.etag == '"2"'  # saved exactly as received


def test_301_updates_the_stored_url_but_302_does_not(tmp_path, server):
    final = server.route("/final", conditional(BODY))
    server.route("/old", lambda r: Response(301, headers={"Location": "/hop"}))
    server.route("/hop", lambda r: Response(308, headers={"Location": "/final"}))
    server.route("/temp", lambda r: Response(302, headers={"Location": "/final"}))
    poller = Poller(tmp_path)
    moved, _, _, _ = poller.poll(server.url("/old"))
    assert moved.url == final
    temporary, summary, _, _ = poller.poll(server.url("/temp"))
    assert temporary.url == server.url("/temp") and summary.success


def test_410_disables_the_feed_and_says_so(tmp_path, server):
    url = server.route("/gone", lambda r: Response(410, b"gone"))
    feed, summary, _, _ = Poller(tmp_path).poll(url, times=2)
    assert "410 Gone" in feed.disabled_reason and feed.failing
    assert summary.skipped and len(server.requests_to("/gone")) == 1  # not polled again


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_429_retry_after_moves_the_next_poll(tmp_path, server, form):
    value = "3600" if form == "seconds" else email.utils.formatdate(time.time() + 3600, usegmt=True)
    url = server.route("/busy", lambda r: Response(429, headers={"Retry-After": value}))
    feed, _, _, _ = Poller(tmp_path, interval=60).poll(url)
    assert feed.http_status == 429 and feed.consecutive_failures == 1
    assert feed.next_poll_at - feed.last_polled_at >= timedelta(seconds=3590)


def test_slow_trickle_is_cut_at_the_deadline(tmp_path, server):
    url = server.route("/trickle", lambda r: Response(200, BODY * 3, {"Content-Type": "application/rss+xml"}, trickle=0.2))
    feed, _, _, elapsed = Poller(tmp_path, timeout=1).poll(url)
    assert elapsed < 3 and "timed out" in feed.error and feed.consecutive_failures == 1


def test_gzip_bomb_and_oversize_body_are_refused(tmp_path, server):
    bomb = server.route("/bomb", gzip_bomb(40 * 1024 * 1024))
    big = server.route("/big", lambda r: Response(200, b"<rss>" + b" " * 3_000_000, {"Content-Type": "application/rss+xml"}))
    poller = Poller(tmp_path, max_body_bytes=2 * 1024 * 1024)
    assert "cap" in poller.poll(bomb)[0].error
    assert "cap" in poller.poll(big)[0].error


def test_gzip_encoded_feed_is_read(tmp_path, server):
    url = server.route("/gz", lambda r: Response(200, gzip.compress(BODY), {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url)
    assert summary.success and count == 2


def test_malformed_xml_keeps_what_was_recovered_with_a_warning(tmp_path, server):
    broken = BODY.replace(b"</channel></rss>", b"<item><title>Half")
    url = server.route("/broken", lambda r: Response(200, broken, {"Content-Type": "application/rss+xml"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url)
    assert count == 2 and summary.success and "malformed" in feed.warning


def test_garbage_records_an_error(tmp_path, server):
    url = server.route("/junk", lambda r: Response(200, b"\x00\x01 this is not a feed", {"Content-Type": "text/plain"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url)
    assert not summary.success and count == 0 and feed.error and feed.consecutive_failures == 1


@pytest.mark.parametrize(
    ("body_encoding", "warned"),
    [("utf-8", False), ("latin-1", True)],  # the prolog says iso-8859-1, the HTTP header says utf-8
)
def test_wrong_declared_charset_is_decoded_from_the_bytes(tmp_path, server, body_encoding, warned):
    document = rss(("c1", "Café antimony", "Peshawar"), title="Feed").replace(b"utf-8", b"iso-8859-1")
    document = document.replace("Café".encode(), "Café".encode(body_encoding))
    url = server.route("/charset", lambda r: Response(200, document, {"Content-Type": "application/rss+xml; charset=utf-8"}))
    feed, summary, _, _ = Poller(tmp_path).poll(url)
    assert summary.success and bool(feed.warning) is warned
    from storage import open_database

    db = open_database(tmp_path / "poll.db")
    assert next(articles.articles_since(db, None))[0].title == "Café antimony"  # real text, not mojibake
    db.close()


def test_json_feed_is_read(tmp_path, server):
    doc = b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "1", "url": "https://e.com/1", "title": "USSM news", "content_text": "antimony"}]}'
    url = server.route("/feed.json", lambda r: Response(200, doc, {"Content-Type": "application/feed+json"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url)
    assert summary.success and count == 1 and summary.hits == 2


def test_a_changed_feed_stores_its_item_digests_and_only_the_new_item_is_new(tmp_path, server):
    """Delta parsing end to end: the feed row keeps the digests of its last body (frame +
    one per item), and the next version's new item is the only new article."""
    versions = [BODY, rss(("g3", "Lithium refinery", "Reko Diq"), ("g1", "Antimony exports", "USSM and FWO"),
                          ("g2", "Copper", "Saindak output"))]
    calls = iter(range(100))
    url = server.route("/grows", lambda r: Response(200, versions[min(next(calls), 1)], {"Content-Type": "application/rss+xml"}))
    feed, summary, count, _ = Poller(tmp_path).poll(url, times=2)
    assert summary.success and summary.new_articles == 1 and count == 3
    from monitor.parse.delta import Remembered

    remembered = Remembered.from_bytes(feed.item_digests)  # frame + one per item, with the encoding
    assert remembered is not None and len(remembered.items) == 3 and remembered.encoding == "utf-8"
