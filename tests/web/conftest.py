"""The console's fixtures: a real archive made by the real pipeline, the app over httpx's ASGI
transport, and a real uvicorn server on 127.0.0.1.

The archive: the demo's sample feeds (the MoU story from three outlets plus unrelated news)
and a hostile feed (markup and script in titles) served from 127.0.0.1, polled once by the
monitor with the bundled rules pack; then one delivery is made dead and one feed failing,
through the storage functions the dispatcher and the pipeline use.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.cli.demo import demo_config, demo_files
from monitor.cli.demo_server import FeedServer
from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
from monitor.daemon import Monitor
from monitor.web.app import Console, create_app
from monitor.web.server import console_server
from monitor.webconfig import WebConfig, parse_listen
from storage import deliveries, feeds, open_database, transaction
from storage.types import PollRecord
from tests.behaviour_server import rss

LISTEN = parse_listen("127.0.0.1:8765")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOSTILE_TITLE = '<script>alert("x")</script> Antimony <b>exports</b> from Balochistan'
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1zaG93"
# Escaped twice: after the feed's own XML escaping and the parser's HTML-to-text, the stored
# title and summary hold the markup as literal text, as a hostile outlet can make them.
HOSTILE_FEED = rss(
    ("hostile-1", HOSTILE_TITLE.replace("&", "&amp;").replace("<", "&amp;lt;").replace(">", "&amp;gt;"),
     "Pakistan&#8217;s antimony and tungsten exports from Balochistan rose &amp;lt;img src=x onerror=alert(1)&amp;gt;."),
    title="Hostile wire",
)


CHANNELS = {
    "console": ChannelConfig("console", "console"),
    # A configured secret that no page, API answer or metric may ever show (no rule routes to it).
    "chat": ChannelConfig("chat", "webhook", {"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET}),
}


def archive_config(database: Path, server: FeedServer) -> Config:
    return replace(demo_config(server, database), channels=CHANNELS)


@pytest.fixture(scope="session")
def archive_source(tmp_path_factory) -> Path:
    """A database made once per session by polling the sample feeds; copy it before changing it."""
    return build_archive(tmp_path_factory.mktemp("archive") / "archive.db")


def build_archive(database: Path, hostile: bool = True) -> Path:
    files = demo_files()
    if hostile:
        files["/hostile-wire.xml"] = (HOSTILE_FEED, "application/rss+xml")
    with FeedServer(files) as server:
        config = archive_config(database, server)

        async def poll() -> None:
            async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False) as monitor:
                await monitor.run_once(in_order=True)

        asyncio.run(poll())
    db = open_database(database)
    now = datetime.now(UTC)
    with transaction(db):
        first = deliveries.list_deliveries(db, "sent", limit=1000)[-1].delivery.id
        deliveries.mark_dead(db, first, "HTTP 410 from hooks.example.org: endpoint gone")
        failing = feeds.feed_by_url(db, server.url("/mining-wire.xml"))
        feeds.record_poll(db, failing.id, PollRecord(polled_at=now, success=False, http_status=503,
                                                     error="HTTP 503 Service Unavailable"))
    db.close()
    return database


def copy_database(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def archive(archive_source, tmp_path) -> Path:
    return copy_database(archive_source, tmp_path / "console.db")


def console_config(database: Path, password: str | None = None) -> Config:
    return Config(
        storage_path=database, polling=PollingConfig(host_gap=0.0), feeds=(), rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(), channels=CHANNELS, web=WebConfig(listen=LISTEN, password=password),
    )


class SyncClient:
    """httpx over the ASGI transport, driven from a sync test through one event loop."""

    def __init__(self, console: Console, base_url: str = "http://127.0.0.1:8765"):
        self.console = console
        self.app = create_app(console)
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.runner.run(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def csrf(self) -> str:
        """The CSRF token of this client's session, as a page shows it."""
        page = self.get("/deliveries", headers={"accept": "text/html"}).text
        return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()
        self.console.close()


@pytest.fixture
def make_client(archive):
    made: list[SyncClient] = []

    def make(password: str | None = None, database: Path | None = None) -> SyncClient:
        config = console_config(database or archive, password)
        client = SyncClient(Console.standalone(config, LISTEN))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client) -> SyncClient:
    return make_client()


@contextmanager
def live_console(database: Path, password: str | None = None) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 in a thread with its own event loop; yields its URL."""
    started = threading.Event()
    address: list[str] = []
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        listen = parse_listen("127.0.0.1:0")
        async with console_server(Console.standalone(console_config(database, password), listen), listen) as url:
            address.append(url)
            started.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as error:  # shown by the test that waits for the address
            errors.append(error)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="console-under-test", daemon=True)
    thread.start()
    assert started.wait(60), "the console did not start"
    if errors:
        raise errors[0]
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
