"""The bundled feeds list (monitor/data/feeds.toml): Urdu outlets and Urdu Google News searches
(issue 18.5). Nothing here fetches them: tests never depend on the internet."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from monitor.config import load_bundled_feeds

_URDU = re.compile("[\u0600-\u06ff]")
_LATIN = re.compile("[A-Za-z]")


def _urdu_feeds():
    return [f for f in load_bundled_feeds() if _URDU.search(f.name or "")]


def test_urdu_outlets_are_in_the_bundled_list_with_names_in_urdu_and_english():
    feeds = _urdu_feeds()
    hosts = {urlsplit(f.url).hostname for f in feeds}
    for host in ("feeds.bbci.co.uk", "jang.com.pk", "www.express.pk", "www.dawnnews.tv", "urdu.geo.tv"):
        assert host in hosts, host
    assert all(_LATIN.search(f.name) for f in feeds), "each Urdu feed is named in English too"
    assert len({f.url for f in load_bundled_feeds()}) == len(load_bundled_feeds())  # no feed twice


def test_google_news_searches_in_urdu_ask_for_the_pakistan_edition_with_urdu_queries():
    searches = [f for f in _urdu_feeds() if urlsplit(f.url).hostname == "news.google.com"]
    assert len(searches) >= 5
    for feed in searches:
        query = parse_qs(urlsplit(feed.url).query)
        assert (query["hl"], query["gl"], query["ceid"]) == (["ur"], ["PK"], ["PK:ur"]), feed.url
        assert _URDU.search(query["q"][0]), feed.url  # the search words are Urdu
        words = re.findall(r"[\u0600-\u06ff]+", query["q"][0])
        assert all(w in feed.name for w in words), (feed.name, query["q"][0])  # the name says what it searches
