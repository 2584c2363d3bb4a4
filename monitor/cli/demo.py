"""`minerals-monitor demo`: the whole pipeline offline, in a few seconds.

Serves the bundled sample feeds from 127.0.0.1, polls them once with the
bundled rules pack into a temporary database, prints the alerts as the
console channel sends them, then the stories with every rule that fired
on each and the terms it matched (one row per story, as a watcher gets one
notification per story).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.table import Table

from monitor.cli.context import stdout
from monitor.cli.hits import matched_terms
from monitor.cli.safe_text import literal
from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
from monitor.cli.demo_server import FeedServer
from storage.console import StoryFilter, story_page
from storage.types import FeedSpec

_CONTENT_TYPES = {".xml": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}


def demo_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("monitor") / "data" / "demo"
    files = {}
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        suffix = Path(item.name).suffix
        if suffix in _CONTENT_TYPES:
            files[f"/{item.name}"] = (item.read_bytes(), _CONTENT_TYPES[suffix])
    return files


def demo_config(server: FeedServer, database: Path) -> Config:
    feeds = tuple(
        FeedSpec(url=server.url(path), name=Path(path).stem.replace("-", " ").title()) for path in server.files
    )
    return Config(
        storage_path=database,
        polling=PollingConfig(host_gap=0.0, per_host=8, concurrency=8),
        feeds=feeds,
        rules_files=(bundled_rules_pack(),),
        # Demo items keep their dates; never treat them as old news.
        alerts=AlertsConfig(default_channels=("console",), skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )


def run_demo(keep: Path | None = None) -> int:
    from monitor.daemon import Monitor
    from monitor.cli.run_report import print_once_report

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="minerals-monitor-demo-"))
    database = workdir / "demo.db"
    try:
        with FeedServer(demo_files()) as server:
            config = demo_config(server, database)
            stdout.print(f"[bold]Demo:[/bold] {len(config.feeds)} sample feeds served from 127.0.0.1:{server.port}, "
                         f"bundled rules pack, temporary database {database}\n")
            stdout.print("[bold]Alerts (console channel), as they leave:[/bold]")

            async def cycle():
                async with Monitor(config, use_process_pool=False) as monitor:
                    summaries = await monitor.run_once(in_order=True)
                    stdout.print()
                    print_once_report(summaries, monitor)
                    stories = story_page(monitor.db, StoryFilter(), limit=50).stories
                    second = await monitor.poll_all()
                    return summaries, stories, second

            summaries, stories, second = asyncio.run(cycle())
        _print_stories(stories)
        not_modified = sum(1 for s in second if s.http_status == 304)
        stdout.print(f"\nSecond poll: {not_modified}/{len(second)} feeds answered 304 Not Modified, "
                     f"{sum(s.new_articles for s in second)} new articles (nothing stored twice).")
        stdout.print(f"Done in {time.monotonic() - started:.1f}s.")
        if keep:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(database, keep)
            stdout.print(f"Database kept at {keep} (try: minerals-monitor hits list, or open it with Datasette).")
        return 0 if any(s.success for s in summaries) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _print_stories(stories) -> None:
    table = Table(title="Stories: why each alert fired", title_justify="left")
    for column in ("story", "severity", "title", "rules", "matched terms", "outlets"):
        table.add_column(column, overflow="fold", justify="right" if column == "story" else "left")
    for story in stories:
        rules = ", ".join(rule.rule_id for rule in story.rules)
        table.add_row(str(story.story_id), story.severity, literal(story.lead.title), rules, literal(matched_terms(_in_reading_order(story))),
                      literal(", ".join(story.outlets)))
    stdout.print(table)
    stdout.print("Each rule's own terms: minerals-monitor stories show ID (keep the database with --keep PATH).")


def _in_reading_order(story) -> list:
    """Every rule's matched terms, title first, then as they appear in the text."""
    field_order = {"title": 0}
    terms = [term for rule in story.rules for term in rule.terms]
    return sorted(terms, key=lambda term: (field_order.get(term.field, 1), term.field, term.start))
