"""`feeds list|add|remove`: the feeds list and each feed's health."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli.context import EXIT_PROBLEMS, ago, print_json, state, stderr, stdout
from monitor.jsonshapes import feed_json  # shared with the web API
from storage import feeds, transaction
from storage.types import FeedSpec

app = typer.Typer(help="List, add and remove feeds; see which are failing.", no_args_is_help=True)


@app.command("list")
def list_feeds(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    failing: Annotated[bool, typer.Option("--failing", help="Only feeds whose last polls failed.")] = False,
) -> None:
    """Every feed with its health: last poll, HTTP status, error, failures, next poll, articles."""
    db = state(ctx).database()
    now = datetime.now(UTC)
    rows = feeds.feeds_with_health(db, now)
    if not rows:
        # Not yet polled: show the configured list so a new user sees what will be polled.
        with transaction(db):
            for spec in state(ctx).config().feeds:
                feeds.upsert_feed(db, spec, now)
        rows = feeds.feeds_with_health(db, now)
    if failing:
        rows = [f for f in rows if f.failing]
    if as_json:
        print_json([feed_json(f) for f in rows])
        return
    table = Table(title=f"{len(rows)} feeds", title_justify="left")
    for column in ("id", "name", "last poll", "status", "fails", "next poll", "articles", "new/day", "error / url"):
        table.add_column(column, overflow="fold", justify="right" if column in ("id", "fails", "articles", "new/day") else "left")
    for feed in rows:
        problem = feed.disabled_reason or feed.error or feed.warning
        style = "red" if feed.failing else ("yellow" if feed.warning else None)
        table.add_row(
            str(feed.id), feed.name[:40], ago(feed.last_polled_at, now), str(feed.http_status or "-"),
            str(feed.consecutive_failures), ago(feed.next_poll_at, now) if feed.next_poll_at else "-",
            str(feed.articles_stored), f"{feed.new_per_day:g}", f"{problem}\n{feed.url}" if problem else feed.url,
            style=style,
        )
    stdout.print(table)
    failing_count = sum(1 for f in rows if f.failing)
    if failing_count:
        stdout.print(f"[red]{failing_count} failing[/red] (red rows); `feeds list --failing` shows only those")


@app.command("add")
def add_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Feed URL, or a site's page that advertises its feed.")],
    name: Annotated[str, typer.Option("--name", help="Display name (default: the feed's title).")] = "",
    interval: Annotated[str | None, typer.Option("--interval", help='Poll interval, e.g. "15m".')] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Store the URL as given, without fetching it.")] = False,
) -> None:
    """Add a feed (polled by the next `run`); a web page's URL is resolved to the feed it advertises."""
    from monitor.durations import parse_duration
    from monitor.fetch.check import resolve_feed_url

    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter("expected an http(s) URL", param_hint="URL")
    if not no_check:
        resolution = resolve_feed_url(url, state(ctx).config().polling)
        if resolution.note:
            stderr.print(resolution.note, markup=False)
        url, name = resolution.url, name or resolution.name
    seconds = None
    if interval:
        try:
            seconds = int(parse_duration(interval))
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--interval") from error
    db = state(ctx).database()
    with transaction(db):
        feed, created = feeds.upsert_feed(db, FeedSpec(url=url, name=name, interval_seconds=seconds), datetime.now(UTC))
    stdout.print(f"{'added' if created else 'already present, updated'}: feed {feed.id} {feed.name} <{feed.url}>")


@app.command("remove")
def remove_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="URL of the feed to stop polling.")],
) -> None:
    """Stop polling a feed; its articles and hits are kept."""
    cli = state(ctx)
    db = cli.database()
    with transaction(db):
        removed = feeds.deactivate_feed(db, url)
    if not removed:
        stderr.print(f"no active feed with URL {url}", markup=False)
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"removed {url}")
    if any(spec.url == url for spec in cli.config().feeds):
        source = cli.config().source or "the bundled feeds list"
        stderr.print(f"note: {url} is also in {source}; remove it there or it comes back on the next run", markup=False)


@app.command("check")
def check_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Feed URL to try.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Dry fetch + parse of URL: status, redirects, caching headers, entries, parser warnings, time."""
    from monitor.fetch.check import check_feed as run_check

    report = run_check(url, state(ctx).config().polling)
    if as_json:
        print_json(report.as_json())
    else:
        colour = "green" if report.ok else "red"
        stdout.print(f"[{colour}]{'OK' if report.ok else 'PROBLEM'}[/{colour}] {url}", highlight=False)
        stdout.print(f"  HTTP status: {report.status or '-'} in {report.seconds:.2f}s, {report.body_bytes} bytes, "
                     f"{report.content_type or 'no content type'}", markup=False)
        for status, location in report.redirects:
            kind = "permanent: would update the stored URL" if status in (301, 308) else "temporary"
            stdout.print(f"  redirect {status} ({kind}) -> {location}", markup=False)
        for header, value in report.caching.items():
            stdout.print(f"  {header}: {value}", markup=False)
        if not report.caching:
            stdout.print("  no ETag or Last-Modified: every poll downloads the whole feed", markup=False)
        if report.entries:
            stdout.print(f"  {report.feed_version or 'feed'} \"{report.feed_title}\": {report.entries} entries", markup=False)
            for title in report.sample_titles:
                stdout.print(f"    - {title}", markup=False)
        for warning in report.warnings:
            stdout.print(f"  warning: {warning}", markup=False)
        if report.error:
            stdout.print(f"  error: {report.error}", markup=False)
        for feed_url, title in report.discovered:
            stdout.print(f"  advertised feed: {feed_url} {title}", markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


@app.command("import")
def import_opml(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="OPML file.", exists=True, dir_okay=False)],
) -> None:
    """Add every feed of an OPML file (existing ones are updated, not doubled)."""
    from monitor.parse.opml import read_opml

    specs = read_opml(file.read_bytes(), str(file))
    db = state(ctx).database()
    created = 0
    with transaction(db):
        for spec in specs:
            created += feeds.upsert_feed(db, spec, datetime.now(UTC))[1]
    stdout.print(f"imported {len(specs)} feeds from {file}: {created} new, {len(specs) - created} already present")


@app.command("export")
def export_opml(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Write the feeds list as OPML 2.0."""
    from monitor.parse.opml import write_opml

    db = state(ctx).database()
    text = write_opml(feeds.active_feeds(db))
    if output:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {output}")
    else:
        print(text, end="")
