"""Webhook bodies for one alert: our JSON event, and Slack, Discord and Teams messages.

`hit_created(alert)` is the documented event (`docs/webhook-payload.schema.json`),
a Standard Webhooks envelope `{type, timestamp, data}`. Its content depends only
on the alert, so a retried delivery sends the same body with the same
`webhook-id`. The chat formats follow each service's incoming-webhook format:

- Slack: `{"text", "blocks"}` with `mrkdwn` sections (section text <= 3000
  characters); `&`, `<`, `>` escaped as Slack asks, so article text cannot
  ping `<!channel>` or forge a link.
- Discord: `{"content", "embeds", "allowed_mentions"}` within Discord's limits
  (content 2000, title 256, description 4096, field value 1024, 6000 per
  embed); markdown escaped, mentions disabled.
- Microsoft Teams: an Adaptive Card wrapped in a `message` with one
  `application/vnd.microsoft.card.adaptive` attachment, as Teams incoming
  webhooks (and Workflows) expect.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Literal, NotRequired, Sequence, TypedDict

from alerts.render import (
    AlertView,
    ELLIPSIS,
    RuleView,
    Segment,
    StoryLink,
    alert_view,
    view_heading,
    clean_article,
    clean_text,
    iso_utc,
    safe_url,
    truncate,
)
from storage.types import Alert

EVENT_TYPE = "hit.created"
FORMATS = ("json", "slack", "discord", "teams")

# Our own payload never kills a delivery (issue 15.4): every format stays within its service's
# documented limits whatever the feed says (a 50 KB summary, 5 KB URLs, 60 outlets).
MAX_BODY_BYTES = 64 * 1024  # our JSON event, documented; common receivers refuse bodies over 100 KB
MAX_TERMS = 30  # per rule (and data.terms), with `terms_total` when there were more
JSON_SUMMARY_LIMIT = 4000  # characters of data.article.summary
JSON_TITLE_LIMIT = 1000
MAX_STORY_ARTICLES = 20  # data.story.articles, with `more` when there were more
MAX_OUTLETS = 60
LINK_URL_LIMIT = 2000  # a longer URL is shown as text, never made a link (it would break the block)
TEAMS_CARD_BYTES = 27 * 1024  # Teams webhooks refuse messages over ~28 KB

# --- the JSON event (format "json") --------------------------------------------


class RulePayload(TypedDict):
    id: str
    name: str
    severity: str


class ArticlePayload(TypedDict):
    url: str
    title: str
    feed: str
    published: str | None
    summary: str
    outlet: NotRequired[str]


class TermPayload(TypedDict):
    term: str
    field: str
    start: int
    end: int
    text: str


class StoryArticlePayload(TypedDict):
    url: str
    title: str
    feed: str
    published: str | None


class StoryPayload(TypedDict):
    id: int | None
    articles: list[StoryArticlePayload]
    outlets: NotRequired[list[str]]
    more: NotRequired[int]


class RuleMatchPayload(TypedDict):
    id: str
    name: str
    severity: str
    terms: list[TermPayload]
    terms_total: NotRequired[int]


class HitData(TypedDict):
    id: str
    rule: RulePayload
    rules: NotRequired[list[RuleMatchPayload]]
    article: ArticlePayload
    terms: list[TermPayload]
    terms_total: NotRequired[int]
    story: NotRequired[StoryPayload]
    update: NotRequired[bool]
    previous_severity: NotRequired[str]


class HitCreatedEvent(TypedDict):
    type: Literal["hit.created"]
    timestamp: str
    data: HitData


def _terms(terms, summary_length: int) -> list[TermPayload]:
    """At most MAX_TERMS terms, those in the part of the summary that is sent."""
    kept = [t for t in terms if t.field != "summary" or t.end <= summary_length][:MAX_TERMS]
    return [{"term": t.term, "field": t.field, "start": t.start, "end": t.end, "text": clean_text(t.text)[:200]}
            for t in kept]


def url_for_link(url: str | None, unsafe: str, limit: int = LINK_URL_LIMIT) -> str | None:
    """`url` ready to be a chat link (characters that would end the link percent-encoded), or
    None when it is not a safe http(s) URL or too long to be one."""
    safe = safe_url(url)
    if safe is None:
        return None
    encoded = _link_url(safe, unsafe)
    return encoded if len(encoded) <= limit else None


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word (the start/end of kept spans stay valid)."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rstrip()
    space = cut.rfind(" ", limit // 2)
    return cut[:space] if space > 0 else cut


def hit_created(alert: Alert) -> HitCreatedEvent:
    """The `hit.created` event for `alert` (see docs/webhook-payload.schema.json).

    `data.rule` is the notification's highest-severity rule and `data.terms` its terms (as
    before grouping); `data.rules` lists every rule that fired, each with its terms (the
    spans index that rule's copy of the story: `data.article` when it is the same, else one
    of `data.story.articles`). `update` is true for an update sent because a later hit
    raised the story's severity (`previous_severity`). `timestamp` is when the notification
    was opened, not when this attempt runs, so every retry sends the same body.
    """
    hit, article = alert.hit, clean_article(alert.article)
    summary = _cut(article.summary, JSON_SUMMARY_LIMIT)
    rules: dict[str, RuleMatchPayload] = {}
    shown_by: set[str] = set()  # rules whose terms are those on the article shown
    for listing in alert.rule_hits:
        rule_id = listing.hit.rule_id
        on_shown = listing.article.id == alert.article.id
        if rule_id in rules and (rule_id in shown_by or not on_shown):
            continue
        rules[rule_id] = {
            "id": rule_id, "name": (listing.hit.rule_name or rule_id)[:200], "severity": listing.hit.severity,
            "terms": _terms(listing.hit.terms, len(summary) if on_shown else 10**9),
        }
        if len(listing.hit.terms) > len(rules[rule_id]["terms"]):
            rules[rule_id]["terms_total"] = len(listing.hit.terms)
        if on_shown:
            shown_by.add(rule_id)
    data: HitData = {
        "id": alert.delivery.idempotency_key,
        "rule": {"id": hit.rule_id, "name": hit.rule_name or hit.rule_id, "severity": hit.severity},
        "rules": list(rules.values()),
        "article": {
            "url": article.url,
            "title": _cut(article.title, JSON_TITLE_LIMIT),
            "feed": article.feed_name,
            "published": iso_utc(article.published_at),
            "summary": summary,
        },
        "terms": _terms(hit.terms, len(summary) if hit.article_id == alert.article.id else 10**9),
        "update": alert.delivery.is_update,
    }
    if len(hit.terms) > len(data["terms"]):
        data["terms_total"] = len(hit.terms)
    if article.outlet:
        data["article"]["outlet"] = article.outlet
    if alert.delivery.is_update and alert.delivery.raised_from:
        data["previous_severity"] = alert.delivery.raised_from
    if alert.also_reported_by:
        story_id = alert.delivery.story_id if alert.delivery.story_id is not None else (
            hit.story_id if hit.story_id is not None else article.story_id)
        others = [
            {
                "url": clean_text(member.url),
                "title": _cut(clean_text(member.title), 500),
                "feed": clean_text(member.feed_name)[:200],
                "published": iso_utc(member.published_at),
            }
            for member in alert.also_reported_by
        ]
        outlets = list(dict.fromkeys([article.source_name] + [member["feed"] for member in others]))
        data["story"] = {"id": story_id, "articles": others[:MAX_STORY_ARTICLES], "outlets": outlets[:MAX_OUTLETS]}
        if len(others) > MAX_STORY_ARTICLES:
            data["story"]["more"] = len(others) - MAX_STORY_ARTICLES
    moment = alert.delivery.created_at or hit.created_at
    return _fit({"type": EVENT_TYPE, "timestamp": iso_utc(moment) or "", "data": data})


def _body_size(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _fit(event: HitCreatedEvent) -> HitCreatedEvent:
    """Within MAX_BODY_BYTES: drop the other outlets' copies from the end (counted in `more`),
    then the summary's tail, then the terms (counted in `terms_total`). Deterministic, so a
    retry sends the same body."""
    data = event["data"]
    story = data.get("story")
    while _body_size(event) > MAX_BODY_BYTES and story and story["articles"]:
        story["articles"].pop()
        story["more"] = story.get("more", 0) + 1
    if _body_size(event) > MAX_BODY_BYTES:
        data["article"]["summary"] = _cut(data["article"]["summary"], 500)
        data["terms"] = [t for t in data["terms"] if t["field"] != "summary" or t["end"] <= len(data["article"]["summary"])]
    for rule in data.get("rules", []):
        if _body_size(event) <= MAX_BODY_BYTES:
            break
        rule.setdefault("terms_total", len(rule["terms"]))
        rule["terms"] = rule["terms"][:3]
    return event


# --- escaping and fitting chat text ---------------------------------------------


def render_within(
    segments: Sequence[Segment],
    limit: int,
    *,
    escape: Callable[[str], str],
    mark: Callable[[str], str],
) -> str:
    """Segments as markup, marked runs wrapped by `mark`, at most `limit` characters.

    Cuts only between escaped characters or whole marked runs, so the result
    never ends inside an entity (`&amp;`), an escape or a bold run; an ellipsis
    shows where it was cut.
    """

    def piece(segment: Segment) -> str:
        core = segment.text.strip()
        if not segment.marked or not core:
            return escape(segment.text)
        # Bold markers must touch the word, so surrounding spaces stay outside them.
        left = segment.text[: len(segment.text) - len(segment.text.lstrip())]
        right = segment.text[len(segment.text.rstrip()) :]
        return escape(left) + mark(escape(core)) + escape(right)

    full = "".join(piece(segment) for segment in segments)
    if len(full) <= limit:
        return full
    budget = limit - len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for segment in segments:
        if segment.marked:
            text = piece(segment)
            if used + len(text) > budget:
                break
            out.append(text)
            used += len(text)
            continue
        for char in segment.text:
            text = escape(char)
            if used + len(text) > budget:
                break
            out.append(text)
            used += len(text)
        else:
            continue
        break
    return "".join(out).rstrip() + ELLIPSIS


def escape_within(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """`escape(text)` cut to `limit` characters without splitting an escape."""
    return render_within((Segment(text),), limit, escape=escape, mark=lambda s: s)


def _link_url(url: str, unsafe: str) -> str:
    """`url` with characters that would end a chat link percent-encoded."""
    return "".join(f"%{ord(ch):02X}" if ch in unsafe else ch for ch in url)


def _lines_within(lines: Sequence[str], limit: int, more: Callable[[int], str], max_lines: int | None = None) -> str:
    """Whole lines joined by newlines within `limit` characters (and `max_lines` lines).

    `more(n)` is the note that says n lines were left out; room for it is kept.
    """
    kept: list[str] = []
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        reserve = len(more(rest)) + 1 if rest else 0
        fits = len("\n".join([*kept, line])) + reserve <= limit
        if not fits or (max_lines is not None and index >= max_lines):
            # Whole lines only: a cut line could end inside a link and leave raw markup.
            return "\n".join([*kept, more(len(lines) - index)])[:limit]
        kept.append(line)
    return "\n".join(kept)


def _rules_lines(rules: Sequence[RuleView], escape: Callable[[str], str], mark: Callable[[str], str]) -> list[str]:
    """One line per rule: `• *USSM* (HIGH): USSM, United States Strategic Metals`."""
    lines = []
    for rule in rules:
        terms = ", ".join(dict.fromkeys(reason.term for reason in rule.reasons))
        head = f"• {mark(escape_within(rule.rule_name, 200, escape))} ({rule.severity_label})"
        lines.append(head + (f": {escape_within(terms, 300, escape)}" if terms else ""))
    return lines


def _reasons_lines(view: AlertView, escape: Callable[[str], str], mark: Callable[[str], str], width: int) -> list[str]:
    lines = []
    for reason in view.reasons:
        fields = ", ".join(reason.fields) + (f", {reason.count}×" if reason.count > 1 else "")
        head = f"• {mark(escape(reason.term))} ({fields}): "
        lines.append(head + render_within(reason.snippet, max(20, width - len(head)), escape=escape, mark=mark))
    return lines


# --- Slack ------------------------------------------------------------------------

SLACK_SECTION_LIMIT = 3000
SLACK_FALLBACK_LIMIT = 500
SLACK_LINKS = 10


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as markup (`&`, `<`, `>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_mark(text: str) -> str:
    return "*" + text.replace("*", "") + "*"


def _slack_link(url: str | None, label: str) -> str:
    link = url_for_link(url, "|<> ")
    return f"<{slack_escape(link)}|{label}>" if link else label


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_message(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook message for Slack: fallback `text` plus Block Kit `blocks`."""
    view = alert_view(alert)
    title = escape_within(view.title, 500, slack_escape)
    heading = f"*{escape_within(view_heading(view), 300, slack_escape)}*"
    blocks: list[dict[str, Any]] = [_section(f"{heading}\n*{_slack_link(view.url, title)}*")]
    if view.summary_segments:
        blocks.append(
            _section(render_within(view.summary_segments, SLACK_SECTION_LIMIT, escape=slack_escape, mark=_slack_mark))
        )
    if view.more_rules:
        lines = _rules_lines(view.rules, slack_escape, _slack_mark)
        body = _lines_within(lines, SLACK_SECTION_LIMIT - 30, lambda n: f"_and {n} more rules_")
        blocks.append(_section(f"*{len(view.rules)} rules matched*\n" + body))
    elif view.reasons:
        lines = _reasons_lines(view, slack_escape, _slack_mark, 600)
        body = _lines_within(lines, SLACK_SECTION_LIMIT - 20, lambda n: f"_and {n} more_")
        blocks.append(_section("*Why it matched*\n" + body))
    meta = " · ".join(part for part in (escape_within(view.feed, 300, slack_escape), view.published) if part)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": meta}]})
    if view.also_reported_by:
        lines = [_slack_story_line(link) for link in view.also_reported_by]
        body = _lines_within(lines, SLACK_SECTION_LIMIT - 20, lambda n: f"_and {n} more_", SLACK_LINKS)
        blocks.append(_section("*Also reported by*\n" + body))
    fallback = escape_within(f"{view_heading(view)}: {view.title}", SLACK_FALLBACK_LIMIT, slack_escape)
    return {"text": fallback, "blocks": blocks}


