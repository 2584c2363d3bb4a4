"""Outages: SMTP and webhook servers that are down for a while, rate-limit, or hang.

Promises checked (docs/reliability.md):
- nothing is lost while a channel is down: after recovery every alert is delivered,
  in creation order within the channel (the head retries before anything newer goes);
- while down, `alerts list --json` shows the waiting deliveries and the last error;
- a 429 storm is obeyed: no request before Retry-After (seconds or HTTP date) passes;
- a hanging endpoint does not delay the other channels;
- the same holds end to end in the real daemon (`run`), for SMTP and webhooks.

tests/alerts/test_dispatch.py already covers a refused webhook next to a good one
and a single 429; these cover SMTP, storms, hangs and the daemon path.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from alerts.dispatch import Dispatcher
from alerts.email import DELIVERY_HEADER, EmailChannel
from alerts.retry import RetryPolicy
from alerts.webhook import WebhookChannel
from storage import deliveries
from tests.alerts.conftest import Mailbox, _LocalController
from tests.reliability.rel_support import (
    Clock,
    Daemon,
    FeedHost,
    Outbox,
    Publisher,
    RecordingReceiver,
    free_port,
    query,
    run_cli,
    wait_until,
    write_config,
)


def start_smtp(port: int) -> tuple[_LocalController, Mailbox]:
    mailbox = Mailbox()
    controller = _LocalController(mailbox, hostname="127.0.0.1", port=port, ready_timeout=5.0)
    controller.start()
    return controller, mailbox


def storage_only_config(folder: Path, db_name: str) -> Path:
    """A config for the CLI that only names the database (no feeds are polled by `alerts list`)."""
    path = folder / "cli.toml"
    path.write_text(f'[storage]\npath = "{db_name}"\n')
    return path


def alerts_json(config: Path) -> list[dict]:
    listed = run_cli("--config", str(config), "alerts", "list", "--json", cwd=config.parent)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


@pytest.fixture
def outbox(tmp_path):
    clock = Clock(datetime.now(UTC))  # starts at the real time: Dispatcher.run() uses the real clock
    box = Outbox(tmp_path / "outbox.db", clock())
    box.clock = clock
    yield box
    box.close()


def test_smtp_and_webhook_down_then_back_deliver_everything_in_creation_order(tmp_path, outbox):
    clock = outbox.clock
    for _ in range(4):
        outbox.add(["mail", "hook"])
    smtp_port, receiver = free_port(), RecordingReceiver()  # neither is listening yet

    async def drain() -> None:
        mail = EmailChannel("mail", host="127.0.0.1", port=smtp_port, sender="monitor@example.org",
                            recipients=["desk@example.org"], timeout=5)
        hook = WebhookChannel("hook", url=receiver.url, secret=receiver.secret, timeout=5)
        try:
            await Dispatcher(outbox.db, {"mail": mail, "hook": hook}, RetryPolicy(), now=clock,
                             rng=random.Random(1)).drain()
        finally:
            await hook.aclose()

    asyncio.run(drain())
    # Down: the head of each channel failed; the alerts behind it wait, untried.
    for channel in ("mail", "hook"):
        assert outbox.statuses(channel) == ["failed", "pending", "pending", "pending"]
    listed = alerts_json(storage_only_config(tmp_path, "outbox.db"))
    assert len(listed) == 8 and {a["status"] for a in listed} == {"failed", "pending"}
    for item in listed:
        assert item["next_attempt_at"], item  # a waiting delivery says when it is tried next
        if item["status"] == "failed":
            assert item["attempts"] == 1 and "refused" in item["last_error"], item
    heads = {a["channel"]: a for a in listed if a["status"] == "failed"}
    assert set(heads) == {"mail", "hook"} and "127.0.0.1" in heads["mail"]["last_error"]

    clock.advance(60)  # past the first retry step; still down
    asyncio.run(drain())
    for channel in ("mail", "hook"):
        assert outbox.statuses(channel) == ["failed", "pending", "pending", "pending"]  # never skips ahead
    assert query(tmp_path / "outbox.db", "SELECT max(attempts) FROM deliveries") == [(2,)]

    controller, mailbox = start_smtp(smtp_port)
    receiver.up()
    try:
        clock.advance(400)  # past the second step (5 min)
        asyncio.run(drain())
    finally:
        controller.stop()
        receiver.down()
    for channel in ("mail", "hook"):
        assert outbox.statuses(channel) == ["sent"] * 4
    assert [m[DELIVERY_HEADER] for m in mailbox.messages] == outbox.keys_in_creation_order("mail")
    assert [r.webhook_id for r in receiver.requests] == outbox.keys_in_creation_order("hook")
    assert all(r.verified for r in receiver.requests)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_429_storm_is_obeyed_and_order_is_kept(outbox, form):
    clock = outbox.clock
    for _ in range(3):
        outbox.add(["hook"])
    storm, wait = 3, 3000  # Retry-After longer than the retry steps it must override (5 s, 5 min, 30 min)
    sent_at: list = []

    def answer(index: int):
        sent_at.append(clock())
        if index >= storm:
            return 204, {}, 0.0
        value = str(wait) if form == "seconds" else format_datetime(clock() + timedelta(seconds=wait), usegmt=True)
        return 429, {"Retry-After": value}, 0.0

    # Unsigned: the frozen clock runs hours ahead, beyond the receiver's timestamp tolerance.
    receiver = RecordingReceiver(secret=None, answer=answer).up()

    async def drain() -> None:
        hook = WebhookChannel("hook", url=receiver.url, timeout=5, clock=clock)
        try:
            await Dispatcher(outbox.db, {"hook": hook}, RetryPolicy(), now=clock, rng=random.Random(2)).drain()
        finally:
            await hook.aclose()

    try:
        for _ in range(60):  # every 4 min: far more chances to send than Retry-After allows
            asyncio.run(drain())
            clock.advance(240)
            if outbox.statuses("hook") == ["sent"] * 3:
                break
    finally:
        receiver.down()
    assert outbox.statuses("hook") == ["sent"] * 3
    assert len(receiver.requests) == storm + 3, "a request went out before Retry-After had passed"
    gaps = [(b - a).total_seconds() for a, b in zip(sent_at, sent_at[1:storm + 1])]
    assert all(gap >= wait for gap in gaps), gaps
    heads = {r.webhook_id for r in receiver.requests[: storm + 1]}
    assert len(heads) == 1  # the storm hit the head only; it kept its webhook-id
    assert [r.webhook_id for r in receiver.requests[storm:]] == outbox.keys_in_creation_order("hook")


class Blackhole:
    """A TCP server that accepts connections and never says a word (a hung SMTP server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.05)
        self.accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_a_hanging_smtp_server_does_not_delay_webhooks(outbox):
    outbox.add(["mail"])
    for _ in range(3):
        outbox.add(["hook"])
    hole = Blackhole()
    receiver = RecordingReceiver().up()
    timings: dict[str, float] = {}

    async def go() -> None:
        mail = EmailChannel("mail", host="127.0.0.1", port=hole.port, sender="monitor@example.org",
                            recipients=["desk@example.org"], timeout=3)
        hook = WebhookChannel("hook", url=receiver.url, secret=receiver.secret, timeout=5)
        dispatcher = Dispatcher(outbox.db, {"mail": mail, "hook": hook}, RetryPolicy())
        started = time.monotonic()
        running = asyncio.create_task(dispatcher.run())
        try:
            while len(receiver.snapshot()) < 3 and time.monotonic() - started < 10:
                await asyncio.sleep(0.02)
            timings["three"] = time.monotonic() - started
            outbox.add(["hook"])  # a new alert while SMTP still hangs: woken, sent at once
            dispatcher.wake()
            woken = time.monotonic()
            while len(receiver.snapshot()) < 4 and time.monotonic() - woken < 10:
                await asyncio.sleep(0.02)
            timings["fourth"] = time.monotonic() - woken
            timings["mail_still_waiting"] = float(outbox.statuses("mail") == ["pending"])
        finally:
            stopping = time.monotonic()
            dispatcher.stop()
            await asyncio.wait_for(running, timeout=15)
            timings["stop"] = time.monotonic() - stopping
            await hook.aclose()

    try:
        asyncio.run(go())
    finally:
        receiver.down()
        hole.close()
    assert len(receiver.requests) == 4
    assert timings["three"] < 1.5, timings  # not held up by the 3 s SMTP timeout
    assert timings["fourth"] < 1.0, timings
    assert timings["mail_still_waiting"] == 1.0  # the SMTP send was still hanging meanwhile
    mail = deliveries.list_deliveries(outbox.db)
    mail_rows = [a.delivery for a in mail if a.delivery.channel == "mail"]
    assert mail_rows[0].status == "failed" and "timed out" in mail_rows[0].last_error


