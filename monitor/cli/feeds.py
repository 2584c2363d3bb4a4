"""`feeds list|add|remove|check|import|export`: the feeds list and each feed's health."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.context import EXIT_PROBLEMS, ago, plural, print_json, state, stderr, stdout
from monitor.cli.lazy_commands import LazyGroup
from monitor.cli.safe_text import literal, visible

from monitor.jsonshapes import config_urls_moved_here, feed_json  # shared with the web API

app = typer.Typer(help="List, add and remove feeds; see which are failing.", no_args_is_help=True, cls=LazyGroup)

NAME_WIDTH = 40


def http_url(url: str, param_hint: str = "URL") -> str:
    """Only http(s) feeds are polled: anything else is a usage error (exit 2)."""
    if not url.lower().startswith(("http://", "https://")):
        raise typer.BadParameter(f"expected an http(s) URL, got {visible(url)!r}", param_hint=param_hint)
    return url


@app.command("list")
def list_feeds(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    failing: Annotated[bool, typer.Option("--failing", help="Only feeds whose last polls failed.")] = False,
) -> None:
    """Every feed with its health: last poll, HTTP status, error, failures, next poll, articles."""
    from rich.table import Table

    from storage import feeds

    now = datetime.now(UTC)
    rows = feeds.feeds_with_health(state(ctx).database(), now)
    configured = {spec.url for spec in state(ctx).config().feeds}
    if failing:
        rows = [f for f in rows if f.failing]
    if as_json:
        print_json([feed_json(f, configured) for f in rows])
        return
    table = Table(title=plural(len(rows), "failing feed" if failing else "feed"), title_justify="left")
    for column in ("id", "name", "last poll", "status", "fails", "next poll", "articles", "new/day", "error / url"):
        table.add_column(column, overflow="fold", justify="right" if column in ("id", "fails", "articles", "new/day") else "left")
    for feed in rows:
        problem = feed.disabled_reason or feed.error or feed.warning
        style = "red" if feed.failing else ("yellow" if feed.warning else None)
        detail = literal(problem) if problem else literal(feed.url)
        if problem:
            detail.append("\n")
            detail.append_text(literal(feed.url))
        outdated = config_urls_moved_here(feed, configured)
        if outdated:  # a permanent redirect moved it; the config still names the old URL
            detail.append_text(literal(f"\nmoved here from {', '.join(outdated)}: update the config to this URL"))
            style = style or "yellow"
        table.add_row(
            str(feed.id), literal(feed.name[:NAME_WIDTH]), ago(feed.last_polled_at, now), str(feed.http_status or "-"),
            str(feed.consecutive_failures), ago(feed.next_poll_at, now) if feed.next_poll_at else "-",
            str(feed.articles_stored), "—" if feed.new_per_day is None else f"{feed.new_per_day:g}", detail,
            style=style,
        )
    stdout.print(table)
    failing_count = sum(1 for f in rows if f.failing)
    if failing_count and not failing:
        stdout.print(f"[red]{failing_count} failing[/red] (red rows); `feeds list --failing` shows only those")


def _config_name_note(ctx: typer.Context, url: str, name: str) -> None:
    """Feeds in the config are synced at every run: its name wins over one given here."""
    cli = state(ctx)
    for spec in cli.config().feeds:
        if spec.url == url and spec.name and spec.name != name:
            source = cli.config().source or "the bundled feeds list"
            stderr.print(f"note: {url} is also in {source} as {spec.name!r}; that name is used from the next run",
                         markup=False)


@app.command("add")
def add_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="Feed URL, or a site's page that advertises its feed.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Display name (default: the feed's title).")] = "",
    interval: Annotated[str | None, typer.Option("--interval", metavar="DURATION", help='Poll interval, e.g. "15m".')] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Store the URL as given, without fetching it.")] = False,
) -> None:
    """Add a feed (polled by the next `run`); a web page's URL is resolved to the feed it advertises."""
    from monitor.durations import parse_duration
    from monitor.fetch.check import resolve_feed_url
    from storage import feeds, transaction
    from storage.types import FeedSpec

    http_url(url)
    seconds = None
    if interval:
        try:
            seconds = int(parse_duration(interval))
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--interval") from error
    db = state(ctx).database(create=True)  # before the fetch: an unusable database fails fast
    if not no_check:
        resolution = resolve_feed_url(url, state(ctx).config().polling)
        if resolution.note:
            stderr.print(visible(resolution.note), markup=False)
        url, name = resolution.url, name or resolution.name
    with transaction(db):
        feed, created = feeds.upsert_feed(db, FeedSpec(url=url, name=name, interval_seconds=seconds), datetime.now(UTC))
    stdout.print(literal(f"{'added' if created else 'already present, updated'}: feed {feed.id} {feed.name} <{feed.url}>"))
    _config_name_note(ctx, feed.url, feed.name)


