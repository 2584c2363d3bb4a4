"""The delta parse against a full parse of the same body (issue 17.7), over any feed files.

    .venv/bin/python tests/monitor/parse/delta_differential.py DIR_OR_FILE...   # counts per edit and field

For every file whose items can be cut (monitor/parse/delta.py), pairs of bodies are made
from it, the "old" one parsed in full and the "new" one parsed twice: in full, and as a
delta with the old body's digests. The two must leave the monitor in the same state:
the same stored articles after both (an article is new when its key is, updated when its
text changed), the same feed title, interval hint, warning, error, entry count and
version, and the same digests for the next poll. The edits:

- new-item:        a fresh item put before the first
- first-item-new:  old = the body without its first item
- edited-item:     the first item's title changed
- removed-item:    the last item gone
- stray-byte:      a windows-1252 byte in an old item's title, then a new item
- stray-gone:      the old body had that byte in its last item, which is now gone
- duplicate-item:  the first item repeated at the end (same guid and link), that copy edited
- loose-item:      an old item malformed (a bare "&"), then a new item
- untouched:       (not an edit) the full parse against feedparser's parse of the body as it came,
                   without the unread elements cut out (monitor/parse/trim.py)

tests/monitor/parse/test_delta.py runs this over the feed corpus; the command above ran it
over feedparser's own test suite (docs/benchmarks.md, "Delta parse against full parse").
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run as a script: the repository's packages, as the tests see them
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from monitor.parse.delta import split_items  # noqa: E402
from monitor.parse.feed import ParsedFeed, _parse_xml, parse_feed  # noqa: E402

BASE = "https://example.org/feed.xml"
EDITS = ("new-item", "first-item-new", "edited-item", "removed-item", "stray-byte", "stray-gone", "duplicate-item",
         "loose-item")


@dataclass(frozen=True)
class Divergence:
    file: str
    edit: str
    field: str


FRESH = {
    b"item": b"<item><title>Fresh report</title><link>https://example.org/fresh</link><guid>fresh-1</guid>"
             b"<description>Something new happened.</description></item>",
    b"entry": b'<entry><title>Fresh report</title><link href="https://example.org/fresh"/><id>urn:fresh-1</id>'
              b"<summary>Something new happened.</summary></entry>",
}


def bodies(body: bytes, max_items: int | None = None) -> dict[str, tuple[bytes, bytes]]:
    """(old body, new body) per edit that applies to this body (of its first `max_items` items)."""
    split = split_items(body)
    if split is None:
        return {}
    frame, items = list(split.frame), list(split.items)[:max_items]
    between = frame[1] if len(frame) > 2 else b"\n"  # what separates items (usually white space)
    fresh = FRESH[b"entry" if items[0].startswith(b"<entry") else b"item"]

    def join(chosen: list[bytes]) -> bytes:
        return frame[0] + between.join(chosen) + frame[-1]

    def retitled(item: bytes, text: bytes) -> bytes | None:
        return item.replace(b"</title>", text + b"</title>", 1) if b"</title>" in item else None

    pairs: dict[str, tuple[bytes, bytes]] = {"new-item": (join(items), join([fresh, *items]))}
    if len(items) >= 2:
        pairs["first-item-new"] = (join(items[1:]), join(items))
        pairs["removed-item"] = (join(items), join(items[:-1]))
    edited = retitled(items[0], b" (corrected)")
    if edited:
        pairs["edited-item"] = (join(items), join([edited, *items[1:]]))
    stray = retitled(items[0], b" \x93quoted\x94")
    if stray:
        pairs["stray-byte"] = (join([stray, *items[1:]]), join([fresh, stray, *items[1:]]))
    stray_last = retitled(items[-1], b" \x93quoted\x94")
    if stray_last and len(items) >= 2:
        pairs["stray-gone"] = (join([*items[:-1], stray_last]), join(items[:-1]))
    copy = retitled(items[0], b" (copy edited)")
    if copy:
        pairs["duplicate-item"] = (join([*items, items[0]]), join([*items, copy]))
    loose = retitled(items[0], b" M&A")
    if loose:
        pairs["loose-item"] = (join([loose, *items[1:]]), join([fresh, loose, *items[1:]]))
    return pairs


def stored(state: dict[str, object], parsed: ParsedFeed) -> tuple[dict[str, object], set[str]]:
    """The articles kept after storing `parsed` on top of `state`, and the keys new or updated."""
    after = dict(state)
    changed = set()
    for article in parsed.articles if not parsed.error else ():
        before = after.get(article.entry_key)
        if before is None or before.content_hash != article.content_hash:
            after[article.entry_key] = article
            changed.add(article.entry_key)
    return after, changed


@functools.lru_cache(maxsize=64)
def _full(body: bytes) -> ParsedFeed:
    """A full parse (the same bodies recur across the edits of one file)."""
    return parse_feed(body, {}, 1, "f", BASE)


def compare(name: str, edit: str, old_body: bytes, new_body: bytes, used: Counter | None = None) -> list[Divergence]:
    """What differs between the full and the delta parse of `new_body` after `old_body`
    (`used` counts the pairs where the delta path was really taken, per edit)."""
    old, full = _full(old_body), _full(new_body)
    fast = parse_feed(new_body, {}, 1, "f", BASE, known_digests=old.digests)
    if used is not None and fast.known_items:
        used[edit] += 1
    state, _ = stored({}, old)
    found = []
    if stored(state, full) != stored(state, fast):
        found.append("articles")
    for field in ("title", "min_interval_hint", "warning", "entry_count", "version", "digests"):
        if getattr(full, field) != getattr(fast, field) and not (full.error and fast.error):
            found.append(field)
    if bool(full.error) != bool(fast.error):
        found.append("error")
    return [Divergence(name, edit, field) for field in found]


def untouched(name: str, body: bytes) -> list[Divergence]:
    """The full parse against feedparser's parse of the untouched body."""
    full = parse_feed(body, {}, 1, "f", BASE)
    plain = _parse_xml(body, {}, 1, "f", BASE)
    found = [field for field in ("articles", "title", "min_interval_hint", "warning", "entry_count")
             if getattr(full, field) != getattr(plain, field)]
    if bool(full.error) != bool(plain.error):
        found.append("error")
    return [Divergence(name, "untouched", field) for field in found]


