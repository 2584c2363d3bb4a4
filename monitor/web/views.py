"""What the console shows, as plain values: stories, feeds and deliveries for the templates
and for the JSON API. Pure: values in, values out.

The JSON names are the CLI's (`hits list --json`: rule, rule_name, severity, url, title,
feed, published, created_at, article_id, story_id, story_size, terms; `feeds list --json`;
`alerts list --json`): scripts move between the two without renaming anything. The shapes
both faces print are in monitor/jsonshapes.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.render import Segment, field_segments, field_text, match_reasons, safe_url, snippet
from storage.console import StoryDetail, StoryNotification, StoryRule, StorySummary
from monitor.jsonshapes import (  # noqa: F401 (delivery_json, story_json: the API's names)
    article_json, delivery_json, feed_json, iso, rule_json, story_json, terms_json,
)
from storage.types import Alert, Article, Feed, MatchedTerm


def notification_json(notification: StoryNotification) -> dict:
    """A story's notification, with the names of `alerts list --json` (delivery_json)."""
    waiting = notification.status in ("pending", "failed")
    return {
        "id": notification.delivery_id,
        "channel": notification.channel,
        "rule": notification.rule_id,  # the highest-severity rule, as in the webhook's data.rule
        "rules": list(notification.rule_ids),  # every rule the notification carries (issue 14)
        "update": notification.is_update,
        "update_number": notification.update_number,
        "raised_from": notification.raised_from,
        "severity": notification.severity,
        "status": notification.status,
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "next_attempt_at": iso(notification.next_attempt_at) if waiting else None,
        "created_at": iso(notification.created_at),
        "sent_at": iso(notification.sent_at),
        "webhook_id": notification.webhook_id,
    }


def delivery_api_json(alert: Alert) -> dict:
    """/api/deliveries items: `alerts list --json`'s, and which update a notification is."""
    return {
        **delivery_json(alert),
        "update_number": alert.delivery.update_number,
        "raised_from": alert.delivery.raised_from,
    }


def story_detail_json(detail: StoryDetail) -> dict:
    return {
        **story_json(detail.summary),
        "articles": [article_json(m.article, m.feeds) for m in detail.members],
        "notifications": [notification_json(n) for n in detail.notifications],
    }


def failing_first(feeds: list[Feed]) -> list[Feed]:
    """The feeds page's order: disabled, then failing (most failures first), then the rest by name."""
    return sorted(
        feeds,
        key=lambda f: (f.disabled_reason is None, -f.consecutive_failures if f.failing else 1, f.name.lower(), f.id),
    )


@dataclass(frozen=True)
class RuleReasons:
    """One rule of a story as a page shows it: its terms, and the words around them."""

    rule: StoryRule
    terms: tuple[str, ...]  # distinct query terms, in the order they first matched
    snippets: tuple[tuple[Segment, ...], ...]  # distinct contexts (two terms side by side: one)


def story_reasons(story: StorySummary, every: bool = True) -> tuple[RuleReasons, ...]:
    """Each rule's reasons; `every=False` keeps only the first context per rule (the list page:
    a snippet costs more than the rest of a row, and the list shows one)."""
    shown = []
    for rule in story.rules:
        terms = tuple(dict.fromkeys(t.term for t in rule.terms))
        if every:
            snippets = tuple(dict.fromkeys(r.snippet for r in match_reasons(story.article(rule.article_id), rule.terms)))
        else:
            snippets = first_snippet(story.article(rule.article_id), rule.terms)
        shown.append(RuleReasons(rule, terms, snippets))
    return tuple(shown)


def first_snippet(article: Article, terms: tuple[MatchedTerm, ...]) -> tuple[tuple[Segment, ...], ...]:
    """The context of the rule's first term (title first), with every term in that window marked."""
    order = {"title": 0, "summary": 1, "content": 2}
    if not terms:
        return ()
    first = min(terms, key=lambda t: (order.get(t.field, 9), t.start))
    text = field_text(article, first.field)
    if not 0 <= first.start < first.end <= len(text):
        return ((Segment(first.text, True),),)
    return (snippet(text, first.start, first.end, [(t.start, t.end) for t in terms if t.field == first.field]),)


def title_segments(story: StorySummary) -> tuple[Segment, ...]:
    """The lead title with every term any rule matched in it marked."""
    lead = story.lead
    terms = [t for rule in story.rules if rule.article_id == lead.id for t in rule.terms]
    return field_segments(lead, terms, "title") or (Segment(lead.title or "(untitled)"),)


def link(article: Article) -> str | None:
    """A clickable link only for http(s): a feed's `javascript:` link never becomes one."""
    return safe_url(article.url or article.link)
