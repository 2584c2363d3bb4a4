"""`minerals-monitor demo`: the whole pipeline offline, in a few seconds.

Serves the bundled sample feeds from 127.0.0.1, polls them once with the
bundled rules pack into a temporary database, prints the alerts as the
console channel sends them, then the stored hits.
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
from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
from monitor.cli.demo_server import FeedServer
from storage import hits
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
                    listings = hits.list_hits(monitor.db, limit=50)
                    second = await monitor.poll_all()
                    return summaries, listings, second

            summaries, listings, second = asyncio.run(cycle())
        _print_hits(listings)
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


def _print_hits(listings) -> None:
    table = Table(title="Stored hits: why each alert fired", title_justify="left")
    for column in ("severity", "rule", "title", "matched terms", "feed"):
        table.add_column(column, overflow="fold")
    for row in listings:
        terms = matched_terms(row.hit.terms)
        table.add_row(row.hit.severity, row.hit.rule_id, row.article.title, terms, row.article.feed_name)
    stdout.print(table)
