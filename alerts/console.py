"""The console channel: one line per alert on standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from storage.types import Alert


def format_alert_line(alert: Alert) -> str:
    """`[HIGH] ussm: <title> <link> (matched: USSM, antimony)`."""
    hit, article = alert.hit, alert.article
    terms = ", ".join(dict.fromkeys(term.text for term in hit.terms))
    matched = f" (matched: {terms})" if terms else ""
    outlets = len(alert.also_reported_by)
    others = f" +{outlets} more {'outlet' if outlets == 1 else 'outlets'}" if outlets else ""
    link = article.url or article.link  # canonical: tracking parameters dropped
    return f"[{hit.severity.upper()}] {hit.rule_id}: {article.title} <{link}>{matched}{others}"


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
        stream = self.stream or sys.stdout
        stream.write(f"== {title}: {len(alerts)} alerts ==\n")
        for alert in alerts:
            stream.write("  " + format_alert_line(alert) + "\n")
        stream.flush()

    async def notify_operator(self, subject: str, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"[OPERATOR] {subject}: {text}\n")
        stream.flush()

    async def aclose(self) -> None:
        return None
