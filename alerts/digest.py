"""Webhook digests: one message per channel, in a few parts when the service's limits require.

`digest_parts(format, title, alerts)` groups a digest's alerts by story (alerts/render.py
`group_by_story`) and cuts the list of stories into parts that each fit one message of the
format: our JSON event within MAX_BODY_BYTES; Slack within 50 blocks; Discord one embed
within 4,096 characters of description and 6,000 in all; Teams within TEAMS_CARD_BYTES.
Each part is a `DigestPart`: its body, its deliveries, and an idempotency key made from
those deliveries' keys, so a part sent again (after a failure, a crash) carries the same
webhook-id and a receiver can drop the repeat. The dispatcher sends the parts one by one
and records each on its own: a failed part keeps only its deliveries waiting for the next
digest. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from alerts.payload import (
    DISCORD_DESCRIPTION_LIMIT,
    DISCORD_EMBED_TOTAL_LIMIT,
    MAX_BODY_BYTES,
    SEVERITY_COLOURS,
    TEAMS_CARD_BYTES,
    discord_escape,
    escape_within,
    slack_escape,
    teams_escape,
    url_for_link,
)
from alerts.render import StoryGroup, group_by_story, iso_utc, one_line
from storage.types import Alert

DIGEST_EVENT = "digest.created"
SLACK_MAX_BLOCKS = 50
RULES_SHOWN = 8  # per story; the rest are counted
TERMS_SHOWN = 6  # per rule


@dataclass(frozen=True)
class DigestPart:
    key: str  # the webhook-id: a function of the deliveries it carries
    body: dict[str, Any]
    delivery_ids: tuple[int, ...]
    stories: int


def digest_parts(format: str, title: str, alerts: Sequence[Alert]) -> list[DigestPart]:
    """The digest of `alerts` as one or more messages in `format` (json, slack, discord, teams)."""
    stories = list(group_by_story(alerts))
    if not stories:
        return []
    title = one_line(title) or "Minerals Monitor digest"
    build, cost, budget = _FORMATS[format]
    groups: list[list[StoryGroup]] = []
    used = 0
    for story in stories:  # greedy, by each story's own size: no full render per story
        size = cost(story)
        if groups and used + size <= budget:
            groups[-1].append(story)
            used += size
        else:
            groups.append([story])
            used = size
    parts = []
    total = sum(len(story.delivery_ids) for story in stories)
    for number, group in enumerate(groups, start=1):
        keys = sorted(key for story in group for key in story.keys)
        key = "msg_digest_" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        body = build(title, group, number, len(groups), total)
        if format == "json":
            body["data"]["id"] = key
        parts.append(DigestPart(key=key, body=body, delivery_ids=tuple(i for s in group for i in s.delivery_ids),
                                stories=len(group)))
    return parts


def _size(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _rules_text(story: StoryGroup, escape: Callable[[str], str], mark: Callable[[str], str]) -> str:
    shown = []
    for rule in story.rules[:RULES_SHOWN]:
        terms = ", ".join(dict.fromkeys(reason.term for reason in rule.reasons[:TERMS_SHOWN]))
        shown.append(f"{mark(escape_within(rule.rule_name, 100, escape))} ({rule.severity_label})"
                     + (f": {escape_within(terms, 200, escape)}" if terms else ""))
    more = len(story.rules) - RULES_SHOWN
    return "; ".join(shown) + (f"; +{more} more rules" if more > 0 else "")


# --- our JSON event ------------------------------------------------------------------


def _json_story(story: StoryGroup) -> dict[str, Any]:
    return {
        "story_id": story.story_id,
        "title": escape_within(story.title, 500, lambda text: text),
        "url": story.url,
        "severity": story.severity,
        "outlets": story.outlets,
        "rules": [{"id": rule.rule_id, "name": rule.rule_name, "severity": rule.severity,
                   "terms": list(dict.fromkeys(reason.term for reason in rule.reasons))[:30]}
                  for rule in story.rules],
        "hits": len(story.delivery_ids),
    }


def _json_digest(title: str, stories: list[StoryGroup], part: int, parts: int, total: int) -> dict[str, Any]:
    newest = max((story.newest for story in stories if story.newest), default=None)
    return {
        "type": DIGEST_EVENT,
        "timestamp": iso_utc(newest) or "",
        "data": {"id": "", "title": title, "part": part, "parts": parts, "hits": total,
                 "stories": [_json_story(story) for story in stories]},
    }


# --- Slack: a header, then one section per story ---------------------------------------


def _slack_story(story: StoryGroup) -> dict[str, Any]:
    label = escape_within(story.title, 500, slack_escape)
    url = url_for_link(story.url, "|<> ", 2000)
    link = f"<{slack_escape(url)}|{label}>" if url else label
    rules = escape_within(_rules_text(story, slack_escape, lambda text: f"*{text}*"), 2000, lambda t: t)
    outlets = f" · {story.outlets} other outlets" if story.outlets else ""
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"[{story.severity_label}] *{link}*{outlets}\n{rules}"}}


def _slack_digest(title: str, stories: list[StoryGroup], part: int, parts: int, total: int) -> dict[str, Any]:
    of = f" (part {part} of {parts})" if parts > 1 else ""
    head = f"*{escape_within(title, 200, slack_escape)}{of}*: {total} hits"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    blocks += [_slack_story(story) for story in stories]
    return {"text": escape_within(f"{title}{of}: {total} hits", 500, slack_escape), "blocks": blocks}


def _slack_cost(story: StoryGroup) -> int:
    # A block's bytes, and 1/49 of the block budget: whichever runs out first ends the part.
    return max(_size(_slack_story(story)) + 1, (MAX_BODY_BYTES - _OVERHEAD) // (SLACK_MAX_BLOCKS - 1) + 1)


# --- Discord: one embed, one line group per story ---------------------------------------


def _discord_story(story: StoryGroup) -> str:
    label = escape_within(story.title, 200, discord_escape)
    url = url_for_link(story.url, "() <>", 1000)
    link = f"[{label}]({url})" if url else label
    rules = escape_within(_rules_text(story, discord_escape, lambda t: f"**{t}**"), 1500, lambda t: t)
    return f"**[{story.severity_label}]** {link}\n{rules}"


def _discord_digest(title: str, stories: list[StoryGroup], part: int, parts: int, total: int) -> dict[str, Any]:
    of = f" (part {part} of {parts})" if parts > 1 else ""
    lines = [_discord_story(story) for story in stories]
    severity = stories[0].severity if stories else "info"
    embed = {"title": escape_within(f"{title}{of}", 256, discord_escape), "description": "\n\n".join(lines),
             "color": SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"]),
             "footer": {"text": f"{total} hits · Minerals Monitor"}}
    return {"content": escape_within(f"{title}{of}: {total} hits", 2000, discord_escape), "embeds": [embed],
            "allowed_mentions": {"parse": []}}


# The description holds the stories; the title and footer take at most ~350 of the 6,000.
_DISCORD_BUDGET = min(DISCORD_DESCRIPTION_LIMIT, DISCORD_EMBED_TOTAL_LIMIT - 400)


# --- Teams: an Adaptive Card with a block per story ---------------------------------------


def _teams_story(story: StoryGroup) -> list[dict[str, Any]]:
    label = escape_within(story.title, 300, teams_escape)
    url = url_for_link(story.url, "() <>", 2000)
    heading = f"[{label}]({url})" if url else label
    rules = escape_within(_rules_text(story, teams_escape, lambda t: f"**{t}**"), 2000, lambda t: t)
    return [{"type": "TextBlock", "text": f"**{story.severity_label}** · {heading}", "wrap": True, "spacing": "Medium"},
            {"type": "TextBlock", "text": rules, "wrap": True, "spacing": "None", "isSubtle": True}]


def _teams_digest(title: str, stories: list[StoryGroup], part: int, parts: int, total: int) -> dict[str, Any]:
    of = f" (part {part} of {parts})" if parts > 1 else ""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": escape_within(f"{title}{of}: {total} hits", 500, teams_escape),
                                   "weight": "Bolder", "size": "Medium", "wrap": True}]
    for story in stories:
        body += _teams_story(story)
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body, "msteams": {"width": "Full"}}
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


_OVERHEAD = 2_000  # the envelope, header block and title, generously


_FORMATS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[StoryGroup], int], int]] = {
    # (build a part, one story's size, the budget of a part for the stories)
    "json": (_json_digest, lambda story: _size(_json_story(story)) + 1, MAX_BODY_BYTES - _OVERHEAD),
    "slack": (_slack_digest, _slack_cost, MAX_BODY_BYTES - _OVERHEAD),
    "discord": (_discord_digest, lambda story: len(_discord_story(story)) + 2, _DISCORD_BUDGET),
    "teams": (_teams_digest, lambda story: sum(_size(b) + 1 for b in _teams_story(story)), TEAMS_CARD_BYTES - _OVERHEAD),
}
