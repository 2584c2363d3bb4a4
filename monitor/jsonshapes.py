"""JSON shapes that both faces print: the CLI's `--json` and the web console's API.

Scripts rely on these names (README, "JSON contracts"): extend, never rename.
"""

from __future__ import annotations

from datetime import UTC, datetime

from storage.types import Article, Feed


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def feed_json(feed: Feed) -> dict:
    """`feeds list --json` and /api/feeds items."""
    return {
        "id": feed.id,
        "name": feed.name,
        "url": feed.url,
        "http_status": feed.http_status,
        "error": feed.error,
        "warning": feed.warning,
        "consecutive_failures": feed.consecutive_failures,
        "failing": feed.failing,
        "disabled_reason": feed.disabled_reason,
        "last_polled_at": iso(feed.last_polled_at),
        "last_success_at": iso(feed.last_success_at),
        "next_poll_at": iso(feed.next_poll_at),
        "articles_stored": feed.articles_stored,
        "new_per_day": feed.new_per_day,
        "etag": feed.etag,
        "last_modified": feed.last_modified,
    }


def article_json(article: Article, feeds: tuple[str, ...] | None = None) -> dict:
    """`hits search --json` items; with `feeds`, also every feed that showed the article (the API)."""
    shape = {
        "id": article.id,
        "url": article.url or article.link,
        "title": article.title,
        "summary": article.summary,
        "feed": article.feed_name,
        "published": iso(article.published_at),
        "first_seen_at": iso(article.first_seen_at),
    }
    if feeds is not None:
        shape["feeds"] = list(feeds or (article.feed_name,))
    return shape
