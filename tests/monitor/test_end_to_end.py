"""One cycle end to end: real HTTP server, real database, real rules, console alerts."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from storage import articles, deliveries, hits
from storage.types import FeedSpec
from tests.behaviour_server import rss
from tests.conftest import DATA

SEED_FEED = rss(
    ("seed-1", "Pakistan, US sign $500m critical minerals MoU",
     "United States Strategic Metals (USSM) and Pakistan&#8217;s FWO agreed to export antimony, copper and gold."),
    ("seed-2", "Gold prices edge higher", "Bullion rose 0.5% in London trading."),
    title="Business desk",
)


def make_config(tmp_path: Path, urls: list[str]) -> Config:
    return Config(
        storage_path=tmp_path / "e2e.db",
        polling=PollingConfig(host_gap=0.0, per_host=8, concurrency=8, timeout=10),
        feeds=tuple(FeedSpec(url=url, name=url.rsplit("/", 1)[-1]) for url in urls),
        rules_files=(DATA / "e2e-rules.yaml",),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )


def run_cycle(config: Config, console: io.StringIO):
    async def go():
        async with Monitor(config, console_stream=console, use_process_pool=False) as monitor:
            summaries = await monitor.run_once()
            stored = articles.count_articles(monitor.db)
            found = hits.list_hits(monitor.db, limit=1000)
            sent = deliveries.list_deliveries(monitor.db, "sent")
            return summaries, stored, found, sent

    return asyncio.run(go())


def test_corpus_and_seed_feeds_end_to_end_then_all_304(tmp_path, feed_server, corpus):
    urls = []
    for path in corpus:
        if path.suffix == ".json":
            content_type = "application/feed+json"
        else:
            content_type = "application/xml"
        feed_server.set_file(f"/{path.name}", path.read_bytes(), content_type)
        urls.append(feed_server.url(f"/{path.name}"))
    feed_server.set_file("/seed.xml", SEED_FEED)
    urls.append(feed_server.url("/seed.xml"))
    config = make_config(tmp_path, urls)
    console = io.StringIO()

    summaries, stored, found, sent = run_cycle(config, console)

    by_name = {s.feed_name: s for s in summaries}
    assert by_name["seed.xml"].success and by_name["seed.xml"].new_articles == 2
    assert sum(1 for s in summaries if s.success) >= len(corpus) - 5  # a few corpus files are hopeless on purpose
    assert stored == sum(s.new_articles for s in summaries) and stored > 500
    seed_hits = {(h.hit.rule_id, h.article.title) for h in found if h.article.feed_name == "seed.xml"}
    assert seed_hits == {
        ("ussm", "Pakistan, US sign $500m critical minerals MoU"),
        ("antimony", "Pakistan, US sign $500m critical minerals MoU"),
    }
    ussm = next(h for h in found if h.hit.rule_id == "ussm")
    assert {t.text for t in ussm.hit.terms} >= {"USSM", "United States Strategic Metals"}
    # One notification per story, naming every rule that fired (issue 14).
    assert "[HIGH] ussm +1 rule: Pakistan, US sign $500m critical minerals MoU" in console.getvalue()
    assert "rules: ussm, antimony" in console.getvalue()
    assert len(sent) == len({h.article.story_id for h in found})
    assert sorted(rule for a in sent for rule in a.rule_ids) == sorted(h.hit.rule_id for h in found)
    failed = [s for s in summaries if not s.success]
    assert all(s.error for s in failed)  # a failing feed always says why

    summaries2, stored2, found2, sent2 = run_cycle(config, io.StringIO())
    assert all(s.http_status == 304 for s in summaries2)
    # A feed whose body failed to parse stays failing (same error) although it answers 304.
    assert {(s.feed_name, s.error) for s in summaries2 if not s.success} == {(s.feed_name, s.error) for s in failed}
    assert (stored2, len(found2), len(sent2)) == (stored, len(found), len(sent))


def test_the_rules_loading_at_start_is_shown_and_over_before_the_first_poll(tmp_path, feed_server) -> None:
    # A big rules set takes seconds to load: `run` and `run --once` show its progress
    # (Monitor's rules_progress), and that display is closed before polling starts, where
    # the polling bar takes over.
    import contextlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from make_big_rules import rules_yaml

    rules_file = tmp_path / "big.yaml"
    rules_file.write_text(rules_yaml(1500, seed=5), encoding="utf-8")
    feed_server.set_file("/seed.xml", SEED_FEED)
    config = replace(make_config(tmp_path, [feed_server.url("/seed.xml")]), rules_files=(rules_file,))
    events: list[tuple] = []

    @contextlib.contextmanager
    def shown():
        events.append(("open",))
        yield lambda stage, done, total: events.append((stage, done, total))
        events.append(("closed",))

    async def go():
        async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False, rules_progress=shown) as monitor:
            events.append(("started",))
            await monitor.run_once()

    asyncio.run(go())
    assert events[0] == ("open",) and events[-2:] == [("closed",), ("started",)]
    stages = [stage for n, (stage, *_) in enumerate(events[1:-2]) if n == 0 or events[n][0] != stage]
    assert stages == ["reading rules", "compiling rules", "checking examples"]  # in order, never back
    assert ("reading rules", 1500, 1500) in events and ("checking examples", 1500, 1500) in events
