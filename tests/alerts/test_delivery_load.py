"""Delivery keeps up with a backlog (issue 15.2), bounded: 3,000 notifications waiting, commits
waking the dispatcher all along, a real receiver that verifies every signature.

Before the fix every wake ran an O(n^2) scan of the waiting rows on the event loop (2.7 s a call
with 5,000 waiting, bench/bench_delivery.py): the loop stalled for seconds, a send overran its
deadline and was sent twice. Here the loop must never stall for long, and each notification
arrives exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from alerts.dispatch import Dispatcher
from alerts.webhook import WebhookChannel
from monitor.writer import WriteThread
from storage import articles, deliveries, feeds, hits, open_database, transaction
from storage.types import Article, FeedSpec, Hit
from tests.conftest import NOW

WAITING = 3000


def fill(db, count: int) -> None:
    with transaction(db):
        feed, _ = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/f.xml", name="Wire"), NOW)
        stored = articles.ingest_entries(db, feed.id, [
            Article(feed.id, f"guid:{n}", f"https://e.example.com/{n}", f"Antimony report {n}", "antimony", content_hash=str(n))
            for n in range(count)], NOW).new
        for hit in hits.insert_hits(db, [Hit("antimony", a.id, "high", rule_name="Antimony") for a in stored], NOW):
            deliveries.enqueue(db, hit.id, "hook", NOW, rule_id="antimony",
                               idempotency_key=deliveries.notification_key("hook", str(hit.article_id), 0))


def test_a_backlog_drains_once_each_without_stalling_the_loop(tmp_path, webhook_receiver, webhook_secret):
    path = tmp_path / "load.db"
    db = open_database(path)
    fill(db, WAITING)
    receiver = webhook_receiver(secret=webhook_secret)
    writer = WriteThread(path)
    lags: list[float] = []

    async def go() -> float:
        hook = WebhookChannel("hook", url=receiver.url, secret=webhook_secret)
        dispatcher = Dispatcher(db, {"hook": hook}, write=lambda work: writer.call(work, urgent=True))
        running = asyncio.create_task(dispatcher.run())
        started = time.monotonic()
        while len(receiver.requests) < WAITING and time.monotonic() - started < 60:
            dispatcher.wake()  # as every poll's commit does
            ticked = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append(time.perf_counter() - ticked - 0.02)
        took = time.monotonic() - started
        dispatcher.stop()
        await asyncio.wait_for(running, timeout=30)
        await hook.aclose()
        return took

    try:
        took = asyncio.run(go())
    finally:
        writer.close()
    ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert len(ids) == WAITING and max(ids.values()) == 1, f"{len(ids)} ids, repeated: {ids.most_common(3)}"
    assert all(request.verified for request in receiver.requests)
    assert db.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0] == WAITING
    assert max(lags) < 1.0, f"the event loop stalled for {max(lags):.2f} s"
    print(f"{WAITING} notifications in {took:.1f} s, longest loop stall {max(lags) * 1000:.0f} ms")
    db.close()
