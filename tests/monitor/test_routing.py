"""Routing decisions (pure) and their effect in the pipeline: routes, digests, throttle, mute, old news."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, SeverityRoute
from monitor.daemon import Monitor
from monitor.fetch.outage import FetchOutcome, OutageDetector
from monitor.routing import Route, plan_delivery, routes_for
from rules.types import Rule
from storage import deliveries, transaction
from storage.types import Article, FeedSpec
from tests.behaviour_server import rss
from tests.conftest import NOW

ALERTS = AlertsConfig(
    default_channels=("console",),
    routes={"critical": SeverityRoute(("email", "hook")), "low": SeverityRoute(("email",), "daily")},
)
ARTICLE = Article(feed_id=1, entry_key="k", url="https://e.com/a", title="t", summary="s", published_at=NOW)


def test_routes_rule_channels_then_severity_then_defaults():
    assert routes_for(Rule(id="a", query="x", channels=("ops",)), ALERTS) == [Route("ops")]
    assert routes_for(Rule(id="b", query="x", severity="critical"), ALERTS) == [Route("email"), Route("hook")]
    assert routes_for(Rule(id="c", query="x", severity="low"), ALERTS) == [Route("email", "daily")]
    assert routes_for(Rule(id="d", query="x", severity="medium", digest="hourly"), ALERTS) == [Route("console", "hourly")]


def test_plan_delivery_order_of_decisions():
    rule = Rule(id="a", query="x")
    old = Article(feed_id=1, entry_key="k", url="u", title="t", summary="s", published_at=NOW - timedelta(days=5))
    plan = lambda route, article=ARTICLE, **kw: plan_delivery(route, rule, article, ALERTS, NOW, **{"muted": False, "throttled": False, **kw})
    assert plan(Route("console"), old).status == "skipped"
    assert plan(Route("console"), muted=True).status == "muted"
    assert (plan(Route("email", "daily")).status, plan(Route("email", "daily")).digest) == ("digest", "daily")
    assert (plan(Route("console"), throttled=True).status, plan(Route("console"), throttled=True).digest) == ("digest", "hourly")
    assert plan(Route("console")).status == "pending"


def test_throttle_and_mute_in_the_pipeline(tmp_path, feed_server):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {id: throttled, query: antimony, severity: medium, throttle: 1h}\n"
        "  - {id: muted, query: antimony, severity: medium}\n"
    )
    items = [(f"g{i}", f"Antimony story {i}", "Exports rise") for i in range(3)]
    feed_server.set_file("/a.xml", rss(*items))
    config = Config(
        storage_path=tmp_path / "r.db",
        polling=PollingConfig(host_gap=0.0),
        feeds=(FeedSpec(url=feed_server.url("/a.xml"), name="a"),),
        rules_files=(rules,),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )
    out = io.StringIO()

    async def go():
        async with Monitor(config, console_stream=out, use_process_pool=False) as monitor:
            with transaction(monitor.db):
                deliveries.set_mute(monitor.db, "muted", monitor.now() + timedelta(hours=6), monitor.now())
            await monitor.run_once()
            listed = deliveries.list_deliveries(monitor.db)
            await monitor.dispatcher.send_digest("hourly", "hourly digest")
            return listed, deliveries.list_deliveries(monitor.db)

    listed, after = asyncio.run(go())
    statuses = sorted((a.hit.rule_id, a.delivery.status) for a in listed)
    assert statuses == [("muted", "muted")] * 3 + [("throttled", "digest")] * 2 + [("throttled", "sent")]
    immediate = [line for line in out.getvalue().splitlines() if line.startswith("[MEDIUM] throttled:")]
    assert len(immediate) == 1 and "[MEDIUM] muted" not in out.getvalue()
    assert "== hourly digest: 2 alerts ==" in out.getvalue()
    assert sorted(a.delivery.status for a in after if a.hit.rule_id == "throttled") == ["sent"] * 3


def test_outage_is_one_incident_and_does_not_count_against_feeds():
    detector = OutageDetector(min_hosts=3, min_fetches=5)
    starts = [detector.record(FetchOutcome(float(i), f"host{i}", network_error=True)) for i in range(8)]
    assert starts.count(True) == 1 and detector.incidents == 1
    assert not detector.counts_against_feed(FetchOutcome(9.0, "host9", network_error=True))
    assert detector.counts_against_feed(FetchOutcome(9.0, "host9", network_error=False))
    for i in range(20):  # the network is back
        detector.record(FetchOutcome(10.0 + i, f"host{i}", network_error=False))
    assert not detector.in_outage and detector.counts_against_feed(FetchOutcome(40.0, "h", network_error=True))


def test_one_failing_host_is_not_an_outage():
    detector = OutageDetector()
    for i in range(10):
        detector.record(FetchOutcome(float(i), "only-this-host", network_error=True))
    assert not detector.in_outage
