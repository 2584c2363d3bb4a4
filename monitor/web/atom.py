"""Atom 1.0 (RFC 4287) feeds of stories: what a watcher reads in a feed reader.

One entry per story: its id never changes (`tag:` URI on the story id), `published` is
when the story first fired and `updated` when a rule last joined it, so a reader shows a
story once and marks it updated when it escalates. The entry's content lists every rule
that fired with its terms highlighted in context. Pure: summaries in, bytes out.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from alerts.render import one_line, severity_label
from monitor.web.views import link, story_reasons
from storage.console import StorySummary

ATOM = "http://www.w3.org/2005/Atom"
ID_PREFIX = "tag:minerals-monitor.invalid,2026:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ET.register_namespace("", ATOM)


def entry_id(story_id: int) -> str:
    return f"{ID_PREFIX}story/{story_id}"


def render_feed(
    stories: Sequence[StorySummary], *, title: str, feed_id: str, self_url: str, console_url: str,
    story_url: str,
) -> bytes:
    """`story_url` has a `{story_id}` placeholder: each entry's page in the console."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", f"{ID_PREFIX}{feed_id}")
    _text(feed, "title", title)
    _text(feed, "updated", _stamp(max((s.newest_hit_at for s in stories), default=EPOCH)))
    _link(feed, self_url, "self", "application/atom+xml")
    _link(feed, console_url, "alternate", "text/html")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "minerals-monitor")
    _text(feed, "generator", "minerals-monitor")
    for story in stories:
        feed.append(_entry(story, story_url.format(story_id=story.story_id)))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def _entry(story: StorySummary, page_url: str) -> ET.Element:
    entry = ET.Element(f"{{{ATOM}}}entry")
    lead = story.lead
    rules = story.rules
    more = f" +{len(rules) - 1} rules" if len(rules) > 1 else ""
    _text(entry, "id", entry_id(story.story_id))
    _text(entry, "title", f"[{severity_label(story.severity)}] {one_line(lead.title) or '(untitled)'}")
    _text(entry, "published", _stamp(story.first_hit_at))
    _text(entry, "updated", _stamp(story.newest_hit_at))
    article_url = link(lead)
    _link(entry, article_url or page_url, "alternate", "text/html")
    _link(entry, page_url, "related", "text/html")
    for rule in rules:
        category = ET.SubElement(entry, f"{{{ATOM}}}category")
        category.set("term", rule.rule_id)
        category.set("label", f"{rule.rule_name or rule.rule_id} ({rule.severity})")
    summary = f"{rules[0].rule_id}{more}: " + ", ".join(
        dict.fromkeys(t.text for rule in rules for t in rule.terms)
    )
    _text(entry, "summary", summary)
    content = _text(entry, "content", _content_html(story, article_url))
    content.set("type", "html")
    return entry


def _content_html(story: StorySummary, article_url: str | None) -> str:
    """Escaped HTML (the feed reader renders it): every rule with its terms in context."""
    parts = []
    lead = story.lead
    if article_url:
        parts.append(f'<p><a href="{escape(article_url)}">{escape(one_line(lead.title) or "(untitled)")}</a></p>')
    parts.append("<ul>")
    for item in story_reasons(story, every=False):
        rule = item.rule
        reasons = "; ".join(
            # <strong>, not <mark>: feed readers' HTML sanitisers (feedparser's among them) drop <mark>.
            "".join(f"<strong>{escape(s.text)}</strong>" if s.marked else escape(s.text) for s in snippet)
            for snippet in item.snippets
        )
        parts.append(
            f"<li><strong>{escape(rule.rule_name or rule.rule_id)}</strong> ({escape(rule.severity)}): {reasons}</li>"
        )
    parts.append("</ul>")
    if len(story.outlets) > 1:
        parts.append(f"<p>Reported by {escape(', '.join(story.outlets))}</p>")
    return "".join(parts)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = _xml_safe(value)
    return element


def _link(parent: ET.Element, href: str, rel: str, media_type: str) -> None:
    element = ET.SubElement(parent, f"{{{ATOM}}}link")
    element.set("rel", rel)
    element.set("type", media_type)
    element.set("href", _xml_safe(href))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (a feed's stray control bytes)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")
