"""Quality per notification, not per hit (issue 14.6), on the labelled sets.

The articles of tests/data/rules_pack_labelled.yaml (120, with the rules a watcher wants)
and tests/data/story_pairs.yaml (126 pairs, the second copy from another outlet 20 s after
the first) go through the real pipeline (stories, the bundled rules pack, the outbox) and
the real dispatcher with a console channel, on a clock that moves through the articles'
publication days, once with `[alerts] group_by = "rule"` (before) and once with "story"
(after). Figures for the README:

    .venv/bin/python -m tests.alerts.test_notification_quality
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
from monitor.daemon import Monitor
from monitor.parse.feed import content_hash
from storage import feeds, transaction
from storage.types import Article, FeedSpec, PollRecord
from tests.conftest import DATA
from tests.reliability.rel_support import Clock

PAIR_GAP = timedelta(seconds=20)  # the other outlet's copy, polled a little later
ARTICLE_GAP = timedelta(minutes=10)  # between two labelled articles of one day


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    summary: str
    feed: str
    at: datetime
    expected: frozenset[str] | None  # None: no rule labels (story pairs)


@dataclass(frozen=True)
class Figures:
    group_by: str
    items: int
    days: int
    hits: int
    notifications: int
    updates: int
    stories_notified: int
    right: int
    judged: int
    per_day_max: int

    @property
    def per_story(self) -> float:
        return self.notifications / self.stories_notified if self.stories_notified else 0.0

    @property
    def per_day(self) -> float:
        return self.notifications / self.days if self.days else 0.0

    @property
    def precision(self) -> float:
        return self.right / self.judged if self.judged else 1.0


def labelled_items() -> list[Item]:
    articles = yaml.safe_load((DATA / "rules_pack_labelled.yaml").read_text(encoding="utf-8"))["articles"]
    per_day: Counter[str] = Counter()
    items = []
    for article in articles:
        day = datetime.fromisoformat(article["published"]).replace(tzinfo=UTC, hour=6)
        at = day + per_day[article["published"]] * ARTICLE_GAP
        per_day[article["published"]] += 1
        items.append(Item(article["id"], article["title"], article.get("summary", ""), f"wire-{len(items) % 7}", at,
                          frozenset(article.get("expected") or ())))
    return sorted(items, key=lambda item: item.at)


def pair_items(start: datetime) -> list[Item]:
    pairs = yaml.safe_load((DATA / "story_pairs.yaml").read_text(encoding="utf-8"))["pairs"]
    items = []
    for index, pair in enumerate(pairs):
        # A pair per hour: far enough from the next pair, within the story window of its own.
        at = start + timedelta(hours=index)
        for side, offset in (("a", timedelta(0)), ("b", PAIR_GAP)):
            copy = pair[side]
            feed = copy.get("feed") or f"outlet-{side}"
            if side == "b" and feed == (pair["a"].get("feed") or "outlet-a"):
                feed += " (2)"
            items.append(Item(f"{pair['id']}{side}", copy["title"], copy.get("summary", ""), feed, at + offset, None))
    return items


def measure(items: list[Item], group_by: str, folder: Path) -> Figures:
    folder.mkdir(parents=True, exist_ok=True)
    config = Config(
        storage_path=folder / f"quality-{group_by}.db",
        polling=PollingConfig(),
        feeds=(),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(default_channels=("console",), skip_older_than=100 * 365 * 86400, group_by=group_by),
        channels={"console": ChannelConfig("console", "console")},
    )
    clock = Clock(items[0].at)

    async def run() -> Figures:
        async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False, use_write_thread=False,
                           now=clock) as monitor:
            feed_ids: dict[str, int] = {}
            for item in items:
                clock.now = item.at
                await monitor.dispatcher.drain()  # what group_wait released before this item
                if item.feed not in feed_ids:
                    with transaction(monitor.db):
                        feed, _ = feeds.upsert_feed(monitor.db, FeedSpec(url=f"https://{len(feed_ids)}.example/feed",
                                                                         name=item.feed), clock.now)
                    feed_ids[item.feed] = feed.id
                entry = Article(feed_id=feed_ids[item.feed], entry_key=f"guid:{item.key}",
                                url=f"https://news.example.com/{item.key}", link=f"https://news.example.com/{item.key}",
                                title=item.title, summary=item.summary, published_at=item.at, guid=item.key,
                                content_hash=content_hash(item.title, item.summary, ""))
                record = PollRecord(polled_at=clock.now, success=True, http_status=200)
                monitor.pipeline.store_poll(feed_ids[item.feed], [entry], record, clock.now)
            clock.now += timedelta(hours=1)
            await monitor.dispatcher.drain(release_collecting=True)
            return _figures(monitor, items, group_by)

    return asyncio.run(run())


def _figures(monitor: Monitor, items: list[Item], group_by: str) -> Figures:
    from storage import deliveries

    expected = {f"https://news.example.com/{item.key}": item.expected for item in items}
    day_of = {f"https://news.example.com/{item.key}": item.at.date() for item in items}
    sent = [a for a in deliveries.list_deliveries(monitor.db, "sent", limit=100_000) if a.delivery.digest is None]
    right = judged = 0
    per_day: Counter = Counter()
    for alert in sent:
        per_day[day_of[alert.article.url]] += 1
        labels = [(listing.hit.rule_id, expected.get(listing.article.url)) for listing in alert.rule_hits]
        if any(label is None for _, label in labels):
            continue  # a story pair: no rule labels
        judged += 1
        right += any(rule in label for rule, label in labels)
    hits = monitor.db.execute("SELECT count(*) FROM hits").fetchone()[0]
    return Figures(
        group_by=group_by, items=len(items), days=len({item.at.date() for item in items}), hits=hits,
        notifications=len(sent), updates=sum(1 for a in sent if a.delivery.is_update),
        stories_notified=len({a.delivery.story_id for a in sent}), right=right, judged=judged,
        per_day_max=max(per_day.values(), default=0),
    )


def quality(folder: Path) -> dict[str, dict[str, Figures]]:
    labelled = labelled_items()
    pairs = pair_items(labelled[-1].at + timedelta(days=10))
    return {
        name: {group_by: measure(items, group_by, folder / name) for group_by in ("rule", "story")}
        for name, items in (("rules_pack_labelled", labelled), ("story_pairs", pairs))
    }


def test_one_notification_per_story_and_no_precision_lost(tmp_path):
    results = quality(tmp_path)
    labelled, pairs = results["rules_pack_labelled"], results["story_pairs"]
    before, after = labelled["rule"], labelled["story"]
    # Before: one alert per (rule, story); after: one per story (plus severity updates).
    assert before.per_story > 2.0
    assert after.notifications == after.stories_notified + after.updates
    assert after.notifications * 2 < before.notifications
    # A notification is right when one of its rules is: grouping never makes it worse.
    assert after.precision >= before.precision and after.precision >= 0.95
    # The second outlet's copy (20 s later) joins the first one's notification.
    assert pairs["story"].notifications < pairs["rule"].notifications
    assert pairs["story"].per_story <= 1.2


if __name__ == "__main__":  # the figures for the README
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name, by_mode in quality(Path(scratch)).items():
            print(f"{name}:")
            for group_by, f in by_mode.items():
                print(f"  group_by={group_by:5s}: {f.items} articles over {f.days} days, {f.hits} hits -> "
                      f"{f.notifications} notifications ({f.updates} updates) for {f.stories_notified} stories: "
                      f"{f.per_story:.2f} per story, {f.per_day:.1f} per day (max {f.per_day_max})"
                      + (f", precision {f.precision:.3f} ({f.right}/{f.judged})" if f.judged else ""))
