"""Feeds lists in OPML 2.0: read with listparser, written with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from email.utils import format_datetime

import listparser

from monitor.exceptions import MonitorError
from storage.types import Feed, FeedSpec


def read_opml(text: str | bytes, source: str) -> list[FeedSpec]:
    """Feed specs from an OPML document; raises MonitorError naming the file when it has none."""
    parsed = listparser.parse(text)
    specs = []
    seen = set()
    for entry in parsed.feeds:
        url = (entry.get("url") or "").strip()
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        specs.append(FeedSpec(url=url, name=(entry.get("title") or "").strip()))
    if not specs:
        reason = f": {parsed.bozo_exception}" if parsed.get("bozo") else ""
        raise MonitorError(f"{source}: no feeds found in this OPML file{reason}")
    return specs


def write_opml(feeds: list[Feed], now: datetime | None = None) -> str:
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = "Minerals Monitor feeds"
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(UTC), usegmt=True)
    body = ElementTree.SubElement(root, "body")
    for feed in feeds:
        ElementTree.SubElement(body, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
