"""Hostile feeds: whatever a server sends, the monitor neither crashes nor hangs, records
a clear error or warning on that feed, and leaves the other feeds' polls untouched.

Each hostile body is polled in ONE `run_once` together with a good feed, whose result
must be exactly what it is when polled alone: N new articles, M hits, M alerts.

Inputs: every file of the feed corpus (tests/data/corpus), and generated
ones: a billion-laughs entity bomb, deeply nested XML and JSON, a 50 MB body (with and
without Content-Length; cut by the cap), invalid UTF-8, a 10,000-item feed, one guid on
every item, dates in year 1 and 9999, truncated and random bodies (hypothesis), a body
that trickles past the request deadline.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from monitor.fetch.fetcher import FetchResult
from monitor.parse.feed import parse_feed
from monitor.pipeline import Pipeline
from monitor.rulesource import RulesHolder
from storage import deliveries, feeds, hits, open_database, transaction
from storage.types import FeedSpec
from tests.reliability.rel_support import (
    RULES_YAML,
    FeedHost,
    Publisher,
    query,
    run_cli,
)

TIMEOUT = 3.0  # the request deadline in these tests
GOOD_ITEMS = 6


def monitor_config(tmp_path: Path, specs: list[FeedSpec], **polling) -> Config:
    rules = tmp_path / "watch-rules.yaml"
    rules.write_text(RULES_YAML)
    return Config(
        storage_path=tmp_path / "hostile.db",
        polling=PollingConfig(host_gap=0.0, per_host=64, concurrency=16, timeout=TIMEOUT, connect_timeout=2.0,
                              **polling),
        feeds=tuple(specs),
        rules_files=(rules,),
        alerts=AlertsConfig(),
        channels={"console": ChannelConfig("console", "console")},
    )


def rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel><title>Hostile</title>'
        f"<link>https://hostile.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def rss_item(key: str, title: str, *, guid: str | None = None, date: datetime | str | None = None,
             text: str = "") -> str:
    when = date if isinstance(date, str) else format_datetime(date or datetime.now(UTC), usegmt=True)
    return (
        f"<item><guid>{guid or key}</guid><title>{title}</title><link>https://hostile.example/{key}</link>"
        f"<description>{text or title}</description><pubDate>{when}</pubDate></item>"
    )


def billion_laughs() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol;" if n == 1 else f"&lol{n - 1};") * 10}">' for n in range(1, 10)
    )
    return rss(rss_item("laughs", "Antimony &lol9;"), prolog=f"<!DOCTYPE rss [{entities}]>")


def many_items(count: int) -> bytes:
    rng = random.Random(count)
    words = ["ore", "rail", "port", "tax", "bond", "mill", "dam", "ship", "coal", "gas", "tin", "oil"]
    return rss("".join(
        rss_item(f"bulk-{n}", f"{'Antimony' if n % 500 == 0 else 'Bulletin'} {n} " + " ".join(rng.choices(words, k=8)))
        for n in range(count)
    ))


GOOD = Publisher("good", GOOD_ITEMS, 0.0, seed=11, matching_ratio=0.5)
GOOD_MATCHING = sum(item.matching for item in GOOD.items)


def run_with_good_feed(tmp_path: Path, host: FeedHost, hostile: dict[str, str], *, process_pool: bool,
                       lags: list[float] | None = None, **polling) -> tuple[dict, float, Config, str]:
    """Poll every hostile URL and the good feed in one run_once; (summaries by name, seconds, config, console).

    `lags` receives how late a 20 ms timer on the event loop woke, at worst (how long the loop stalled).
    """
    good_url = host.serve("/good.xml", GOOD.body)
    specs = [FeedSpec(url=url, name=name) for name, url in hostile.items()] + [FeedSpec(url=good_url, name="good")]
    config = monitor_config(tmp_path, specs, **polling)
    console = io.StringIO()

    async def watch_the_loop(worst: list[float]) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.02)
            worst[0] = max(worst[0], time.monotonic() - before - 0.02)

    async def go():
        async with Monitor(config, console_stream=console, use_process_pool=process_pool) as monitor:
            worst = [0.0]
            watcher = asyncio.create_task(watch_the_loop(worst))
            started = time.monotonic()
            summaries = await monitor.run_once()
            elapsed = time.monotonic() - started
            watcher.cancel()
            if lags is not None:
                lags.append(worst[0])
            return summaries, elapsed

    summaries, seconds = asyncio.run(go())
    return {s.feed_name: s for s in summaries}, seconds, config, console.getvalue()


def assert_good_feed_untouched(by_name: dict, console: str) -> None:
    good = by_name["good"]
    assert good.success and good.error is None and good.warning is None, good
    assert (good.new_articles, good.hits) == (GOOD_ITEMS, GOOD_MATCHING)
    assert console.count("[HIGH] antimony:") >= GOOD_MATCHING


def assert_clear(message: str | None) -> None:
    """A clear message: present, one line, bounded, no traceback."""
    assert message and message.strip()
    assert "Traceback" not in message and len(message) < 2000, message[:500]


def test_every_corpus_feed_is_survived_and_the_good_feed_is_untouched(tmp_path, corpus):
    with FeedHost() as host:
        hostile = {}
        for path in corpus:
            content_type = "application/feed+json" if path.suffix == ".json" else "application/xml"
            hostile[path.name] = host.serve(f"/corpus/{path.name}", path.read_bytes(), content_type)
        by_name, seconds, config, console = run_with_good_feed(tmp_path, host, hostile, process_pool=False)
    assert set(by_name) == set(hostile) | {"good"}
    assert_good_feed_untouched(by_name, console)
    for name in hostile:
        summary = by_name[name]
        if not summary.success:
            assert_clear(summary.error)
        if summary.warning:
            assert_clear(summary.warning)
    rows = query(config.storage_path, "SELECT name, error, last_polled_at, consecutive_failures FROM feeds")
    assert len(rows) == len(hostile) + 1
    for name, error, polled, failures in rows:
        assert polled is not None, f"{name} was never recorded"
        assert (error is None) == (failures == 0), (name, error, failures)
    assert query(config.storage_path, "PRAGMA integrity_check") == [("ok",)]


def test_generated_hostile_feeds_are_survived_in_one_poll(tmp_path):
    fifty_mb = b"<rss>" + b"x" * (50 * 1024 * 1024)
    truncated = many_items(40)[: len(many_items(40)) // 2]
    nested_xml = rss("<item>" + "<div>" * 50_000 + "antimony" + "</div>" * 50_000 + "</item>")
    nested_json = b'{"version":"https://jsonfeed.org/version/1.1","items":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    invalid_utf8 = rss(rss_item("bad-bytes", "Antimony PLACEHOLDER smelter")).replace(b"PLACEHOLDER", b"\xff\xfe\xc3(")
    same_guid = rss("".join(rss_item(f"dup-{n}", f"Antimony dup {n} {'x' * n}", guid="same-guid") for n in range(50)))
    year_9999 = rss(rss_item("far", "Antimony far future", date="Fri, 31 Dec 9999 23:59:59 GMT"))
    garbage = random.Random(3).randbytes(200_000)
    expected = {
        # name: (must succeed?, words one of which the error/warning must contain)
        "laughs": (None, ("amplification", "entity", "malformed")),
        "nested-xml": (False, ("no entries",)),
        "nested-json": (False, ("json", "recursion", "parser")),
        "fifty-mb": (False, ("cap",)),
        "fifty-mb-streamed": (False, ("cap",)),
        "invalid-utf8": (True, ("utf-8", "windows-1252", "encoding")),
        "ten-thousand": (True, ()),
        "same-guid": (True, ("guid",)),
        "year-9999": (True, ()),
        "truncated": (None, ("malformed", "no entries")),
        "garbage": (False, ("not a feed", "no entries", "malformed")),
        "empty": (False, ("empty",)),
        "html": (False, ("not a feed",)),
        "trickle": (False, ("timed out",)),
        "server-error": (False, ("500",)),
    }
    with FeedHost() as host:
        hostile = {
            "laughs": host.serve("/laughs.xml", billion_laughs()),
            "nested-xml": host.serve("/nested.xml", nested_xml),
            "nested-json": host.serve("/nested.json", nested_json, "application/feed+json"),
            "fifty-mb": host.serve("/fifty.xml", fifty_mb),
            "fifty-mb-streamed": host.serve("/fifty-streamed.xml", fifty_mb,
                                            headers={"Connection": "close", "X-Stream": "1"}),
            "invalid-utf8": host.serve("/utf8.xml", invalid_utf8),
            "ten-thousand": host.serve("/ten-thousand.xml", many_items(10_000)),
            "same-guid": host.serve("/same-guid.xml", same_guid),
            "year-9999": host.serve("/year-9999.xml", year_9999),
            "truncated": host.serve("/truncated.xml", truncated),
            "garbage": host.serve("/garbage.xml", garbage),
            "empty": host.serve("/empty.xml", b""),
            "html": host.serve("/page.html", b"<html><body><p>Antimony news</p></body></html>", "text/html"),
            "trickle": host.serve("/trickle.xml", many_items(30), headers={"X-Trickle": "0.2"}),
            "server-error": host.serve("/500.xml", b"oops", status=500),
        }
        lags: list[float] = []
        by_name, seconds, config, console = run_with_good_feed(tmp_path, host, hostile, process_pool=True, lags=lags)
        trickle_requests = host.hits.get("/trickle.xml", 0)

    assert_good_feed_untouched(by_name, console)
    for name, (succeeds, words) in expected.items():
        summary = by_name[name]
        if succeeds is not None:
            assert summary.success is succeeds, (name, summary)
        said = summary.error or summary.warning
        if words:
            assert_clear(said)
            assert any(word in said.lower() for word in words), (name, said)
        elif said:
            assert_clear(said)
    # The whole poll is bounded: the deadline cut the trickle, the cap cut the 50 MB.
    assert trickle_requests == 1
    assert seconds < TIMEOUT + 30, seconds
    # Parsing (fetch worker) and storing (write thread) the 10,000 entries run off the event
    # loop; it keeps turning. Generous for a loaded 2-core CI machine (docs/reliability.md).
    assert lags[0] < 0.5, f"the event loop stalled for {lags[0]:.2f} s"
    db = config.storage_path
    assert query(db, "SELECT count(*) FROM article_sources s JOIN feeds f ON f.id = s.feed_id "
                     "WHERE f.name = 'ten-thousand'") == [(10_000,)]
    assert query(db, "SELECT count(*) FROM article_sources s JOIN feeds f ON f.id = s.feed_id "
                     "WHERE f.name = 'same-guid'") == [(50,)]
    # No entity was expanded into the database.
    assert query(db, "SELECT max(length(title) + length(summary) + length(content)) FROM articles")[0][0] < 100_000
    # Every failing feed says so where operators look: feeds list --json.
    toml = tmp_path / "cli.toml"
    toml.write_text(f'[storage]\npath = "{db.name}"\n')
    listed = run_cli("--config", str(toml), "feeds", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    health = {f["name"]: f for f in json.loads(listed.stdout)}
    for name, (succeeds, _) in expected.items():
        if succeeds is False:
            assert health[name]["error"] and health[name]["consecutive_failures"] == 1, health[name]
    assert health["good"]["error"] is None and health["good"]["consecutive_failures"] == 0
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "0999-06-01T00:00:00Z",
    ],
    ids=["year-9999", "year-1", "year-999-atom"],
)
def test_extreme_dates_are_stored_and_read_back(tmp_path, date):
    if date[0].isdigit():  # an Atom feed with an ISO date
        body = (
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
            f"<updated>2026-01-01T00:00:00Z</updated><entry><id>urn:e1</id><title>Antimony then</title>"
            f'<link href="https://hostile.example/then"/><updated>{date}</updated></entry></feed>'
        ).encode()
    else:
        body = rss(rss_item("then", "Antimony then", date=date))
    with FeedHost() as host:
        by_name, _, config, console = run_with_good_feed(tmp_path, host, {"dates": host.serve("/dates.xml", body)},
                                                         process_pool=False)
    assert_good_feed_untouched(by_name, console)
    assert by_name["dates"].success and by_name["dates"].new_articles == 1
    db = open_database(config.storage_path)
    try:
        listed = hits.list_hits(db, limit=100)
        assert len(listed) == GOOD_MATCHING + 1
        assert len(deliveries.list_deliveries(db)) == GOOD_MATCHING + 1
    finally:
        db.close()
    toml = tmp_path / "cli.toml"
    toml.write_text(f'[storage]\npath = "{config.storage_path.name}"\n')
    for command in (("hits", "list", "--json"), ("alerts", "list", "--json")):
        result = run_cli("--config", str(toml), *command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr


def test_deeply_nested_json_is_a_parse_error_not_an_exception(tmp_path):
    nested = b'{"version":"https://jsonfeed.org/version/1.1","items":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with FeedHost() as host:
        url = host.serve("/nested.json", nested, "application/feed+json")
        checked = run_cli("feeds", "check", url, "--json", cwd=tmp_path)
    assert checked.returncode == 1 and "internal error" not in checked.stderr, checked.stderr
    parsed = parse_feed(nested, {"content-type": "application/feed+json"}, 1, "nested")
    assert parsed.error and not parsed.articles


# --- hypothesis: random and truncated bodies through the real pipeline -------------------------

_SAMPLES = [
    GOOD.body(),
    many_items(20),
    billion_laughs(),
    b'{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[{"id":"1","title":"Antimony",'
    b'"url":"https://hostile.example/j1","content_text":"antimony"}]}',
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
    b"<updated>2026-01-01T00:00:00Z</updated><entry><id>urn:e1</id><title>Antimony</title>"
    b'<link href="https://hostile.example/a1"/><updated>2026-11-27T00:00:00Z</updated></entry></feed>',
]

_bodies = st.one_of(
    st.binary(max_size=4000),
    st.builds(lambda sample, cut: sample[:cut], st.sampled_from(_SAMPLES), st.integers(0, 6000)),
    st.builds(lambda sample, at, junk: sample[:at] + junk + sample[at:], st.sampled_from(_SAMPLES),
              st.integers(0, 3000), st.binary(min_size=1, max_size=64)),
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One database and Pipeline for every example (each example is a new feed)."""
    folder = tmp_path_factory.mktemp("fuzzed-feeds")
    config = monitor_config(folder, [])
    db = open_database(config.storage_path)
    pipe = Pipeline(db, config, fetcher=None, rules=RulesHolder(config.rules_files))  # type: ignore[arg-type]
    yield pipe
    db.close()


_counter = iter(range(1_000_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, content_type=st.sampled_from(["application/rss+xml", "application/feed+json", "text/html", ""]))
def test_random_and_truncated_bodies_never_break_a_poll(pipeline, body, content_type):
    n = next(_counter)
    url = f"http://127.0.0.1:9/fuzz-{n}.xml"
    with transaction(pipeline.db):
        feed, _ = feeds.upsert_feed(pipeline.db, FeedSpec(url=url, name=f"fuzz-{n}"), datetime.now(UTC))
    headers = {"content-type": content_type} if content_type else {}
    fetch = FetchResult(url=url, status=200, body=body, headers=headers, final_url=url)
    summary = asyncio.run(pipeline.handle_fetch(feed, fetch))
    stored = feeds.get_feed(pipeline.db, feed.id)
    assert stored.last_polled_at is not None
    if summary.success:
        assert stored.error is None
    else:
        assert_clear(summary.error)
        assert stored.error == summary.error and stored.consecutive_failures == 1