@app.command("remove")
def remove_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="URL of the feed to stop polling.")],
) -> None:
    """Stop polling a feed; its articles and hits are kept."""
    from storage import feeds, transaction

    cli = state(ctx)
    db = cli.database(write=True)
    with transaction(db):
        removed = feeds.deactivate_feed(db, url)
    if not removed:
        stderr.print(f"no active feed with URL {visible(url)} (`feeds list` shows them)", markup=False)
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"removed {url}", markup=False)
    if any(spec.url == url for spec in cli.config().feeds):
        source = cli.config().source or "the bundled feeds list"
        stderr.print(f"note: {url} is also in {source}; remove it there or it comes back on the next run", markup=False)


@app.command("check")
def check_feed(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="Feed URL to try.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Dry fetch + parse of URL: status, redirects, caching headers, entries, parser warnings, time."""
    from monitor.fetch.check import check_feed as run_check

    report = run_check(http_url(url), state(ctx).config().polling)
    if as_json:
        print_json(report.as_json())
    else:
        _print_check(url, report)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _print_check(url: str, report) -> None:
    def line(text: str) -> None:
        stdout.print(literal(text))

    stdout.print("OK" if report.ok else "PROBLEM", style="green" if report.ok else "red", end=" ")
    line(url)
    if report.status is None:
        line(f"  no HTTP answer after {report.seconds:.2f}s")
    else:
        line(f"  HTTP status: {report.status} in {report.seconds:.2f}s, {report.body_bytes} bytes, "
             f"{report.content_type or 'no content type'}")
    for status, location in report.redirects:
        kind = "permanent: would update the stored URL" if status in (301, 308) else "temporary"
        line(f"  redirect {status} ({kind}) -> {location}")
    for header, value in report.caching.items():
        line(f"  {header}: {value}")
    # Caching headers only matter for an answer that is a feed.
    if not report.caching and report.status is not None and 200 <= report.status < 300:
        line("  no ETag or Last-Modified: every poll downloads the whole feed")
    if report.entries:
        line(f"  {report.feed_version or 'feed'} \"{report.feed_title}\": {plural(report.entries, 'entry', 'entries')}")
        for title in report.sample_titles:
            line(f"    - {title}")
    for warning in report.warnings:
        line(f"  warning: {warning}")
    if report.error:
        line(f"  error: {report.error}")
    for feed_url, title in report.discovered:
        line(f"  advertised feed: {feed_url} {title}")


@app.command("import")
def import_opml(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="OPML file.", exists=True, dir_okay=False)],
) -> None:
    """Add every feed of an OPML file (existing ones are updated, not doubled); says what it left out."""
    from monitor.parse.opml import read_opml
    from storage import feeds, transaction

    found = read_opml(file.read_bytes(), str(file))
    db = state(ctx).database(create=True)
    created = 0
    now = datetime.now(UTC)
    with transaction(db):
        for spec in found.specs:
            created += feeds.upsert_feed(db, spec, now)[1]
    specs = found.specs
    skipped = f", {len(found.skipped)} left out" if found.skipped else ""
    stdout.print(f"imported {plural(len(specs), 'feed')} from {file}: {created} new, "
                 f"{len(specs) - created} already present{skipped}", markup=False)
    for shown, reason in found.skipped:
        stderr.print(f"  left out {visible(shown)}: {reason}", markup=False)
    for spec in specs:
        _config_name_note(ctx, spec.url, spec.name)


@app.command("export")
def export_opml(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write here instead of standard output.")] = None,
) -> None:
    """Write the feeds list as OPML 2.0."""
    from monitor.parse.opml import write_opml
    from storage import feeds

    text = write_opml(feeds.active_feeds(state(ctx).database()))
    if output:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {output}", markup=False)
    else:
        print(text, end="")
