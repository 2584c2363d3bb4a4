"""Feed discovery: a site's page names its feeds in <link rel="alternate" type="...">."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json", "application/rdf+xml")


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []  # (href, type, title)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in ("link", "a"):
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and values.get("href"):
            self.links.append((values["href"], kind, values.get("title", "")))


def looks_like_html(body: bytes, content_type: str) -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def discover_feeds(html: str, page_url: str) -> list[tuple[str, str]]:
    """(absolute feed URL, title) in page order, RSS/Atom first among equals."""
    collector = _LinkCollector()
    try:
        collector.feed(html)
        collector.close()
    except (AssertionError, ValueError):
        pass  # keep what was found before the markup broke
    found: list[tuple[str, str]] = []
    for href, _kind, title in collector.links:
        url = urljoin(page_url, href.strip())
        if url.startswith(("http://", "https://")) and url not in [u for u, _ in found]:
            found.append((url, title))
    return found