def _slack_story_line(link: StoryLink) -> str:
    label = escape_within(link.title, 200, slack_escape)
    feed = f" — {escape_within(link.feed, 100, slack_escape)}" if link.feed else ""
    return f"• {_slack_link(link.url, label)}{feed}"


# --- Discord ----------------------------------------------------------------------

DISCORD_CONTENT_LIMIT = 2000
DISCORD_TITLE_LIMIT = 256
DISCORD_DESCRIPTION_LIMIT = 4096
DISCORD_FIELD_NAME_LIMIT = 256
DISCORD_FIELD_VALUE_LIMIT = 1024
DISCORD_FOOTER_LIMIT = 2048
DISCORD_EMBED_TOTAL_LIMIT = 6000
DISCORD_LINKS = 10
DISCORD_URL_LIMIT = 2048  # embed.url
DISCORD_LINK_LIMIT = 700  # a markdown link inside a 1,024-character field value

SEVERITY_COLOURS = {"critical": 0xA50E0E, "high": 0xD93025, "medium": 0xE37400, "low": 0x1A73E8, "info": 0x5F6368}

# Bold/italic/strike/code/spoiler/quote/heading markers and link brackets (a
# link needs "[text]", so escaping the brackets makes "(url)" harmless).
_DISCORD_MARKDOWN = set("\\*_~`|>[]#")