def test_daemon_keeps_alerts_through_an_smtp_and_webhook_outage(tmp_path):
    """End to end: `run` with both channels down; alerts wait (and say why), then all arrive in order."""
    publisher = Publisher("wire", 3, 0.0, seed=5, matching_ratio=1.0)
    smtp_port = free_port()
    receiver = RecordingReceiver()  # down
    mail_channel = (
        '[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\n'
        f'port = {smtp_port}\nsecurity = "none"\nsender = "monitor@example.org"\n'
        'recipients = ["desk@example.org"]\ntimeout = 5\n'
    )
    with FeedHost() as host:
        url = host.serve("/wire.xml", publisher.body)
        config = write_config(tmp_path, [url], webhook_url=receiver.url, channels=mail_channel,
                              default_channels='["hook", "mail"]')
        daemon = Daemon(config, tmp_path)
        db = tmp_path / "monitor.db"
        controller = None
        try:
            daemon.start()
            both_failed = wait_until(
                lambda: {r[0] for r in query(db, "SELECT channel FROM deliveries WHERE status = 'failed'")}
                == {"hook", "mail"}, timeout=20)
            assert both_failed, daemon.stderr_text()[-2000:]
            listed = alerts_json(config)
            assert len(listed) == 6
            for item in listed:
                assert item["status"] in ("failed", "pending"), item
                if item["status"] == "failed":
                    assert "refused" in item["last_error"] and item["attempts"] == 1, item
            # Back before the first retry (5 s after the failure).
            controller, mailbox = start_smtp(smtp_port)
            receiver.up()
            delivered = wait_until(
                lambda: query(db, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == [(6,)], timeout=20)
            assert delivered, query(db, "SELECT channel, status, attempts, last_error FROM deliveries")
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
            receiver.down()
            if controller is not None:
                controller.stop()
    hook_order = [r[0] for r in query(db, "SELECT idempotency_key FROM deliveries WHERE channel = 'hook' ORDER BY id")]
    mail_order = [r[0] for r in query(db, "SELECT idempotency_key FROM deliveries WHERE channel = 'mail' ORDER BY id")]
    # The head was tried while down: it is not repeated at the receiver (its first try never arrived).
    assert [r.webhook_id for r in receiver.requests] == hook_order
    assert all(r.verified for r in receiver.requests)
    assert [m[DELIVERY_HEADER] for m in mailbox.messages] == mail_order


def test_alerts_retry_is_picked_up_by_a_running_daemon(tmp_path):
    """After an outage the operator runs `alerts retry ID`; the running monitor sends it within seconds."""
    publisher = Publisher("wire", 1, 0.0, seed=6, matching_ratio=1.0)
    # The first answer asks for an hour's pause; the endpoint is fine again right after.
    receiver = RecordingReceiver(answer=lambda index: (429, {"Retry-After": "3600"}, 0.0) if index == 0
                                 else (204, {}, 0.0)).up()
    with FeedHost() as host:
        url = host.serve("/wire.xml", publisher.body)
        config = write_config(tmp_path, [url], webhook_url=receiver.url)
        daemon = Daemon(config, tmp_path)
        db = tmp_path / "monitor.db"
        try:
            daemon.start()
            assert wait_until(lambda: query(db, "SELECT status FROM deliveries") == [("failed",)], timeout=20)
            (delivery_id,) = query(db, "SELECT id FROM deliveries")[0]
            retried = run_cli("--config", str(config), "alerts", "retry", str(delivery_id), cwd=tmp_path)
            assert retried.returncode == 0, retried.stderr
            assert "due now" in retried.stdout
            sent = wait_until(lambda: query(db, "SELECT status FROM deliveries") == [("sent",)], timeout=10)
            assert daemon.stop() == 0
            assert sent, "the running daemon did not send the retried delivery within 10 s"
        finally:
            daemon.ensure_dead()
            receiver.down()
