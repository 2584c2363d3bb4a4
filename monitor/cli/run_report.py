"""What `run --once` and `demo` print after a cycle.

By default a summary line and a table of only the feeds worth reading about (failed, or
found hits), capped: at 1,000 feeds a full table took Rich ~2 s to render and nobody read
it. `--verbose` prints every feed; `--json` every feed's outcome for scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.cli.context import plural, stdout
from monitor.cli.safe_text import literal

if TYPE_CHECKING:
    from monitor.pipeline import PollSummary

# Rows of the default table; the rest are counted ("N more") with a hint.
NOTABLE_ROWS = 20
PROBLEM_WIDTH = 120


@dataclass(frozen=True)
class AlertCounts:
    """The dispatcher's outcome of a cycle (alerts/dispatch.py counts)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class OnceTotals:
    feeds: int
    succeeded: int
    new_articles: int
    updated_articles: int
    hits: int
    alerts: AlertCounts

    @property
    def failed(self) -> int:
        return self.feeds - self.succeeded


def once_totals(summaries: list[PollSummary], alerts: AlertCounts) -> OnceTotals:
    return OnceTotals(
        feeds=len(summaries),
        succeeded=sum(1 for s in summaries if s.success),
        new_articles=sum(s.new_articles for s in summaries),
        updated_articles=sum(s.updated_articles for s in summaries),
        hits=sum(s.hits for s in summaries),
        alerts=alerts,
    )


def alert_counts(dispatcher) -> AlertCounts:
    counts = dispatcher.counts
    return AlertCounts(sent=counts.sent, failed=counts.failed, dead=counts.dead)


def summary_line(totals: OnceTotals) -> str:
    alerts = totals.alerts
    return (
        f"{totals.succeeded:,}/{totals.feeds:,} feeds polled successfully; "
        f"{plural(totals.new_articles, 'new article')}, {plural(totals.hits, 'hit')}; "
        f"alerts sent {alerts.sent:,}, waiting for retry {alerts.failed:,}, dead {alerts.dead:,}"
    )


def notable(summaries: list[PollSummary]) -> list[PollSummary]:
    """Failed feeds first (by name), then feeds with hits (most first)."""
    failed = sorted((s for s in summaries if not s.success), key=lambda s: s.feed_name)
    with_hits = sorted((s for s in summaries if s.success and s.hits), key=lambda s: (-s.hits, s.feed_name))
    return failed + with_hits


def summary_json(summary: PollSummary) -> dict:
    return {
        "feed_id": summary.feed_id,
        "feed": summary.feed_name,
        "url": summary.url,
        "success": summary.success,
        "http_status": summary.http_status,
        "new_articles": summary.new_articles,
        "updated_articles": summary.updated_articles,
        "hits": summary.hits,
        "error": summary.error,
        "warning": summary.warning,
        "skipped": summary.skipped,
    }


def once_json(summaries: list[PollSummary], totals: OnceTotals, *, interrupted: bool = False, pending: int = 0) -> dict:
    return {
        "feeds_polled": totals.feeds,
        "feeds_succeeded": totals.succeeded,
        "feeds_failed": totals.failed,
        "new_articles": totals.new_articles,
        "updated_articles": totals.updated_articles,
        "hits": totals.hits,
        "alerts": {"sent": totals.alerts.sent, "failed": totals.alerts.failed, "dead": totals.alerts.dead},
        "interrupted": interrupted,
        "feeds_not_polled": pending,
        "feeds": [summary_json(s) for s in sorted(summaries, key=lambda s: s.feed_id)],
    }


def print_once_report(summaries: list[PollSummary], monitor, *, every_feed: bool = False) -> None:
    """The default report: notable feeds (capped) and the summary line; `every_feed`: all rows."""
    from rich.table import Table

    rows = sorted(summaries, key=lambda s: (s.success, s.feed_name)) if every_feed else notable(summaries)
    shown = rows if every_feed else rows[:NOTABLE_ROWS]
    if shown:
        title = "Poll results" if every_feed else "Feeds that failed or found hits"
        table = Table(title=title, title_justify="left")
        table.add_column("feed")
        table.add_column("status", justify="right")
        table.add_column("new", justify="right")
        table.add_column("hits", justify="right")
        table.add_column("problem", overflow="fold")
        for summary in shown:
            problem = (summary.error or summary.warning or "")[:PROBLEM_WIDTH]
            table.add_row(
                literal(summary.feed_name), str(summary.http_status or "-"), str(summary.new_articles),
                str(summary.hits), literal(problem), style=None if summary.success else "red",
            )
        stdout.print(table)
    if len(rows) > len(shown):
        stdout.print(f"… and {len(rows) - len(shown):,} more; `run --once --verbose` lists every feed, "
                     "`feeds list --failing` the failing ones", markup=False, style="dim", soft_wrap=True)
    stdout.print(summary_line(once_totals(summaries, alert_counts(monitor.dispatcher))), markup=False, soft_wrap=True)
