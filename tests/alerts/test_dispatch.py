"""The outbox dispatcher with real receivers: retries, ordering, dead ends, crash safety."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import timedelta

import pytest

from alerts.console import ConsoleChannel
from alerts.dispatch import Dispatcher
from alerts.retry import RetryPolicy
from alerts.webhook import WebhookChannel
from storage import articles, deliveries, feeds, hits, open_database, transaction
from storage.types import Article, FeedSpec, Hit
from tests.conftest import NOW


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def outbox(tmp_path):
    db = open_database(tmp_path / "outbox.db")
    with transaction(db):
        feed, _ = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/f.xml", name="Dawn"), NOW)
    counter = iter(range(1, 10_000))

    def add(channels: list[str], title: str = "USSM signs MoU") -> int:
        n = next(counter)
        with transaction(db):
            article = articles.ingest_entries(
                db, feed.id, [Article(feed.id, f"guid:{n}", f"https://e.com/{n}", f"{title} {n}", "text", content_hash=str(n))], NOW
            ).new[0]
            hit = hits.insert_hits(db, [Hit("ussm", article.id, "high", rule_name="USSM")], NOW)[0]
            for channel in channels:
                deliveries.enqueue(db, hit.id, channel, NOW, rule_id="ussm")
        return hit.id

    yield db, add
    db.close()


def run(coro):
    return asyncio.run(coro)


def dispatcher(db, channels, clock, **kw):
    return Dispatcher(db, channels, RetryPolicy(**kw), now=clock, rng=random.Random(7))


def test_fails_twice_then_succeeds_with_the_same_webhook_id(outbox, webhook_receiver, webhook_secret, reply):
    db, add = outbox
    receiver = webhook_receiver(secret=webhook_secret, script=[reply(503), reply(500)])
    add(["hook"])
    clock = Clock()

    async def go():
        hook = WebhookChannel("hook", url=receiver.url, secret=webhook_secret)
        d = dispatcher(db, {"hook": hook}, clock)
        for _ in range(3):
            await d.drain()
            clock.advance(400)  # past the 5 s and 5 min steps
        await hook.aclose()

    run(go())
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1 and all(r.verified for r in receiver.requests)
    sent = deliveries.list_deliveries(db, "sent")
    assert len(sent) == 1 and sent[0].delivery.attempts == 3 and sent[0].delivery.idempotency_key in ids


def test_410_is_permanent_dead_at_once_and_the_operator_is_told(outbox, webhook_receiver, reply):
    db, add = outbox
    receiver = webhook_receiver(default=reply(410, body=b"endpoint removed"))
    add(["hook"])
    ops = io.StringIO()

    async def go():
        hook = WebhookChannel("hook", url=receiver.url)
        d = Dispatcher(db, {"hook": hook, "ops": ConsoleChannel("ops", ops)}, operator_channel="ops", now=Clock())
        await d.drain()
        await d.drain()
        await hook.aclose()

    run(go())
    assert len(receiver.requests) == 1
    dead = deliveries.list_deliveries(db, "dead")[0]
    assert "410" in dead.delivery.last_error and dead.delivery.attempts == 1
    assert "[OPERATOR]" in ops.getvalue() and "alerts retry" in ops.getvalue()


def test_429_retry_after_is_honoured(outbox, webhook_receiver, reply):
    db, add = outbox
    receiver = webhook_receiver(default=reply(429, headers={"Retry-After": "900"}))
    add(["hook"])
    clock = Clock()

    async def go():
        hook = WebhookChannel("hook", url=receiver.url)
        await dispatcher(db, {"hook": hook}, clock).drain()
        await hook.aclose()

    run(go())
    failed = deliveries.list_deliveries(db, "failed")[0].delivery
    assert failed.next_attempt_at >= NOW + timedelta(seconds=900)
    assert len(receiver.requests) == 1


def test_a_dead_endpoint_does_not_delay_others_and_order_is_kept_after_recovery(outbox, webhook_receiver, free_port, reply):
    db, add = outbox
    good = webhook_receiver()
    for _ in range(3):
        add(["down", "good"])
    clock = Clock()
    down_url = f"http://127.0.0.1:{free_port}/hook"

    async def go():
        down = WebhookChannel("down", url=down_url, timeout=2)
        ok = WebhookChannel("good", url=good.url)
        await dispatcher(db, {"down": down, "good": ok}, clock).drain()
        await down.aclose()
        await ok.aclose()

    run(go())
    assert len(good.requests) == 3
    waiting = [a for a in deliveries.list_deliveries(db, "failed")]
    assert len(waiting) == 1  # the head failed; the two behind it wait their turn, in order
    assert "refused" in waiting[0].delivery.last_error

    recovered = webhook_receiver()

    async def later():
        clock.advance(600)
        back = WebhookChannel("down", url=recovered.url)
        await dispatcher(db, {"down": back}, clock).drain()
        await back.aclose()

    run(later())
    created_order = [a.delivery.idempotency_key for a in sorted(deliveries.list_deliveries(db), key=lambda a: a.delivery.id)
                     if a.delivery.channel == "down"]
    assert [r.headers["webhook-id"] for r in recovered.requests] == created_order


def test_max_attempts_makes_a_delivery_dead(outbox, webhook_receiver, reply):
    db, add = outbox
    receiver = webhook_receiver(default=reply(503))
    add(["hook"])
    clock = Clock()

    async def go():
        hook = WebhookChannel("hook", url=receiver.url)
        d = dispatcher(db, {"hook": hook}, clock, max_attempts=3)
        for _ in range(5):
            await d.drain()
            clock.advance(3600)
        await hook.aclose()

    run(go())
    assert len(receiver.requests) == 3
    assert "max_attempts" in deliveries.list_deliveries(db, "dead")[0].delivery.last_error


class CrashAfterSend:
    """Sends for real, then the 'process dies' before the outcome is recorded."""

    def __init__(self, inner):
        self.name = inner.name
        self.inner = inner

    async def send(self, alert):
        await self.inner.send(alert)
        raise SystemExit("killed between send and commit")

    async def aclose(self):
        await self.inner.aclose()


def test_crash_between_send_and_commit_resends_the_same_id_on_restart(outbox, webhook_receiver, webhook_secret):
    db, add = outbox
    receiver = webhook_receiver(secret=webhook_secret)
    add(["hook"])
    clock = Clock()

    async def crash():
        hook = CrashAfterSend(WebhookChannel("hook", url=receiver.url, secret=webhook_secret))
        try:
            await dispatcher(db, {"hook": hook}, clock).drain()
        finally:
            await hook.aclose()

    with pytest.raises(SystemExit):
        run(crash())
    assert deliveries.list_deliveries(db, "pending")  # nothing recorded: still waiting

    async def restart():
        hook = WebhookChannel("hook", url=receiver.url, secret=webhook_secret)
        await dispatcher(db, {"hook": hook}, clock).drain()
        await hook.aclose()

    run(restart())
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert deliveries.list_deliveries(db, "sent")


def test_digest_sends_one_message_per_channel_and_keeps_alerts_when_it_fails(outbox, free_port):
    db, add = outbox
    for _ in range(3):
        hit_id = add([])
        with transaction(db):
            deliveries.enqueue(db, hit_id, "console", NOW, "digest", rule_id="ussm", digest="daily")
            deliveries.enqueue(db, hit_id, "down", NOW, "digest", rule_id="ussm", digest="daily")
    out = io.StringIO()

    async def go():
        down = WebhookChannel("down", url=f"http://127.0.0.1:{free_port}/x", timeout=2)
        d = Dispatcher(db, {"console": ConsoleChannel("console", out), "down": down}, now=Clock())
        sent = await d.send_digest("daily", "daily digest")
        await down.aclose()
        return sent

    assert run(go()) == 3
    assert out.getvalue().count("== daily digest: 3 alerts ==") == 1
    waiting = deliveries.waiting_for_digest(db, "daily")
    assert list(waiting) == ["down"] and len(waiting["down"]) == 3  # kept for the next digest
    assert "digest not sent" in waiting["down"][0].delivery.last_error


def test_slow_outcome_writes_never_make_another_channel_send_twice(outbox):
    """Outcomes are written elsewhere (the monitor's write thread) and that can be slow:
    a channel that looks for waiting alerts meanwhile must not see another channel's
    just-sent alerts as still pending."""
    db, add = outbox
    for _ in range(120):  # more than one batch per channel, so each channel looks again
        add(["one", "two"])
    sent: dict[str, list[int]] = {"one": [], "two": []}

    class Recording:
        def __init__(self, name):
            self.name = name

        async def send(self, alert):
            sent[self.name].append(alert.delivery.id)
            await asyncio.sleep(0)

        async def aclose(self):
            pass

    delays = iter([0.2])  # the first write waits behind a batch of polls; later ones do not

    async def slow_write(work):
        await asyncio.sleep(next(delays, 0.0))
        return work(db)

    async def go():
        d = Dispatcher(db, {"one": Recording("one"), "two": Recording("two")}, RetryPolicy(), now=Clock(),
                       write=slow_write, batch_size=50)
        await d.drain()

    run(go())
    for name, ids in sent.items():
        assert len(ids) == len(set(ids)) == 120, name
    assert db.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0] == 240


def test_a_payload_the_receiver_keeps_refusing_holds_up_nothing_behind_it(outbox, webhook_receiver, reply):
    """Issue 15.1: each notification is retried on its own schedule."""
    db, add = outbox
    for _ in range(3):
        add(["hook"])
    first = deliveries.waiting_for_channel(db, "hook")[0].delivery.idempotency_key

    receiver = webhook_receiver(default=reply(204))  # and 500 for the first one's payload, every time
    refused = reply(500, body=b"cannot store this one")
    original = receiver.handle
    receiver.handle = lambda headers, body: refused if headers["webhook-id"] == first else original(headers, body)
    clock = Clock()

    async def go():
        hook = WebhookChannel("hook", url=receiver.url)
        d = dispatcher(db, {"hook": hook}, clock)
        await d.drain()
        await hook.aclose()

    run(go())
    statuses = {a.delivery.idempotency_key: a.delivery.status for a in deliveries.list_deliveries(db)}
    assert statuses.pop(first) == "failed"
    assert set(statuses.values()) == {"sent"}  # the two behind it left at once
    assert len(receiver.requests) == 2


def test_an_endpoint_down_as_a_whole_pauses_the_channel_and_probes(outbox, webhook_receiver, free_port):
    """Issue 15.1: connection refused -> one probe per pause (5 s, then 10 s, ...), never one try per
    notification; when it answers again the waiting ones leave in creation order."""
    db, add = outbox
    for _ in range(5):
        add(["hook"])
    clock = Clock()
    attempts = []

    async def drain(url: str) -> None:
        hook = WebhookChannel("hook", url=url, timeout=2)
        await dispatcher(db, {"hook": hook}, clock).drain()
        await hook.aclose()

    down = f"http://127.0.0.1:{free_port}/hook"
    for step in (0, 2, 4, 2, 5):  # 0 s, 2 s, 6 s (past the 5 s pause), 8 s, 13 s (past the 10 s pause)
        clock.advance(step)
        run(drain(down))
        attempts.append(db.execute("SELECT sum(attempts) FROM deliveries").fetchone()[0])
    assert attempts == [1, 1, 2, 2, 3]  # only the probe, only when its pause is over
    assert [a.delivery.status for a in sorted(deliveries.list_deliveries(db), key=lambda a: a.delivery.id)] == (
        ["failed"] + ["pending"] * 4)

    receiver = webhook_receiver()
    clock.advance(60)
    run(drain(receiver.url))
    created = [a.delivery.idempotency_key for a in sorted(deliveries.list_deliveries(db), key=lambda a: a.delivery.id)]
    assert [r.headers["webhook-id"] for r in receiver.requests] == created
    assert {a.delivery.status for a in deliveries.list_deliveries(db)} == {"sent"}
