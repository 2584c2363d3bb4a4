"""Feed bytes to `Article`s: feedparser for RSS/Atom/RDF, our own reader for JSON Feed.

Runs in a worker process (CPU-bound), so it takes and returns plain picklable
values and never touches the database or the network.
"""

from __future__ import annotations

import calendar
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
import re
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.exceptions import UndeclaredNamespace
from xml.sax import SAXException

from monitor.parse import delta
from monitor.parse.canonical import canonical_url
from monitor.parse.signature import signature, words_of
from monitor.parse.text import html_to_text, one_line
from storage.types import Article

# feedparser asks xml.sax for the libxml2 driver first on every parse; when it is not
# installed that is a failed import, a sys.path scan each time (~0.15 ms, 15% of a parse
# of one new item). Ask for the driver only where it exists.
if importlib.util.find_spec("drv_libxml2") is None:
    feedparser.api.PREFERRED_XML_PARSERS = []

_SECONDS_PER_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed body yielded. `error` is set when it yielded no entries at all."""

    articles: tuple[Article, ...] = ()
    title: str = ""
    warning: str | None = None
    error: str | None = None
    min_interval_hint: float | None = None  # from RSS ttl / sy:updatePeriod, seconds
    entry_count: int = 0
    version: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # monitor/parse/delta.py: the digests of this body's frame and items (None: not cut), and
    # how many items were known from the last body and so not parsed again.
    digests: bytes | None = None
    known_items: int = 0


def content_hash(title: str, summary: str, content: str) -> str:
    return hashlib.sha256(f"{title}\n{summary}\n{content}".encode()).hexdigest()[:32]


def parse_feed(
    body: bytes, headers: dict[str, str], feed_id: int, feed_name: str, base_url: str = "", known_digests: bytes | None = None
) -> ParsedFeed:
    """Parse one fetched body; never raises for bad input.

    `known_digests` (the last body's `ParsedFeed.digests`): parse only the items
    that are not in it (monitor/parse/delta.py) when that gives exactly what a full
    parse would; the result then holds only those.
    """
    if _looks_like_json(body, headers):
        return _parse_json_feed(body, feed_id, feed_name)
    split = delta.split_items(body)
    if split is None:
        return _parse_xml(body, headers, feed_id, feed_name, base_url)
    known = delta.Remembered.from_bytes(known_digests)
    if known is not None and delta.feedparser_encoding(body, headers) == known.encoding:
        fast = _delta_parse(split, known, known.encoding, headers, feed_id, feed_name, base_url)
        if fast is not None:
            return fast
    encoding, strict = delta.feedparser_view(body, headers)
    return _full_parse(split, body, encoding, strict, headers, feed_id, feed_name, base_url)


def _full_parse(split: delta.SplitFeed, body: bytes, encoding: str, strict: bool, headers: dict[str, str],
                feed_id: int, feed_name: str, base_url: str) -> ParsedFeed:
    """The whole body, without its unread elements when feedparser then reads it the same
    way (same encoding, strict parser); remembered for the next delta when it parsed strictly."""
    parsed = _feedparser(split.rebuild(), headers) if strict else None
    if parsed is None or isinstance(parsed, ParsedFeed) or parsed.get("encoding") != encoding or _loose(parsed):
        parsed = _feedparser(body, headers)
    if isinstance(parsed, ParsedFeed):
        return parsed
    result = _from_feedparser(parsed, feed_id, feed_name, base_url)
    entries = parsed.get("entries", [])
    if result.error or not strict or len(entries) != len(split.items):
        return result
    return replace(result, digests=split.remembered(encoding, _identities(entries, base_url)))


def _delta_parse(split: delta.SplitFeed, known: delta.Remembered, encoding: str, headers: dict[str, str],
                 feed_id: int, feed_name: str, base_url: str) -> ParsedFeed | None:
    """Only the items `known` does not hold, or None wherever that might differ from a full parse."""
    cut = split.cut(known)
    if cut is None:
        return None
    keep, known_identities = cut
    # The known items parsed strictly with this frame and encoding; with the new ones as they
    # came, the whole body does too.
    if delta.feedparser_view(split.rebuild(keep, trimmed=False), headers) != (encoding, True):
        return None
    parsed = _feedparser(split.rebuild(keep), headers)
    if isinstance(parsed, ParsedFeed) or parsed.get("encoding") != encoding or _loose(parsed):
        return None
    entries = parsed.get("entries", [])
    new_identities = _identities(entries, base_url)
    if len(entries) != keep.count(True) or new_identities is None:
        return None
    digests = split.remembered(encoding, _in_order(keep, new_identities, known_identities))
    if digests is None:  # a new item repeats another's identity: keyed together by a full parse
        return None
    counts = dict(digests=digests, known_items=keep.count(False), entry_count=len(keep))
    if not entries:  # nothing new: the channel alone still gives its title and ttl hints
        return ParsedFeed(**_channel_fields(parsed), **counts)
    result = _from_feedparser(parsed, feed_id, feed_name, base_url)
    return None if result.error else replace(result, **counts)


def _in_order(keep: list[bool], new: list[bytes], known: list[bytes]) -> list[bytes]:
    """Identities in body order, from the parsed new items and the known ones."""
    new_items, known_items = iter(new), iter(known)
    return [next(new_items) if fresh else next(known_items) for fresh in keep]


def _identities(entries: list, base_url: str) -> list[bytes] | None:
    """Each entry's identity as `_keyed_articles` keys it (guid, else link), as digests;
    None when an entry has neither (keyed by its text, which a skipped item's is not known)."""
    identities = []
    for entry in entries:
        guid = (entry.get("id") or "").strip()
        link = _entry_link(entry.get("link") or "", base_url)
        identities.append(f"guid:{guid}" if guid else f"url:{canonical_url(link)}" if link else None)
    return delta.identity_digests(identities)


def _loose(parsed) -> bool:
    """Did feedparser fall back to its loose parser (no encoding, or the strict one failed)?"""
    return not parsed.get("encoding") or isinstance(parsed.get("bozo_exception"), (SAXException, UndeclaredNamespace))


def _parse_xml(body: bytes, headers: dict[str, str], feed_id: int, feed_name: str, base_url: str) -> ParsedFeed:
    parsed = _feedparser(body, headers)
    return parsed if isinstance(parsed, ParsedFeed) else _from_feedparser(parsed, feed_id, feed_name, base_url)


def _feedparser(body: bytes, headers: dict[str, str]):
    try:
        return feedparser.parse(
            body,
            # No base URL (Content-Location) for feedparser: it then joined every link and
            # href of the document with it, ~10% of the parse time; we resolve the one link
            # we keep per entry ourselves (_entry_link).
            response_headers={k: v for k, v in headers.items() if k != "content-location"},
            # We reduce HTML to plain text ourselves: feedparser's sanitiser and URI
            # resolution were ~18% of the parse time for nothing.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:  # feedparser is defensive; this is the last line against a bug in it
        return ParsedFeed(error=f"feed parser failed: {type(error).__name__}: {error}")


def _bozo_warnings(parsed) -> list[str]:
    if not parsed.get("bozo"):
        return []
    return [f"malformed feed, recovered what could be read: {_describe_bozo(parsed.get('bozo_exception'))}"]


def _channel_fields(parsed) -> dict:
    """The feed-level fields of a parse with no entries (a delta parse of the frame alone)."""
    channel = parsed.get("feed", {})
    warnings = _bozo_warnings(parsed)
    return dict(title=one_line(html_to_text(channel.get("title", ""))), min_interval_hint=_interval_hint(channel),
                warning="; ".join(warnings) or None, version=parsed.get("version", ""), warnings=tuple(warnings))


def _from_feedparser(parsed, feed_id: int, feed_name: str, base_url: str) -> ParsedFeed:
    warnings = _bozo_warnings(parsed)
    raw_entries = parsed.get("entries", [])
    articles = _articles_from_entries(raw_entries, feed_id, feed_name, base_url, warnings)
    if not articles:
        reason = warnings[0] if warnings else "no entries in the document"
        if not parsed.get("version") and not raw_entries:
            reason = f"not a feed (no RSS, Atom or JSON Feed found): {warnings[0] if warnings else 'unrecognised document'}"
        return ParsedFeed(error=reason, version=parsed.get("version", ""), warnings=tuple(warnings))
    channel = parsed.get("feed", {})
    return ParsedFeed(
        articles=tuple(articles),
        title=one_line(html_to_text(channel.get("title", ""))),
        warning="; ".join(warnings) or None,
        min_interval_hint=_interval_hint(channel),
        entry_count=len(raw_entries),
        version=parsed.get("version", ""),
        warnings=tuple(warnings),
    )


def _describe_bozo(exception: object) -> str:
    if exception is None:
        return "unknown problem"
    text = str(exception).strip() or type(exception).__name__
    return f"{type(exception).__name__}: {text}"[:300]


def _interval_hint(channel: dict) -> float | None:
    hints: list[float] = []
    ttl = channel.get("ttl")
    if ttl and str(ttl).strip().isdigit():
        hints.append(int(str(ttl).strip()) * 60)
    period = str(channel.get("sy_updateperiod", "")).strip().lower()
    if period in _SECONDS_PER_PERIOD:
        frequency = str(channel.get("sy_updatefrequency", "1")).strip()
        divisor = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
        hints.append(_SECONDS_PER_PERIOD[period] / divisor)
    return max(hints) if hints else None


def _entry_time(entry: dict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get("updated_parsed") warns about a deprecated fallback mapping.
        value = dict.get(entry, key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue  # year 1 or 9999: unusable, try the next date
    return None


def _entry_link(link: str, base_url: str) -> str:
    """The entry's link made absolute against the feed's URL; only web links are kept
    (a javascript: or data: link must never reach an alert)."""
    link = link.strip()
    if link and base_url and not link.startswith(("http://", "https://")):
        link = urljoin(base_url, link)
    return link if link.lower().startswith(("http://", "https://")) else ""


# News aggregators whose items stand for another outlet's article (issue 14.4).
AGGREGATOR_HOSTS = frozenset({"news.google.com", "www.bing.com", "bing.com"})
# " - Dawn", " | Reuters": an aggregator's title ends with the outlet's name.
_OUTLET_SUFFIX = re.compile(r"\s+[-\u2013\u2014|]\s+([^-\u2013\u2014|]{1,80})$")
_OUTLET_MAX_WORDS = 6


def aggregator_item(title: str, summary: str, source_name: str, link: str, base_url: str) -> tuple[str, str, str]:
    """(title, summary, outlet) of an item read as the outlet's article.

    An item with a `<source>` element, or from a news aggregator's feed (Google News, Bing
    News), names its outlet: the " - Outlet" suffix is removed from its title (for matching,
    display and grouping), and a summary that only repeats the title (Google News lists the
    links of the story's articles there) is no text of the article. Any other item: unchanged,
    outlet "".
    """
    source_name = one_line(source_name)
    aggregator = bool(source_name) or any(
        (urlsplit(url).hostname or "").lower() in AGGREGATOR_HOSTS for url in (link, base_url) if url)
    if not aggregator:
        return title, summary, ""
    outlet = source_name
    suffix = _OUTLET_SUFFIX.search(title)
    if suffix and (suffix.group(1).strip() == outlet or (
            not outlet and len(suffix.group(1).split()) <= _OUTLET_MAX_WORDS)):
        outlet = suffix.group(1).strip()
        title = title[: suffix.start()].rstrip()
    title_words = words_of(title)
    if title_words and words_of(summary)[: len(title_words)] == title_words:
        summary = ""  # the link list, not the article's text
    return title, summary, outlet


def _source_name(entry: dict) -> str:
    """The outlet an item names: RSS `<source>`, or Bing News' `<News:Source>`."""
    source = entry.get("source")
    if isinstance(source, dict) and source.get("title"):
        return source["title"]
    named = entry.get("news_source")
    return named if isinstance(named, str) else ""


def _articles_from_entries(entries: list, feed_id: int, feed_name: str, base_url: str, warnings: list[str]) -> list[Article]:
    drafts = []
    for entry in entries:
        title = one_line(html_to_text(entry.get("title", "")))
        summary = html_to_text(entry.get("summary", "") or entry.get("description", ""))
        content_parts = [c.get("value", "") for c in entry.get("content", []) or [] if isinstance(c, dict)]
        content = html_to_text("\n".join(content_parts))
        if content == summary:
            content = ""
        link = _entry_link(entry.get("link") or "", base_url)
        guid = (entry.get("id") or "").strip() or None
        if not (title or summary or content or link or guid):
            continue  # nothing to identify or match
        title, summary, outlet = aggregator_item(title, summary, _source_name(entry), link, base_url)
        if outlet and words_of(content)[: len(words_of(title))] == words_of(title):
            content = ""
        drafts.append((guid, link, title, summary, content, _entry_time(entry), outlet))
    return _keyed_articles(drafts, feed_id, feed_name, warnings)


def _keyed_articles(drafts: list, feed_id: int, feed_name: str, warnings: list[str]) -> list[Article]:
    """Give each entry its identity within the feed: guid, else canonical link, else a text hash.

    A guid repeated inside one document for different links is disambiguated
    with the link, so two different stories never collapse into one.
    """
    links_per_guid: dict[str, set[str]] = {}
    for guid, link, *_ in drafts:
        if guid:
            links_per_guid.setdefault(guid, set()).add(canonical_url(link) if link else "")
    repeated = {guid for guid, links in links_per_guid.items() if len(links) > 1}
    if repeated:
        warnings.append(f"{len(repeated)} guid(s) repeated for different links; told apart by link")
    articles: list[Article] = []
    seen_keys: set[str] = set()
    for guid, link, title, summary, content, published, *named in drafts:
        url = canonical_url(link) if link.startswith(("http://", "https://")) else ""
        text_hash = content_hash(title, summary, content)
        if guid and guid in repeated:
            key = f"guid:{guid}#{url or text_hash}"
        elif guid:
            key = f"guid:{guid}"
        elif url:
            key = f"url:{url}"
        else:
            key = "hash:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()[:32]
        if key in seen_keys:
            continue  # the same entry twice in one document
        seen_keys.add(key)
        sig = signature(title, summary, content)  # here, in the worker process, not in the poll's transaction
        articles.append(
            Article(
                story_signature=sig.to_bytes() if sig else None,
                story_band_keys=sig.band_keys if sig else (),
                feed_id=feed_id,
                entry_key=key,
                url=url,
                link=link,
                guid=guid,
                title=title,
                summary=summary,
                content=content,
                published_at=published,
                feed_name=feed_name,
                content_hash=text_hash,
                outlet=named[0] if named else "",
            )
        )
    return articles


def _looks_like_json(body: bytes, headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").lower()
    if "json" in content_type:
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(body: bytes, feed_id: int, feed_name: str) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (feedparser 6 does not read it)."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return ParsedFeed(error=f"invalid JSON: {error}")
    except RecursionError:
        return ParsedFeed(error="invalid JSON Feed: nested too deeply to read")
    if not isinstance(document, dict) or "jsonfeed.org/version" not in str(document.get("version", "")):
        return ParsedFeed(error="JSON document is not a JSON Feed (no https://jsonfeed.org/version/1.x)")
    items = document.get("items")
    if not isinstance(items, list):
        return ParsedFeed(error="JSON Feed has no items list")
    warnings: list[str] = []
    drafts = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            warnings.append(f"item {index} is not an object; skipped")
            continue
        title = one_line(html_to_text(_text(item.get("title"))))
        summary = html_to_text(_text(item.get("summary")))
        content = html_to_text(_text(item.get("content_html"))) or _text(item.get("content_text")).strip()
        if not summary:
            summary, content = content, ""
        link = _text(item.get("url")).strip() or _text(item.get("external_url")).strip()
        guid = _text(item.get("id")).strip() or None
        if not (title or summary or link or guid):
            continue
        drafts.append((guid, link, title, summary, content, _json_time(item, warnings)))
    articles = _keyed_articles(drafts, feed_id, feed_name, warnings)
    if not articles:
        return ParsedFeed(error="JSON Feed has no usable items", warnings=tuple(warnings))
    return ParsedFeed(
        articles=tuple(articles),
        title=one_line(_text(document.get("title"))),
        warning="; ".join(warnings) or None,
        entry_count=len(items),
        version="json" + str(document.get("version", "")).rsplit("/", 1)[-1],
        warnings=tuple(warnings),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _json_time(item: dict, warnings: list[str]) -> datetime | None:
    for key in ("date_published", "date_modified"):
        value = item.get(key)
        if isinstance(value, str) and value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
