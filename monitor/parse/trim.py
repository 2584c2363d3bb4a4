"""Cut from a feed item (and from the feed's header) the elements the monitor never
reads, before feedparser sees them.

feedparser spends its time per element (a SAX callback chain of Python calls for
each start and end tag), and real items carry many elements nobody here reads:
categories, comment links, enclosures, authors, thumbnails. An article is built
from the title, link, guid, summary/description, content and dates only, so those
elements are removed from the item's bytes first: same entries, less parsing.

Only whole, flat elements are removed (`<x .../>` or `<x ...>text</x>` with no
child element and no CDATA or comment inside); anything else is left for
feedparser. Elements that may carry an article's text (media:description,
itunes:summary, media:group, ...) are never on the list.
"""

from __future__ import annotations

import re

UNREAD_ELEMENTS = (
    "category", "comments", "enclosure", "author", "dc:creator", "dc:subject", "slash:comments",
    "wfw:commentRss", "wfw:comment", "media:thumbnail", "media:credit", "media:rating", "georss:point",
)

# Of the feed's header (the channel or Atom feed element before its first item) only the
# title, ttl and sy:updatePeriod/updateFrequency are read (monitor/parse/feed.py); a parse of
# one new item spent a third of feedparser's time on the header's other elements.
UNREAD_HEADER_ELEMENTS = UNREAD_ELEMENTS + (
    "link", "atom:link", "description", "subtitle", "language", "lastBuildDate", "pubDate", "updated",
    "id", "generator", "copyright", "rights", "managingEditor", "webMaster", "docs", "icon", "logo",
)


def _flat_elements(names: tuple[str, ...]) -> re.Pattern[bytes]:
    alternatives = "|".join(re.escape(name) for name in names)
    # A flat element: self-closing, or text only up to its own end tag ([^<]* forbids children,
    # CDATA and comments, so a match never cuts through one).
    return re.compile(rf"<({alternatives})(?=[\s/>])[^<>]*?(?:/>|>[^<]*</\1\s*>)".encode())


_UNREAD = _flat_elements(UNREAD_ELEMENTS)
_UNREAD_HEADER = _flat_elements(UNREAD_HEADER_ELEMENTS)


def trim_item(item: bytes) -> bytes:
    """The item without its flat, unread elements."""
    return _UNREAD.sub(b"", item)


def trim_header(header: bytes) -> bytes:
    """The feed's header (everything before its first item) without its flat, unread elements."""
    return _UNREAD_HEADER.sub(b"", header)
