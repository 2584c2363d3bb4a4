"""The outbox dispatcher: closes, sends and records committed notifications, retries.

Each channel has its own worker, so a channel that keeps failing never holds up the
others. Within a channel each notification is retried on its own schedule (a payload the
receiver keeps refusing waits alone); an endpoint that is down as a whole trips the
channel's circuit breaker (alerts/breaker.py), which pauses the channel and probes with one
notification, then lets the waiting ones leave in creation order. A notification that is
still collecting its story's hits is closed (no more hits join) before it is read and sent.
Delivery is at-least-once: the outcome is recorded after the send, so a crash in between
re-sends on restart with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from alerts import breaker as breakers
from alerts.channel import Channel
from alerts.exceptions import DeliveryError
from alerts.retry import RetryPolicy, decide_retry
from storage import deliveries, transaction
from storage.types import Alert

log = logging.getLogger("minerals_monitor.alerts")

SEND_DEADLINE_SECONDS = 60.0
SENT_FLUSH_BATCH = 50
SENT_FLUSH_SECONDS = 0.2
RELOOK_SECONDS = 5.0
CHANNELS_RESCAN_SECONDS = 30.0
# Under a backlog (BACKLOG_FROM due notifications or more) a channel whose `send_at_once` says
# so sends that many at once, reads the next BACKLOG_BATCH while it sends, and records without
# waiting for each (see _send_pass; bench/bench_delivery.py). Below it, one at a time.
BACKLOG_FROM = 16
BACKLOG_BATCH = 400
MAX_UNRECORDED = 256  # sent but not yet on disk, under a backlog: what a kill may repeat


@dataclass
class DispatchCounts:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        db: sqlite_utils.Database,
        channels: dict[str, Channel],
        policy: RetryPolicy | None = None,
        *,
        operator_channel: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        batch_size: int = 100,
        write: Callable[[Callable[[sqlite_utils.Database], Any]], Awaitable[Any]] | None = None,
    ):
        """`write`: runs a write (a function of a connection) elsewhere, e.g. on the monitor's
        write thread, so the loop never waits for the write lock; default: on `db`, inline."""
        self.db = db
        self.write = write
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.operator_channel = operator_channel
        self.now = now
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        self._wakeups: dict[str, asyncio.Event] = {}
        self._stopping = asyncio.Event()
        self.counts = DispatchCounts()
        self._sent_pending: list[int] = []
        self._flushing = asyncio.Lock()
        self._sent_since = 0.0
        self.breakers: dict[str, breakers.Breaker] = {}
        self._flush_task: asyncio.Task | None = None

    def wake(self) -> None:
        """Called after a commit that added outbox rows: deliver now, not on the next sweep."""
        for event in self._wakeups.values():
            event.set()

    async def run(self) -> None:
        """Deliver until stop(); each channel in its own task. In-flight sends finish and are recorded.

        A worker per configured channel, and per channel that has rows waiting (a channel since
        removed from the config: its rows fail for good and the operator is told), looked for
        at start and every CHANNELS_RESCAN_SECONDS, not on every commit: with thousands of rows
        waiting that scan ran on the loop after each poll."""
        workers: dict[str, asyncio.Task] = {}
        while not self._stopping.is_set():
            for name in set(deliveries.channels_waiting(self.db)) | set(self.channels):
                if name not in workers or workers[name].done():
                    self._wakeups[name] = asyncio.Event()
                    workers[name] = asyncio.create_task(self._channel_worker(name), name=f"dispatch-{name}")
            await _wait_any(self._stopping, self._stopping, timeout=CHANNELS_RESCAN_SECONDS)
        await asyncio.gather(*workers.values(), return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()
        for event in self._wakeups.values():
            event.set()

    async def drain(self, *, release_collecting: bool = False) -> DispatchCounts:
        """Deliver everything due now, once, and return (used by `run --once` and `demo`).

        `release_collecting`: notifications still collecting their story's hits leave now
        instead of after group_wait (a one-shot run has polled everything it will poll)."""
        if release_collecting:
            now = self.now()
            await self._write(lambda db: _in_transaction(db, deliveries.release_collecting, now))
        names = set(deliveries.channels_waiting(self.db))
        await asyncio.gather(*(self._deliver_due(name, wait=False) for name in names))
        return self.counts

    async def _channel_worker(self, name: str) -> None:
        wakeup = self._wakeups[name]
        while not self._stopping.is_set():
            wakeup.clear()
            pause = await self._deliver_due(name, wait=True)
            if self._stopping.is_set():
                return
            # Look again at least every few seconds: `alerts retry` in another process changes
            # what is due without waking this one.
            await _wait_any(wakeup, self._stopping, timeout=min(pause, RELOOK_SECONDS))

    async def _deliver_due(self, name: str, *, wait: bool) -> float:
        """Send the channel's due alerts in order; returns how long to sleep before the next look."""
        try:
            return await self._deliver_due_batches(name, wait=wait)
        finally:
            await self.flush_sent()  # outcomes are on disk before this channel sleeps or stops

    async def _deliver_due_batches(self, name: str, *, wait: bool) -> float:
        while not self._stopping.is_set():
            await self.flush_sent()  # the next query must not see sent alerts as waiting
            now = self.now()
            breaker = self.breakers.get(name, breakers.Breaker())
            if not breaker.is_open:  # paused by another run of the monitor (or before a restart)?
                probe = deliveries.channel_probe(self.db, name)
                if probe is not None:
                    breaker = self.breakers[name] = breakers.Breaker(probe_id=probe)
            if breaker.is_open:
                due = self._probe(name, breaker, now)
                if due is None:
                    batch = [(breaker.probe_id, False)]
                elif not self.breakers[name].is_open:
                    continue  # the probe no longer waits: closed, back to the due ones
                else:
                    return due if wait else 0.0
            else:
                batch = deliveries.due_ids(self.db, name, now, self.batch_size)
            if not batch:
                upcoming = deliveries.next_due(self.db, name)
                return 30.0 if upcoming is None else max(0.05, (upcoming - now).total_seconds())
            await self._send_pass(name, await self._prepare(batch, now))
            if not wait and self.breakers.get(name, breakers.Breaker()).is_open:
                return 0.0
        return 0.0

    async def _prepare(self, batch: list[tuple[int, bool]], now: datetime) -> list[Alert]:
        """Close the collecting ones (no hit joins them any more: what is read now is what is
        sent, every time), then read them."""
        collecting = [delivery_id for delivery_id, still_open in batch if still_open]
        if collecting:
            await self._write(lambda db: _in_transaction(db, deliveries.close, collecting, now))
        return deliveries.alerts_by_id(self.db, [delivery_id for delivery_id, _ in batch])

    async def _next_batch(self, name: str, after_id: int) -> list[Alert]:
        now = self.now()
        return await self._prepare(deliveries.due_ids(self.db, name, now, BACKLOG_BATCH, after_id=after_id), now)

    async def _send_pass(self, name: str, alerts: list[Alert]) -> None:
        """Send due notifications in creation order. A few: one at a time, each recorded before
        the next (a kill repeats at most the one in flight). A backlog: the channel's
        `send_at_once` at a time, the next batch read and closed while this one is sent, and
        successes recorded without waiting for each (at most MAX_UNRECORDED not yet on disk):
        with the write thread busy storing polls, a record waited for a whole batch of polls."""
        upcoming: asyncio.Task | None = None
        try:
            while alerts and not self._stopping.is_set():
                backlog = len(alerts) >= BACKLOG_FROM
                upcoming = asyncio.create_task(self._next_batch(name, alerts[-1].delivery.id)) if backlog else None
                await self._send_batch(name, alerts, backlog)
                if self._stopping.is_set() or self.breakers.get(name, breakers.Breaker()).is_open:
                    return
                alerts = await upcoming if upcoming is not None else []
                upcoming = None
        finally:
            if upcoming is not None:
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)
            await self.flush_sent()

    async def _send_batch(self, name: str, alerts: list[Alert], backlog: bool) -> None:
        at_once = max(1, getattr(self.channels.get(name), "send_at_once", 1)) if backlog else 1
        for start in range(0, len(alerts), at_once):
            if self._stopping.is_set():
                return
            chunk = alerts[start : start + at_once]
            if not backlog:
                await self._deliver(name, chunk[0])
            else:  # started in creation order, recorded in the background
                await asyncio.gather(*(self._deliver(name, alert, record_later=True) for alert in chunk))
                if len(self._sent_pending) >= MAX_UNRECORDED:
                    await self.flush_sent()
                elif self._sent_pending and (self._flush_task is None or self._flush_task.done()):
                    self._flush_task = asyncio.create_task(self.flush_sent())
            if self.breakers.get(name, breakers.Breaker()).is_open:
                return  # the endpoint is down: pause, then probe

    def _probe(self, name: str, breaker: breakers.Breaker, now: datetime) -> float | None:
        """With the breaker open: seconds until the probe is due (None: probe now). A probe that is
        no longer waiting (sent or given up elsewhere) closes the breaker."""
        upcoming = deliveries.next_attempt_of(self.db, breaker.probe_id)
        if upcoming is None:
            self.breakers[name] = breakers.after_success()
            return 0.0  # (the caller sees the breaker closed)
        if upcoming > now:
            # Look again at least every few seconds: `alerts retry` may make the probe due sooner.
            return max(0.05, min(RELOOK_SECONDS, (upcoming - now).total_seconds()))
        return None

    async def _deliver(self, name: str, alert: Alert, *, record_later: bool = False) -> str:
        """One attempt; returns "sent", "failed" or "dead". `record_later`: a success waits in
        the pending list for the caller's flush_sent() (several sent at once)."""
        channel = self.channels.get(name)
        delivery = alert.delivery
        if channel is None:
            error = DeliveryError(f"channel {name!r} is not configured", permanent=True)
        else:
            try:
                async with asyncio.timeout(SEND_DEADLINE_SECONDS):
                    await channel.send(alert)
            except DeliveryError as failure:
                error = failure
            except TimeoutError:
                error = DeliveryError(f"no answer within {SEND_DEADLINE_SECONDS:g}s")
            except Exception as failure:  # a bug in a channel must not kill the dispatcher
                log.exception("channel %s raised unexpectedly for delivery %s", name, delivery.id)
                error = DeliveryError(f"unexpected {type(failure).__name__}: {failure}")
            else:
                self.breakers[name] = breakers.after_success()
                if record_later:
                    self._sent_pending.append(delivery.id)
                else:
                    await self._record_sent(delivery.id)
                self.counts.sent += 1
                return "sent"
        breaker, pause = breakers.after_failure(
            self.breakers.get(name, breakers.Breaker()), delivery.id,
            breakers.Failure(endpoint_down=error.endpoint_down, slow_down=error.slow_down, permanent=error.permanent),
        )
        self.breakers[name] = breaker
        now = self.now()
        decision = decide_retry(
            self.policy,
            attempts_before=delivery.attempts,
            created_at=delivery.created_at,
            now=now,
            permanent=error.permanent,
            retry_after=error.retry_after,
            rng=self.rng,
            channel_pause=pause,
        )
        message = str(error)
        await self.flush_sent()

        def record_failure(db: sqlite_utils.Database) -> None:
            with transaction(db):
                if decision.dead:
                    deliveries.mark_dead(db, delivery.id, f"{message} ({decision.reason})")
                else:
                    deliveries.mark_failed(db, delivery.id, message, decision.next_attempt_at,
                                           probe=breaker.probe_id == delivery.id)

        await self._write(record_failure)
        self.counts.errors.append(f"{name}: {message}")
        log.warning("delivery %s on %s failed: %s", delivery.id, name, message)
        if decision.dead:
            self.counts.dead += 1
            if breaker.probe_id == delivery.id:  # a dead probe probes nothing
                self.breakers[name] = breakers.Breaker(failures=breaker.failures, pause=breaker.pause)
            await self._tell_operator(name, alert, f"{message} ({decision.reason})")
            return "dead"
        self.counts.failed += 1
        return "failed"

    async def send_digest(self, schedule: str, title: str) -> int:
        """Send every alert waiting for this digest schedule: one message per channel, or for a
        webhook the few parts its format's limits need (alerts/digest.py), each recorded on its
        own. A channel that cannot send keeps what it did not send waiting for the next digest:
        a digest never drops a match. Returns how many alerts went out."""
        sent = 0
        for name, waiting in deliveries.waiting_for_digest(self.db, schedule).items():
            channel = self.channels.get(name)
            if channel is not None and hasattr(channel, "digest_parts"):
                parts = [(part.delivery_ids, functools.partial(channel.send_digest_part, part))
                         for part in channel.digest_parts(title, waiting)]
            elif channel is not None and hasattr(channel, "send_digest"):
                parts = [([alert.delivery.id for alert in waiting], functools.partial(channel.send_digest, title, waiting))]
            else:
                parts = [([alert.delivery.id for alert in waiting], None)]
            for number, (ids, send) in enumerate(parts, start=1):
                try:
                    if send is None:
                        raise DeliveryError(f"channel {name!r} is not configured" if channel is None
                                            else f"channel {name!r} cannot send digests")
                    async with asyncio.timeout(SEND_DEADLINE_SECONDS):
                        await send()
                except (DeliveryError, TimeoutError) as failure:
                    message = str(failure) or "no answer in time"
                    left = [i for later, _ in parts[number - 1:] for i in later]
                    await self._write(lambda db: _in_transaction(db, deliveries.mark_digest_failed, left,
                                                                 f"digest not sent: {message}"))
                    log.warning("%s digest on %s failed at part %d of %d, %d alerts kept for the next one: %s",
                                schedule, name, number, len(parts), len(left), message)
                    break  # the rest waits: a rate limit or an outage is not hammered
                sent_at = self.now()
                await self._write(lambda db: _in_transaction(db, deliveries.mark_digest_sent, list(ids), sent_at))
                sent += len(ids)
        return sent

    async def _record_sent(self, delivery_id: int) -> None:
        """With a write thread (the monitor), each success is recorded before the next send, so
        a crash re-sends at most the delivery in flight. Written inline on the loop's connection,
        successes are recorded in small batches (one commit per delivery cost more than the send
        for fast channels), within SENT_FLUSH_SECONDS, before any wait and on stop, so a crash
        re-sends at most that batch. Either way the same webhook-id, and SIGTERM re-sends none."""
        if not self._sent_pending:
            self._sent_since = time.monotonic()
        self._sent_pending.append(delivery_id)
        # Written elsewhere (`write`), a commit costs the loop nothing: record each success
        # before the next send, so a crash repeats at most the one in flight.
        if (self.write is not None or len(self._sent_pending) >= SENT_FLUSH_BATCH
                or time.monotonic() - self._sent_since >= SENT_FLUSH_SECONDS):
            await self.flush_sent()

    async def flush_sent(self) -> None:
        """Record the pending successes. One flush at a time, and a caller returns only when
        what was pending is on disk: a channel about to look for waiting alerts must not see
        another channel's just-sent ones as still pending (it would send them again)."""
        async with self._flushing:
            if not self._sent_pending:
                return
            ids, now = list(self._sent_pending), self.now()
            await self._write(lambda db: _in_transaction(db, _mark_all_sent, ids, now))
            del self._sent_pending[: len(ids)]  # only once written; successes added meanwhile stay

    async def _write(self, work: Callable[[sqlite_utils.Database], Any]) -> Any:
        if self.write is None:
            return work(self.db)
        return await self.write(work)

    async def _tell_operator(self, failed_channel: str, alert: Alert, reason: str) -> None:
        if not self.operator_channel or self.operator_channel == failed_channel:
            return
        channel = self.channels.get(self.operator_channel)
        notify = getattr(channel, "notify_operator", None)
        if notify is None:
            return
        subject = f"alert delivery failed for good on channel {failed_channel}"
        text = (
            f"Delivery {alert.delivery.id} (rules {', '.join(alert.rule_ids)}, article {alert.article.url or alert.article.link}) "
            f"is dead: {reason}. `minerals-monitor alerts retry {alert.delivery.id}` sends it again."
        )
        try:
            await notify(subject, text)
        except Exception as failure:  # the fallback failing is logged, never fatal
            log.error("operator channel %s could not be told: %s", self.operator_channel, failure)


def _in_transaction(db: sqlite_utils.Database, write: Callable[..., Any], *args: Any) -> Any:
    with transaction(db):
        return write(db, *args)


def _mark_all_sent(db: sqlite_utils.Database, ids: list[int], now: datetime) -> None:
    for delivery_id in ids:
        deliveries.mark_sent(db, delivery_id, now)


async def _wait_any(event: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
