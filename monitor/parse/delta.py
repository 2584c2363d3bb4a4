"""Hand feedparser only the items it has not seen before.

A changed feed usually differs from its last version by one or two items, yet
feedparser's cost follows the whole document (~8 ms for 20 items). So a body is
cut, with one regular-expression scan, into its items (<item>...</item> or
<entry>...</entry>) and the frame around them, and each piece gets a short digest:

    body    = frame[0] item[0] frame[1] item[1] ... item[n-1] frame[n]
    digests = digest(frame without its volatile dates) + digest(item[0]) + ...

The feed row keeps the digests of its last parsed body. Next time, when the
frame is the same, the items whose digest is known are cut out and feedparser
reads the frame with only the new or edited items: same entries as a full parse
would give for them, at the cost of what changed. An item with the same bytes
parses to the same entry, so skipping it changes nothing that would be stored.

When the body cannot be cut with certainty (no items found, nested or unclosed
items, an encoding that is not ASCII-compatible such as UTF-16), there is no
split and the whole body is parsed, as always.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from monitor.parse.trim import trim_header, trim_item

DIGEST_SIZE = 8

# CDATA sections and comments are matched first so an "<item>" inside them is skipped.
_TOKENS = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<(/?)(item|entry)(?=[\s/>])[^>]*>", re.S)
# Channel dates that change on every rebuild of the feed without changing any item.
_VOLATILE = re.compile(rb"<(lastBuildDate|pubDate|updated|modified|dc:date)>[^<]*</\1>")


@dataclass(frozen=True)
class SplitFeed:
    """A feed body as its frame pieces and items: body = f0 i0 f1 i1 ... f(n)."""

    frame: tuple[bytes, ...]
    items: tuple[bytes, ...]

    def frame_digest(self) -> bytes:
        # Whitespace between items is not part of the frame's identity: one more item
        # adds one more separator without changing anything that items inherit.
        stable = b"\0".join(_VOLATILE.sub(b"", piece) for piece in self.frame if piece.strip())
        return _digest(stable)

    def item_digests(self) -> list[bytes]:
        return [_digest(item) for item in self.items]

    def digests(self) -> bytes:
        """What the feed row keeps: the frame's digest, then one per item."""
        return self.frame_digest() + b"".join(self.item_digests())

    def without_known(self, known: bytes | None) -> tuple[bytes, int] | None:
        """The body for feedparser with the items of `known` (a previous `digests()`) cut
        out, and how many were cut; None when `known` says nothing about this body (first
        parse, or the frame changed)."""
        if not known or len(known) % DIGEST_SIZE or known[:DIGEST_SIZE] != self.frame_digest():
            return None
        seen = {known[i : i + DIGEST_SIZE] for i in range(DIGEST_SIZE, len(known), DIGEST_SIZE)}
        keep = [digest not in seen for digest in self.item_digests()]
        return self.rebuild(keep), keep.count(False)

    def rebuild(self, keep: list[bool] | None = None) -> bytes:
        """The body for feedparser: the frame and the kept items, without the elements
        nobody reads (monitor/parse/trim.py)."""
        parts = [trim_header(self.frame[0])]
        for index, (item, frame) in enumerate(zip(self.items, self.frame[1:], strict=True)):
            if keep is None or keep[index]:
                parts.append(trim_item(item))
            parts.append(frame)
        return b"".join(parts)


def split_items(body: bytes) -> SplitFeed | None:
    """Cut a feed body into frame and items; None when that cannot be done with certainty."""
    spans: list[tuple[int, int]] = []
    open_at: int | None = None
    open_name = b""
    for token in _TOKENS.finditer(body):
        name = token.group(2)
        if name is None:
            continue  # CDATA or comment
        if token.group(1):  # a closing tag
            if open_at is None or name != open_name:
                return None
            spans.append((open_at, token.end()))
            open_at = None
        elif open_at is not None or token.group(0).endswith(b"/>"):
            return None  # nested or empty items: not a shape we cut
        else:
            open_at, open_name = token.start(), name
    if open_at is not None or not spans:
        return None
    frame, items, last = [], [], 0
    for start, end in spans:
        frame.append(body[last:start])
        items.append(body[start:end])
        last = end
    frame.append(body[last:])
    return SplitFeed(tuple(frame), tuple(items))


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()
