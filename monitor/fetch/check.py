"""`feeds check URL` and discovery for `feeds add`: a dry fetch + parse, stored nowhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from monitor.fetch.discover import discover_feeds, looks_like_html
from monitor.fetch.fetcher import Fetcher, FetchRequest, FetchResult, user_agent
from monitor.parse.feed import parse_feed

CACHING_HEADERS = ("etag", "last-modified", "cache-control", "expires", "retry-after")


@dataclass(frozen=True)
class FeedCheck:
    url: str
    status: int | None
    final_url: str
    redirects: tuple[tuple[int, str], ...]
    caching: dict[str, str]
    content_type: str
    body_bytes: int
    seconds: float
    error: str | None = None
    feed_title: str = ""
    feed_version: str = ""
    entries: int = 0
    sample_titles: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    discovered: tuple[tuple[str, str], ...] = ()  # feeds named by an HTML page
    permanent_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.entries > 0

    def as_json(self) -> dict:
        return {
            "url": self.url,
            "ok": self.ok,
            "http_status": self.status,
            "final_url": self.final_url,
            "permanent_url": self.permanent_url,
            "redirects": [{"status": s, "location": u} for s, u in self.redirects],
            "caching_headers": self.caching,
            "content_type": self.content_type,
            "body_bytes": self.body_bytes,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "feed_title": self.feed_title,
            "feed_version": self.feed_version,
            "entries": self.entries,
            "sample_titles": list(self.sample_titles),
            "warnings": list(self.warnings),
            "discovered_feeds": [{"url": u, "title": t} for u, t in self.discovered],
        }


class RequestSettings(Protocol):
    """The request limits a check uses (the config's `[polling]` section has them)."""

    timeout: float
    connect_timeout: float
    max_body_bytes: int
    contact: str


def _fetcher(polling: RequestSettings) -> Fetcher:
    return Fetcher(
        concurrency=1,
        per_host=1,
        host_gap=0.0,
        timeout=polling.timeout,
        connect_timeout=polling.connect_timeout,
        max_body_bytes=polling.max_body_bytes,
        user_agent_string=user_agent(polling.contact),
    )


def _check_from(url: str, fetch: FetchResult) -> FeedCheck:
    content_type = fetch.headers.get("content-type", "")
    common = dict(
        url=url,
        status=fetch.status,
        final_url=fetch.final_url or url,
        redirects=fetch.redirects,
        caching={k: fetch.headers[k] for k in CACHING_HEADERS if k in fetch.headers},
        content_type=content_type,
        body_bytes=len(fetch.body),
        seconds=fetch.elapsed,
        permanent_url=fetch.permanent_url,
    )
    if fetch.error or not fetch.ok:
        return FeedCheck(**common, error=fetch.error or f"HTTP {fetch.status}")
    if looks_like_html(fetch.body, content_type):
        found = discover_feeds(fetch.body.decode("utf-8", errors="replace"), fetch.final_url or url)
        error = "this is a web page, not a feed" + ("; it names the feeds below" if found else " and it names no feed")
        return FeedCheck(**common, error=error, discovered=tuple(found))
    parsed = parse_feed(fetch.body, fetch.headers, 0, "check", fetch.final_url or url)
    return FeedCheck(
        **common,
        error=parsed.error,
        feed_title=parsed.title,
        feed_version=parsed.version,
        entries=len(parsed.articles),
        sample_titles=tuple(a.title for a in parsed.articles[:5]),
        warnings=parsed.warnings,
    )


async def check_feed_async(url: str, polling: RequestSettings) -> FeedCheck:
    async with _fetcher(polling) as fetcher:
        fetch = await fetcher.fetch(FetchRequest(url))
    return _check_from(url, fetch)


def check_feed(url: str, polling: RequestSettings) -> FeedCheck:
    return asyncio.run(check_feed_async(url, polling))


@dataclass(frozen=True)
class Resolution:
    """What `feeds add` should store for a URL the user gave."""

    url: str
    name: str = ""
    note: str = ""
    checked: FeedCheck | None = field(default=None)


def resolve_feed_url(url: str, polling: RequestSettings) -> Resolution:
    """A feed URL as is; a web page's first advertised feed; unreachable URLs as given, with a note."""
    checked = check_feed(url, polling)
    if checked.ok:
        return Resolution(url=url, name=checked.feed_title, checked=checked)
    if checked.discovered:
        feed_url, title = checked.discovered[0]
        inner = check_feed(feed_url, polling)
        return Resolution(url=feed_url, name=inner.feed_title or title,
                          note=f"{url} is a web page; using the feed it advertises: {feed_url}", checked=inner)
    return Resolution(url=url, note=f"added without a working first fetch: {checked.error}", checked=checked)
