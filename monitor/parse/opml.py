"""Feeds lists in OPML 2.0: read with listparser, written with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import listparser

from monitor.exceptions import MonitorError
from storage.types import Feed, FeedSpec


@dataclass(frozen=True)
class OpmlFeeds:
    """What an OPML file offers: the feeds to add, and each outline left out with the reason."""

    specs: list[FeedSpec]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (outline's URL or title, reason)


def read_opml(text: str | bytes, source: str) -> OpmlFeeds:
    """Feed specs from an OPML document; raises MonitorError naming the file when it has none."""
    parsed = listparser.parse(text)
    specs = []
    skipped = []
    seen = set()
    for entry in parsed.feeds:
        url = (entry.get("url") or "").strip()
        if not url.startswith(("http://", "https://")):
            shown = url or (entry.get("title") or "").strip() or "(an outline without a URL)"
            skipped.append((shown, "not an http(s) URL"))
            continue
        if url in seen:
            skipped.append((url, "listed twice in this file"))
            continue
        seen.add(url)
        specs.append(FeedSpec(url=url, name=(entry.get("title") or "").strip()))
    if not specs:
        reason = f": {parsed.bozo_exception}" if parsed.get("bozo") else ""
        left_out = f" ({len(skipped)} outlines left out: {skipped[0][1]})" if skipped else ""
        raise MonitorError(f"{source}: no feeds found in this OPML file{reason}{left_out}")
    return OpmlFeeds(specs, skipped)


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
