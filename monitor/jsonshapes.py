"""JSON shapes that both faces print: the CLI's `--json` and the web console's API.

Scripts rely on these names (README, "JSON contracts"): extend, never rename.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from storage.types import Alert, Article, Feed, MatchedTerm

if TYPE_CHECKING:
    from storage.console import StoryRule, StorySummary


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def feed_json(feed: Feed, config_urls: Collection[str] = ()) -> dict:
    """`feeds list --json` and /api/feeds items; `config_urls`: the feeds the config lists."""
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
        "new_per_day": feed.new_per_day,  # null until the feed has a day of history
        "etag": feed.etag,
        "last_modified": feed.last_modified,
        "moved_from": list(feed.moved_from),  # URLs that answered a permanent redirect to this one
        "config_urls_moved_here": config_urls_moved_here(feed, config_urls),  # update the config: use `url`
    }


def config_urls_moved_here(feed: Feed, config_urls: Collection[str]) -> list[str]:
    """The config still lists these old URLs of the feed (polled at its new URL instead)."""
    return [url for url in feed.moved_from if url in config_urls]


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
        "story_id": article.story_id,  # for `stories show ID`
    }
    if feeds is not None:
        shape["feeds"] = list(feeds or (article.feed_name,))
    return shape


def terms_json(terms: tuple[MatchedTerm, ...]) -> list[dict]:
    return [{"term": t.term, "field": t.field, "start": t.start, "end": t.end, "text": t.text} for t in terms]


def rule_json(rule: StoryRule) -> dict:
    return {
        "rule": rule.rule_id,
        "rule_name": rule.rule_name,
        "severity": rule.severity,
        "article_id": rule.article_id,
        "created_at": iso(rule.created_at),
        "terms": terms_json(rule.terms),
    }


def story_json(story: StorySummary) -> dict:
    lead = story.lead
    return {
        "story_id": story.story_id,
        "severity": story.severity,
        "rule": story.rules[0].rule_id,  # the highest-severity rule, as in the webhook's data.rule
        "rules": [rule_json(rule) for rule in story.rules],
        "url": lead.url or lead.link,
        "title": lead.title,
        "feed": lead.feed_name,
        "published": iso(lead.published_at),
        "article_id": lead.id,
        "created_at": iso(story.first_hit_at),
        "updated_at": iso(story.newest_hit_at),
        "story_size": story.articles,
        "outlets": list(story.outlets),
    }


def not_sent_reason(alert: Alert) -> str | None:
    """Why a delivery was not (or not yet) sent, in words; None when it was sent or is due."""
    from monitor.durations import format_duration

    d, article = alert.delivery, alert.article
    if d.status == "skipped":
        if article.published_at and article.first_seen_at:
            age = format_duration((article.first_seen_at - article.published_at).total_seconds())
            return f"old news: published {age} before it was first seen (over [alerts] skip_older_than)"
        return "old news when first seen (over [alerts] skip_older_than)"
    if d.status == "muted":
        return f"the rule was muted (`alerts unmute {alert.hit.rule_id}` for new hits)"
    if d.status == "digest":
        return f"waits for the {d.digest or 'next'} digest"
    return None


def delivery_json(alert: Alert) -> dict:
    """`alerts list --json` and /api/deliveries items."""
    d = alert.delivery
    return {
        "id": d.id,
        "channel": d.channel,
        "rule": alert.hit.rule_id,  # the notification's highest-severity rule
        "rules": list(alert.rule_ids),  # every rule the notification carries (issue 14)
        "update": d.is_update,
        "severity": alert.hit.severity,
        "url": alert.article.url or alert.article.link,
        "title": alert.article.title,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "reason": not_sent_reason(alert),  # why it was not (yet) sent: old news, muted, digest
        "next_attempt_at": iso(d.next_attempt_at) if d.status in ("pending", "failed") else None,
        "created_at": iso(d.created_at),
        "sent_at": iso(d.sent_at),
        "webhook_id": d.idempotency_key,
        "story_id": d.story_id if d.story_id is not None else alert.article.story_id,
    }
