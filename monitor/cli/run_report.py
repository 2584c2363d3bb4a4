"""What `run --once` and `demo` print after a cycle."""

from __future__ import annotations

from rich.table import Table

from monitor.cli.context import stdout
from monitor.pipeline import PollSummary


def print_once_report(summaries: list[PollSummary], monitor) -> None:
    table = Table(title="Poll results", title_justify="left")
    table.add_column("feed")
    table.add_column("status", justify="right")
    table.add_column("new", justify="right")
    table.add_column("hits", justify="right")
    table.add_column("problem", overflow="fold")
    for summary in sorted(summaries, key=lambda s: (s.success, s.feed_name)):
        status = str(summary.http_status or "-")
        problem = summary.error or summary.warning or ""
        style = None if summary.success else "red"
        table.add_row(summary.feed_name, status, str(summary.new_articles), str(summary.hits), problem[:120], style=style)
    stdout.print(table)
    ok = sum(1 for s in summaries if s.success)
    counts = monitor.dispatcher.counts
    stdout.print(
        f"{ok}/{len(summaries)} feeds polled successfully; "
        f"{sum(s.new_articles for s in summaries)} new articles, {sum(s.hits for s in summaries)} hits; "
        f"alerts sent {counts.sent}, waiting for retry {counts.failed}, dead {counts.dead}"
    )
