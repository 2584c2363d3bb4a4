"""The console channel: one line per alert on standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from dataclasses import replace

from alerts.render import clean_text
from storage.types import SEVERITY_RANK, Alert


def stories_of(alerts: list[Alert]) -> list[Alert]:
    """Alerts merged per story (a digest's one-hit rows): the first one's article, every hit."""
    merged: dict[int, list[Alert]] = {}
    for alert in alerts:
        merged.setdefault(alert.delivery.story_id or alert.article.story_id or alert.article.id or 0, []).append(alert)
    stories = []
    for members in merged.values():
        carried = sorted((listing for member in members for listing in member.rule_hits),
                         key=lambda m: -SEVERITY_RANK.get(m.hit.severity, -1))
        also = {m.article_id: m for member in members for m in member.also_reported_by}
        stories.append(replace(members[0], hit=carried[0].hit, matched=tuple(carried),
                               also_reported_by=tuple(also.values())))
    return stories


TERMS_SHOWN = 8


def format_alert_line(alert: Alert) -> str:
    """One line per notification: `[HIGH] ussm: <title> <link> (matched: USSM, antimony)`, and with
    several rules `[CRITICAL] us_pakistan_minerals +9 rules: <title> <link> (rules: ...; matched: ...)`."""
    hit, article = alert.hit, alert.article
    rules = alert.rule_ids
    terms = list(dict.fromkeys(clean_text(term.text) for listing in alert.rule_hits for term in listing.hit.terms))
    shown = ", ".join(terms[:TERMS_SHOWN]) + (f" +{len(terms) - TERMS_SHOWN} more" if len(terms) > TERMS_SHOWN else "")
    extra = len(rules) - 1
    head = f"{hit.rule_id} +{extra} rule{'s' if extra > 1 else ''}" if extra else hit.rule_id
    if alert.delivery.is_update:
        head += f" (update: raised from {(alert.delivery.raised_from or 'info').upper()})"
    details = [f"rules: {', '.join(rules)}"] if extra else []
    if shown:
        details.append(f"matched: {shown}")
    matched = f" ({'; '.join(details)})" if details else ""
    outlets = len(alert.also_reported_by)
    others = f" +{outlets} more {'outlet' if outlets == 1 else 'outlets'}" if outlets else ""
    link = clean_text(article.url or article.link)  # canonical: tracking parameters dropped
    return f"[{hit.severity.upper()}] {head}: {clean_text(article.title)} <{link}>{matched}{others}"


class ConsoleChannel:
    """Writes alerts to a stream (stdout by default). Never fails."""

    def __init__(self, name: str = "console", stream: TextIO | None = None):
        self.name = name
        self.stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self.stream or sys.stdout
        stream.write(format_alert_line(alert) + "\n")
        stream.flush()

    async def send_digest(self, title: str, alerts: list[Alert]) -> None:
        """One line per story, with every rule that fired on it."""
        stream = self.stream or sys.stdout
        stream.write(f"== {clean_text(title)}: {len(alerts)} alerts ==\n")
        for story in stories_of(alerts):
            stream.write("  " + format_alert_line(story) + "\n")
        stream.flush()

    async def notify_operator(self, subject: str, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"[OPERATOR] {subject}: {text}\n")
        stream.flush()

    async def aclose(self) -> None:
        return None
