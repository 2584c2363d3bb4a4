"""Feeds management: OPML in and out, discovery from a site's page, feeds check, adaptive interval."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from monitor.config import PollingConfig
from monitor.decide import base_interval, observed_interval
from monitor.fetch.discover import discover_feeds
from monitor.exceptions import MonitorError
from monitor.parse.opml import read_opml, write_opml
from storage.types import Feed
from tests.behaviour_server import BehaviourServer, Response, rss
from tests.conftest import NOW
from tests.monitor.cli.test_cli import cli

OPML = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>Subs</title></head><body>
<outline text="Mining"><outline text="Mining Weekly" type="rss" xmlUrl="https://www.miningweekly.com/rss"/>
<outline title="Dawn" type="rss" xmlUrl="https://www.dawn.com/feeds/business"/></outline>
<outline text="dup" type="rss" xmlUrl="https://www.dawn.com/feeds/business"/>
<outline text="not a feed" type="link" url="https://example.com"/>
</body></opml>"""

PAGE = b"""<!doctype html><html><head><title>Desk</title>
<link rel="alternate" type="application/rss+xml" title="Business RSS" href="/feeds/business.xml">
<link rel="alternate" type="application/atom+xml" href="https://other.example.com/atom">
<link rel="stylesheet" href="/s.css"></head><body>hello</body></html>"""


@pytest.fixture
def server():
    with BehaviourServer() as running:
        yield running


def test_opml_round_trip():
    specs = read_opml(OPML, "subs.opml").specs
    assert [(s.url, s.name) for s in specs] == [
        ("https://www.miningweekly.com/rss", "Mining Weekly"), ("https://www.dawn.com/feeds/business", "Dawn")
    ]
    feeds = [Feed(id=i, url=s.url, name=s.name) for i, s in enumerate(specs)]
    again = read_opml(write_opml(feeds, NOW).encode(), "export.opml")
    assert again.specs == specs and again.skipped == []
    with pytest.raises(MonitorError, match="no feeds found"):
        read_opml(b"<html>nope</html>", "bad.opml")


def test_discovery_finds_alternate_links_in_page_order():
    assert discover_feeds(PAGE.decode(), "https://site.example.com/business/") == [
        ("https://site.example.com/feeds/business.xml", "Business RSS"), ("https://other.example.com/atom", "")
    ]


def test_feeds_add_resolves_a_page_import_export_and_check(tmp_path, server):
    feed_url = server.route("/feeds/business.xml", lambda r: Response(200, rss(("g", "Antimony", "x"), title="Business desk"),
                                                                      {"Content-Type": "application/rss+xml", "ETag": '"e1"'}))
    page = server.route("/business/", lambda r: Response(200, PAGE, {"Content-Type": "text/html"}))
    (tmp_path / "minerals-monitor.toml").write_text("feeds = []\n")
    added = cli("feeds", "add", page, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "is a web page; using the feed it advertises" in added.stderr
    listed = json.loads(cli("feeds", "list", "--json", cwd=tmp_path).stdout)
    assert [(f["url"], f["name"]) for f in listed] == [(feed_url, "Business desk")]

    (tmp_path / "subs.opml").write_bytes(OPML)
    imported = cli("feeds", "import", str(tmp_path / "subs.opml"), cwd=tmp_path)
    assert "2 new" in imported.stdout
    exported = cli("feeds", "export", cwd=tmp_path).stdout
    assert exported.count("<outline") == 3 and "https://www.dawn.com/feeds/business" in exported

    checked = json.loads(cli("feeds", "check", feed_url, "--json", cwd=tmp_path).stdout)
    assert checked["ok"] and checked["entries"] == 1 and checked["caching_headers"]["etag"] == '"e1"'
    bad = cli("feeds", "check", server.url("/missing.xml"), cwd=tmp_path)
    assert bad.returncode == 1 and "HTTP 404" in bad.stdout


def test_adaptive_interval_follows_the_publishing_rate():
    polling = PollingConfig(interval=900, min_interval=60, adaptive_max=7200)
    busy = [NOW - timedelta(minutes=10 * i) for i in range(20)]  # every 10 minutes
    quiet = [NOW - timedelta(days=i) for i in range(5)]  # daily
    assert observed_interval(busy, NOW, polling) == 300
    assert observed_interval(quiet, NOW, polling) == 7200
    assert observed_interval(busy[:2], NOW, polling) is None
    feed = Feed(id=1, url="u", name="n", adaptive_interval_seconds=300)
    assert base_interval(feed, polling) == 300
    assert base_interval(Feed(id=1, url="u", name="n", adaptive_interval_seconds=300, adaptive=False), polling) == 900
    assert base_interval(Feed(id=1, url="u", name="n", interval_seconds=30), polling) == 60  # min_interval floor