def run(paths: list[Path], max_items: int | None = None) -> tuple[int, int, list[Divergence], Counter, Counter]:
    """(files read, files cut, divergences, pairs compared per edit, pairs where the delta path was taken);
    `max_items`: make the pairs from each file's first items only (the test suite's time)."""
    read = cut = 0
    found: list[Divergence] = []
    pairs_per_edit: Counter = Counter()
    used: Counter = Counter()
    for path in paths:
        body = path.read_bytes()
        read += 1
        pairs = bodies(body, max_items)
        if not pairs:
            continue
        cut += 1
        found += untouched(path.name, body)
        for edit, (old_body, new_body) in pairs.items():
            pairs_per_edit[edit] += 1
            found += compare(path.name, edit, old_body, new_body, used)
    return read, cut, found, pairs_per_edit, used


def feed_files(arguments: list[str]) -> list[Path]:
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".xml", ".rss", ".atom", ".rdf"))
        else:
            files.append(path)
    return files


def main(arguments: list[str]) -> int:
    read, cut, found, pairs, used = run(feed_files(arguments))
    print(f"{read} files read, {cut} cut into items and compared; {len(found)} divergences "
          f"in {len({d.file for d in found})} files")
    by_edit = Counter(d.edit for d in found)
    print(f"  {'edit':15s} {'pairs':>5s} {'delta used':>10s} {'divergences':>11s} {'files':>5s}  fields")
    for edit in (*EDITS, "untouched"):
        fields = Counter(d.field for d in found if d.edit == edit)
        files = len({d.file for d in found if d.edit == edit})
        count = pairs[edit] if edit != "untouched" else cut
        print(f"  {edit:15s} {count:5d} {used[edit]:10d} {by_edit[edit]:11d} {files:5d}  {dict(fields) if fields else ''}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