def discord_escape(text: str) -> str:
    """Backslash-escape Discord markdown so article text shows as written."""
    return "".join("\\" + ch if ch in _DISCORD_MARKDOWN else ch for ch in text)


def _discord_mark(text: str) -> str:
    return f"**{text}**"


def _discord_link(url: str | None, label: str) -> str:
    link = url_for_link(url, "() <>", DISCORD_LINK_LIMIT)
    return f"[{label}]({link})" if link else label


def discord_message(alert: Alert) -> dict[str, Any]:
    """An execute-webhook body for Discord: short `content` and one rich embed."""
    view = alert_view(alert)
    fields: list[dict[str, Any]] = [
        {"name": "Rule", "value": escape_within(view.rule_name + (f" +{view.more_rules}" if view.more_rules else ""),
                                                 256, discord_escape), "inline": True},
        {"name": "Severity", "value": view.severity_label, "inline": True},
        {"name": "Source", "value": escape_within(view.feed or "unknown", 256, discord_escape), "inline": True},
    ]
    if view.reasons:
        lines = _reasons_lines(view, discord_escape, _discord_mark, 400)
        value = _lines_within(lines, DISCORD_FIELD_VALUE_LIMIT, lambda n: f"*and {n} more*")
        fields.append({"name": "Why it matched", "value": value, "inline": False})
    if view.more_rules:
        lines = _rules_lines(view.rules, discord_escape, _discord_mark)
        value = _lines_within(lines, DISCORD_FIELD_VALUE_LIMIT, lambda n: f"*and {n} more rules*")
        fields.append({"name": f"{len(view.rules)} rules matched", "value": value, "inline": False})
    if view.also_reported_by:
        lines = [
            f"• {_discord_link(link.url, escape_within(link.title, 150, discord_escape))}"
            + (f" — {escape_within(link.feed, 80, discord_escape)}" if link.feed else "")
            for link in view.also_reported_by
        ]
        value = _lines_within(lines, DISCORD_FIELD_VALUE_LIMIT, lambda n: f"*and {n} more*", DISCORD_LINKS)
        fields.append({"name": "Also reported by", "value": value, "inline": False})

    embed: dict[str, Any] = {
        "title": escape_within(view.title, DISCORD_TITLE_LIMIT, discord_escape),
        "color": SEVERITY_COLOURS.get(view.severity, SEVERITY_COLOURS["info"]),
        "fields": fields,
        "footer": {"text": truncate(f"Minerals Monitor · rule {view.rule_id}", DISCORD_FOOTER_LIMIT)},
    }
    if view.url:
        if len(view.url) <= DISCORD_URL_LIMIT:  # a longer embed url is refused (400)
            embed["url"] = view.url
    if view.published_at:
        embed["timestamp"] = iso_utc(view.published_at)
    used = len(embed["title"]) + len(embed["footer"]["text"]) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    room = min(DISCORD_DESCRIPTION_LIMIT, DISCORD_EMBED_TOTAL_LIMIT - used)
    if view.summary_segments and room > 0:
        embed["description"] = render_within(
            view.summary_segments, room, escape=discord_escape, mark=_discord_mark
        )
    content = escape_within(f"{view_heading(view)}: {view.title}", DISCORD_CONTENT_LIMIT, discord_escape)
    return {"content": content, "embeds": [embed], "allowed_mentions": {"parse": []}}


