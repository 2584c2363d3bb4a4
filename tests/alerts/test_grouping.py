"""One notification per (story, channel) (issue 14), end to end in one process: a real feed
server, the real pipeline and dispatcher, a webhook receiver that verifies every signature.

The monitor's clock is frozen and moved by hand (polls "5 s apart", group_wait passing), so
nothing sleeps; the feeds, the HTTP requests and the webhooks are real.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from storage import deliveries, feeds
from storage.types import FeedSpec
from tests.behaviour_server import rss
from tests.conftest import NOW
from tests.reliability.rel_support import Clock

RULES = """\
rules:
  - {id: ussm, name: USSM, query: 'USSM', severity: high}
  - {id: antimony, name: Antimony, query: 'antimony', severity: medium}
  - {id: tungsten, name: Tungsten, query: 'tungsten', severity: low}
  - {id: refinery_deal, name: USSM refinery deal, query: 'USSM AND refinery', severity: critical}
"""

BODY = (
    "Pakistan and the United States signed a $500 million memorandum of understanding on critical minerals. "
    "The agreement between United States Strategic Metals (USSM) and the Frontier Works Organisation covers "
    "exploration, extraction and processing, beginning with exports of antimony, copper, gold and tungsten."
)
# A later copy of the same story that adds the refinery (the critical rule): an escalation.
ESCALATED = BODY + " USSM will also build a poly-metallic refinery in Pakistan, officials said."


def make_config(tmp_path: Path, urls: list[str], hook_url: str, secret: str, **alerts) -> Config:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return Config(
        storage_path=tmp_path / "grouping.db",
        polling=PollingConfig(host_gap=0.0, per_host=8, timeout=10),
        feeds=tuple(FeedSpec(url=url, name=url.rsplit("/", 1)[-1].removesuffix(".xml")) for url in urls),
        rules_files=(rules,),
        alerts=AlertsConfig(default_channels=("hook",), skip_older_than=100 * 365 * 86400, **alerts),
        channels={"console": ChannelConfig("console", "console"),
                  "hook": ChannelConfig("hook", "webhook", {"url": hook_url, "secret": secret})},
    )


def events(receiver) -> list[dict]:
    assert all(request.verified for request in receiver.requests)
    return [json.loads(request.body) for request in receiver.requests]


async def poll(monitor: Monitor, url: str) -> None:
    feed = feeds.feed_by_url(monitor.db, url)
    await monitor.pipeline.poll_feed(feed.id)


def test_several_rules_on_one_article_are_one_notification_naming_them_all(
        tmp_path, feed_server, webhook_receiver, webhook_secret):
    feed_server.set_file("/dawn.xml", rss(("d1", "Pakistan, US sign $500m critical minerals MoU", ESCALATED)))
    receiver = webhook_receiver(secret=webhook_secret)
    config = make_config(tmp_path, [feed_server.url("/dawn.xml")], receiver.url, webhook_secret)

    async def go():
        async with Monitor(config, use_process_pool=False) as monitor:
            await monitor.run_once()
            return deliveries.list_deliveries(monitor.db)

    listed = asyncio.run(go())
    [event] = events(receiver)
    data = event["data"]
    assert data["rule"] == {"id": "refinery_deal", "name": "USSM refinery deal", "severity": "critical"}
    assert [rule["id"] for rule in data["rules"]] == ["refinery_deal", "ussm", "antimony", "tungsten"]
    for rule in data["rules"]:  # every rule says which terms matched, with spans into the article
        assert rule["terms"], rule
        for term in rule["terms"]:
            assert data["article"][term["field"]][term["start"]:term["end"]] == term["text"]
    assert data["update"] is False
    [notification] = listed
    assert notification.delivery.severity == "critical" and notification.delivery.status == "sent"
    assert receiver.requests[0].headers["webhook-id"] == notification.delivery.idempotency_key == data["id"]


def test_one_story_from_three_feeds_polled_5s_apart_is_one_notification(
        tmp_path, feed_server, webhook_receiver, webhook_secret):
    paths = ("/dawn.xml", "/news.xml", "/wire.xml")
    feed_server.set_file("/dawn.xml", rss(("d1", "Pakistan, US sign $500m critical minerals MoU", BODY)))
    feed_server.set_file("/news.xml", rss(("n1", "USSM and FWO ink minerals pact", BODY)))
    feed_server.set_file("/wire.xml", rss(("w1", "US firm to export antimony from Pakistan", BODY + " (APP)")))
    receiver = webhook_receiver(secret=webhook_secret)
    urls = [feed_server.url(path) for path in paths]
    config = make_config(tmp_path, urls, receiver.url, webhook_secret)  # group_wait: the default 30 s
    clock = Clock(NOW)

    async def go():
        async with Monitor(config, use_process_pool=False, now=clock) as monitor:
            for url in urls:
                await poll(monitor, url)
                await monitor.dispatcher.drain()  # nothing is due while the story collects
                assert receiver.requests == []
                clock.advance(5)
            clock.advance(30)  # group_wait has passed since the first hit
            await monitor.dispatcher.drain()
            return deliveries.list_deliveries(monitor.db)

    listed = asyncio.run(go())
    [event] = events(receiver)
    data = event["data"]
    assert sorted(rule["id"] for rule in data["rules"]) == ["antimony", "tungsten", "ussm"]
    assert data["story"]["outlets"] == ["dawn", "news", "wire"]
    assert [notification.delivery.status for notification in listed] == ["sent"]
    assert len(listed[0].matched) == 9  # 3 rules x 3 copies, all in the one notification


def test_an_escalation_after_the_notification_sends_one_update(tmp_path, feed_server, webhook_receiver, webhook_secret):
    feed_server.set_file("/dawn.xml", rss(("d1", "Pakistan, US sign $500m critical minerals MoU", BODY)))
    receiver = webhook_receiver(secret=webhook_secret)
    urls = [feed_server.url(path) for path in ("/dawn.xml", "/late.xml", "/later.xml")]
    config = make_config(tmp_path, urls, receiver.url, webhook_secret, group_wait=0.0)
    clock = Clock(NOW)

    async def go():
        async with Monitor(config, use_process_pool=False, now=clock) as monitor:
            await poll(monitor, urls[0])
            await monitor.dispatcher.drain()
            # An hour later another outlet's copy adds the refinery: the story becomes critical.
            clock.advance(3600)
            feed_server.set_file("/late.xml", rss(("l1", "USSM to build refinery in Pakistan", ESCALATED)))
            await poll(monitor, urls[1])
            await monitor.dispatcher.drain()
            # A third copy at a lower severity than what was notified: stored, not sent.
            clock.advance(3600)
            feed_server.set_file("/later.xml", rss(("x1", "Minerals MoU: what it means", BODY + " Analysis.")))
            await poll(monitor, urls[2])
            await monitor.dispatcher.drain()
            return deliveries.list_deliveries(monitor.db)

    listed = asyncio.run(go())
    first, update = events(receiver)
    assert first["data"]["update"] is False and first["data"]["rule"]["severity"] == "high"
    assert update["data"]["update"] is True and update["data"]["previous_severity"] == "high"
    assert update["data"]["rule"]["id"] == "refinery_deal"
    assert update["data"]["story"]["id"] == first["data"].get("story", {}).get("id", update["data"]["story"]["id"])
    assert receiver.requests[0].headers["webhook-id"] != receiver.requests[1].headers["webhook-id"]
    stories = {notification.delivery.story_id for notification in listed}
    assert len(stories) == 1 and sorted(n.delivery.update_number for n in listed) == [0, 1]


def test_group_by_rule_keeps_one_notification_per_rule(tmp_path, feed_server, webhook_receiver, webhook_secret):
    feed_server.set_file("/dawn.xml", rss(("d1", "Pakistan, US sign $500m critical minerals MoU", BODY)))
    feed_server.set_file("/news.xml", rss(("n1", "USSM and FWO ink minerals pact", BODY)))
    receiver = webhook_receiver(secret=webhook_secret)
    urls = [feed_server.url("/dawn.xml"), feed_server.url("/news.xml")]
    config = make_config(tmp_path, urls, receiver.url, webhook_secret, group_by="rule")

    async def go():
        async with Monitor(config, use_process_pool=False) as monitor:
            await monitor.run_once(in_order=True)

    asyncio.run(go())
    sent = events(receiver)
    # One per (rule, story, channel), as before grouping: the reprint adds nothing.
    assert sorted(event["data"]["rule"]["id"] for event in sent) == ["antimony", "tungsten", "ussm"]
    assert all([rule["id"] for rule in event["data"]["rules"]] == [event["data"]["rule"]["id"]] for event in sent)
    assert len({event["data"]["id"] for event in sent}) == 3


def test_webhook_id_is_a_function_of_channel_story_and_update_number(
        tmp_path, feed_server, webhook_receiver, webhook_secret):
    """Lose the database, poll the same feed again: the receiver sees the same webhook-id."""
    feed_server.set_file("/dawn.xml", rss(("d1", "Pakistan, US sign $500m critical minerals MoU", BODY)))
    receiver = webhook_receiver(secret=webhook_secret)
    config = make_config(tmp_path, [feed_server.url("/dawn.xml")], receiver.url, webhook_secret)

    async def once(cfg: Config) -> None:
        async with Monitor(cfg, use_process_pool=False) as monitor:
            await monitor.run_once()

    asyncio.run(once(config))
    asyncio.run(once(replace(config, storage_path=tmp_path / "a-new-database.db")))
    first, again = receiver.requests
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.headers["webhook-signature"] != again.headers["webhook-signature"] or first.body == again.body
