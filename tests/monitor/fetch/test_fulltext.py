"""Full text for headline-only feeds, and the SSRF guard that protects it."""

from __future__ import annotations

import asyncio
import io

import pytest

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from monitor.fetch.fetcher import Fetcher, FetchRequest
from monitor.fetch.ssrf import address_refusal, url_refusal
from storage import articles, feeds, hits
from storage.types import FeedSpec
from tests.behaviour_server import BehaviourServer, Response
from tests.conftest import DATA

PAGE = (
    b"<html><head><title>Copper output</title></head><body><nav>Home | Business | Sport</nav>"
    b"<article><h1>Copper output rises</h1><p>The Saindak copper-gold project in Chagai district raised output "
    b"for the third quarter, the Chinese operator said on Thursday, citing new smelter capacity.</p>"
    b"<p>Officials expect the lease extension to be decided by the provincial cabinet next month.</p></article>"
    b"<footer>Copyright</footer></body></html>"
)


@pytest.fixture
def server():
    with BehaviourServer() as running:
        yield running


def headline_feed(link: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Headlines</title><link>https://e.com</link>'
        f"<description>d</description><item><guid>h1</guid><title>Copper output rises</title><link>{link}</link>"
        "</item></channel></rss>"
    ).encode()


def run_with(tmp_path, feed_url: str, allow_private: bool):
    config = Config(
        storage_path=tmp_path / "ft.db",
        polling=PollingConfig(host_gap=0.0, per_host=4, timeout=10, allow_private_addresses=allow_private),
        feeds=(FeedSpec(url=feed_url, name="Headlines", full_text=True),),
        rules_files=(DATA / "content-rules.yaml",),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )

    async def go():
        async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False) as monitor:
            await monitor.run_once()
            stored = next(articles.articles_since(monitor.db, None))
            return stored, hits.list_hits(monitor.db), feeds.active_feeds(monitor.db)[0]

    return asyncio.run(go())


def test_full_text_puts_the_page_text_in_content_for_rules(tmp_path, server):
    page = server.route("/story.html", lambda r: Response(200, PAGE, {"Content-Type": "text/html"}))
    feed = server.route("/headlines.xml", lambda r: Response(200, headline_feed(page), {"Content-Type": "application/rss+xml"}))
    stored, found, _ = run_with(tmp_path, feed, allow_private=True)
    assert "Saindak copper-gold project" in stored[0].content and "Copyright" not in stored[0].content
    assert [h.hit.rule_id for h in found] == ["saindak-body"]
    assert found[0].hit.terms[0].field == "content"


def test_refused_full_text_falls_back_to_the_summary_and_is_recorded(tmp_path, server):
    page = server.route("/story.html", lambda r: Response(200, PAGE, {"Content-Type": "text/html"}))
    # The feed itself is configured by the operator; only third-party article links are guarded.
    feed = server.route("/headlines.xml", lambda r: Response(200, headline_feed(page), {"Content-Type": "application/rss+xml"}))
    stored, found, feed_row = run_with(tmp_path, feed, allow_private=False)
    assert stored[0].content == "" and found == []
    assert "full text failed" in feed_row.warning and "loopback" in feed_row.warning


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"]
)
def test_private_addresses_are_refused(address):
    assert address_refusal(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://[::1]/x", "http://10.0.0.5/x", "http://169.254.169.254/latest/meta-data/", "http://localhost/x", "file:///etc/passwd"])
def test_url_guard_refuses_private_targets(url):
    assert asyncio.run(url_refusal(url))


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/admin", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"])
def test_guard_is_applied_to_every_redirect_hop(server, target):
    start = server.route("/redirect", lambda r: Response(302, headers={"Location": target}))

    async def guard(url: str):
        return None if url == start else await url_refusal(url)  # the first hop stands in for a public site

    async def go():
        async with Fetcher(concurrency=1, host_gap=0.0) as fetcher:
            return await fetcher.fetch(FetchRequest(start, guard=guard))

    result = asyncio.run(go())
    assert result.error and "refused" in result.error and result.body == b""
    assert result.redirects == ((302, target),)