# --- Microsoft Teams ------------------------------------------------------------

TEAMS_SUMMARY_LIMIT = 2000
TEAMS_LINKS = 10
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_TEAMS_COLOURS = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Accent", "info": "Default"}
# Adaptive Card TextBlocks understand only bold, italic, lists and links.
_TEAMS_MARKDOWN = set("\\*_[]")


def teams_escape(text: str) -> str:
    """Backslash-escape the markdown Adaptive Card TextBlocks interpret."""
    return "".join("\\" + ch if ch in _TEAMS_MARKDOWN else ch for ch in text)


def _teams_mark(text: str) -> str:
    return f"**{text}**"


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def teams_message(alert: Alert) -> dict[str, Any]:
    """A Teams incoming-webhook message carrying one Adaptive Card (version 1.4)."""
    view = alert_view(alert)
    body: list[dict[str, Any]] = [
        _text_block(
            escape_within(f"{view.severity_label} · {view_heading(view, label=False)}", 500, teams_escape),
            weight="Bolder",
            size="Small",
            color=_TEAMS_COLOURS.get(view.severity, "Default"),
        ),
        _text_block(escape_within(view.title, 500, teams_escape), weight="Bolder", size="Medium"),
    ]
    if view.summary_segments:
        body.append(
            _text_block(
                render_within(view.summary_segments, TEAMS_SUMMARY_LIMIT, escape=teams_escape, mark=_teams_mark),
                id="summary",
            )
        )
    facts = [
        {"title": "Rule", "value": escape_within(view.rule_name, 200, teams_escape)},
        {"title": "Severity", "value": view.severity_label},
        {"title": "Source", "value": escape_within(view.feed or "unknown", 200, teams_escape)},
        {"title": "Published", "value": view.published},
    ]
    if view.more_rules:
        names = ", ".join(f"{rule.rule_name} ({rule.severity_label})" for rule in view.rules)
        facts.append({"title": "Rules", "value": escape_within(names, 1000, teams_escape)})
    if view.reasons:
        terms = ", ".join(reason.term for reason in view.reasons)
        facts.append({"title": "Matched", "value": escape_within(terms, 500, teams_escape)})
    body.append({"type": "FactSet", "facts": facts})
    if view.also_reported_by:
        lines = [
            "- "
            + (
                f"[{escape_within(link.title, 150, teams_escape)}]({url_for_link(link.url, '() <>')})"
                if url_for_link(link.url, "() <>")
                else escape_within(link.title, 150, teams_escape)
            )
            + (f" — {escape_within(link.feed, 80, teams_escape)}" if link.feed else "")
            for link in view.also_reported_by
        ]
        body.append(_text_block("**Also reported by**", spacing="Medium", id="outlets-heading"))
        listing = _lines_within(lines, 4000, lambda n: f"- and {n} more", TEAMS_LINKS)
        # Adaptive Card markdown separates list items with "\r" (as in its own examples).
        body.append(_text_block(listing.replace("\n", "\r"), spacing="Small", id="outlets"))
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if view.url and len(view.url) <= LINK_URL_LIMIT:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open article", "url": view.url}]
    message = {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }
    # Within Teams' message size: the other outlets' list goes first, then the summary.
    for droppable in ("outlets", "summary"):
        if _body_size(message) <= TEAMS_CARD_BYTES:
            break
        body[:] = [block for block in body if not block.get("id", "").startswith(droppable)]
    return message


# --- choosing a format ------------------------------------------------------------

BUILDERS: dict[str, Callable[[Alert], Any]] = {
    "json": hit_created,
    "slack": slack_message,
    "discord": discord_message,
    "teams": teams_message,
}


def build_payload(alert: Alert, format: str) -> dict[str, Any]:
    """The webhook body for `alert` in `format` (one of FORMATS), as JSON-ready data."""
    return dict(BUILDERS[format](alert))

