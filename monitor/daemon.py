"""Wiring for `run`, `run --once` and `demo`: database, rules, channels, fetcher,
pipeline, dispatcher and scheduler, started and stopped in the right order."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TextIO, TypeVar

import httpx
import sqlite_utils
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts.dispatch import Dispatcher
from alerts.retry import RetryPolicy
from monitor import schedule
from monitor.channels import build_channels
from monitor.config import Config
from monitor.decide import base_interval, due_at
from monitor.fetch.fetcher import Fetcher, user_agent
from monitor.faults import FaultLog
from monitor.fetch.pool import FetchPool
from monitor.pipeline import Pipeline, PollSummary
from monitor.rulesource import RulesHolder
from monitor.writer import Unstored, WriteThread
from rules.types import LoadProgress
from storage import RunLock, articles, feed_moves, feeds, open_database, transaction
from storage import stories as storage_stories
from storage import titles as storage_titles
from storage.checkpoint import BackgroundCheckpointer, disable_auto_checkpoint
from storage.exceptions import DatabaseFileGoneError, DatabaseUnavailableError
from storage.filewatch import DatabaseFileWatch, drop_side_files

log = logging.getLogger("minerals_monitor")

T = TypeVar("T")
OnPoll = Callable[[PollSummary], None]
OnScheduledPoll = Callable[[PollSummary, "datetime | None"], None]

RULES_RELOAD_SECONDS = 5
FTS_INDEX_SECONDS = 10
RECORD_RETRY_SECONDS = (1.0, 30.0)  # first and longest wait before writing a dispatcher record again
WATCH_SECONDS = 2.0  # how often the running daemon looks at its database file and at the wall clock


def worker_count() -> int:
    return max(1, os.cpu_count() or 1)


def parse_executor() -> Executor:
    """Worker processes for feedparser, so parsing uses every core and never stalls the loop."""
    # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
    return ProcessPoolExecutor(max_workers=worker_count(), mp_context=multiprocessing.get_context("spawn"))


class Monitor:
    """The running monitor. Use as `async with Monitor(config) as monitor:`."""

    def __init__(
        self,
        config: Config,
        *,
        console_stream: TextIO | None = None,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        executor: Executor | None = None,
        use_process_pool: bool = True,
        use_write_thread: bool = True,
        take_lock: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rules_progress: Callable[[], AbstractContextManager[LoadProgress]] | None = None,
    ):
        self.config = config
        self.rules_progress = rules_progress  # shows the rules loading at start (a big set takes seconds)
        self.console_stream = console_stream
        self.transport_factory = transport_factory
        self.executor = executor
        self.use_process_pool = use_process_pool
        self.use_write_thread = use_write_thread
        self.take_lock = take_lock
        self.now = now
        self._stack = AsyncExitStack()
        # Told of every poll with its duration (the web console's /metrics counts them).
        self.poll_observers: list[Callable[[PollSummary, float], None]] = []
        self.scheduler: AsyncIOScheduler | None = None  # while run_forever runs
        self.faults = FaultLog(log)
        self._stopping: asyncio.Event | None = None  # set by run_forever's stop
        self.unstored = Unstored()  # what the last stop left unwritten (a database locked by another process)
        self.database_watch: DatabaseFileWatch | None = None
        self.database_gone: DatabaseFileGoneError | None = None  # why run_forever stopped by itself

    async def __aenter__(self) -> Monitor:
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()  # what was started before the failure is stopped again
            raise

    async def _start(self) -> Monitor:
        config = self.config
        fetcher_settings = self._fetcher_settings()
        self.fetch_pool = None
        if self.use_process_pool and self.transport_factory is None and self.executor is None:
            # Started first: the workers' interpreters start and import (~0.6 s) on the other
            # cores while this one loads the rules and syncs the feeds. They open nothing.
            self.fetch_pool = FetchPool(worker_count(), fetcher_settings)
            self._stack.callback(self.fetch_pool.close)
        # Then the rules: a bad or empty rules set stops the start before anything is opened or polled.
        with self.rules_progress() if self.rules_progress else nullcontext() as progress:
            self.rules = RulesHolder(config.rules_files, known_channels=set(config.channels), progress=progress)
        if self.take_lock:
            self._stack.enter_context(RunLock(config.storage_path))
        # Runs after every connection is closed (callbacks run in reverse), still under the run lock.
        self._stack.callback(self._drop_side_files_if_gone)
        self.db = open_database(config.storage_path)
        self._stack.callback(self.db.close)
        if str(config.storage_path) != ":memory:":
            self.database_watch = DatabaseFileWatch(config.storage_path)
        disable_auto_checkpoint(self.db)  # checkpoints run in a thread, not in a commit on the loop
        self._stack.enter_context(BackgroundCheckpointer(config.storage_path))
        self.sync_feeds()
        self.channels = build_channels(config.channels, self.console_stream, config.alerts.console_url)
        for channel in self.channels.values():
            self._stack.push_async_callback(channel.aclose)
        # In-process fetcher: full-text pages, and feeds too when there are no worker processes.
        self.fetcher = Fetcher(**fetcher_settings, transport_factory=self.transport_factory, now=self.now)
        self._stack.push_async_callback(self.fetcher.aclose)
        if self.fetch_pool is None and self.executor is None and self.use_process_pool:
            self.executor = parse_executor()
            self._stack.callback(self.executor.shutdown, cancel_futures=True)
        self.writer = None
        if self.use_write_thread:
            self.writer = WriteThread(config.storage_path)
            # Closed after the polls are cancelled (callbacks run in reverse) and before the database:
            # what was already submitted is stored.
            self._stack.callback(self.writer.close)
        self.dispatcher = Dispatcher(
            self.db,
            self.channels,
            RetryPolicy(max_attempts=config.alerts.max_attempts, give_up_after=config.alerts.give_up_after),
            operator_channel=config.alerts.operator_channel,
            now=self.now,
            # The loop never waits for the write lock; outcomes go before queued polls.
            write=self._write_record if self.writer else None,
        )
        self.pipeline = Pipeline(
            self.db, config, self.fetcher, self.rules, executor=self.executor, on_commit=self.dispatcher.wake, now=self.now,
            writer=self.writer, fetch_pool=self.fetch_pool,
        )
        return self

    def _fetcher_settings(self) -> dict:
        polling = self.config.polling
        return dict(
            concurrency=polling.concurrency,
            per_host=polling.per_host,
            host_gap=polling.host_gap,
            timeout=polling.timeout,
            connect_timeout=polling.connect_timeout,
            max_body_bytes=polling.max_body_bytes,
            user_agent_string=user_agent(polling.contact),
        )

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _drop_side_files_if_gone(self) -> None:
        if self.database_gone is not None:
            drop_side_files(self.config.storage_path)

    def sync_feeds(self) -> None:
        """Config feeds go into the database; feeds added with `feeds add` stay too."""
        floor = self.config.polling.min_interval
        with transaction(self.db):
            for spec in self.config.feeds:
                moved = feed_moves.moved_to(self.db, spec.url)
                if moved is not None:  # polled at its new URL; `feeds list` says the config lists the old one
                    log.info("config feed %s moved permanently to %s; polling that", spec.url, moved)
                    spec = replace(spec, url=moved)
                if spec.interval_seconds is not None and spec.interval_seconds < floor:
                    log.warning("feed %s: interval %ss is below [polling] min_interval; raised to %ss",
                                spec.url, spec.interval_seconds, int(floor))
                feeds.upsert_feed(self.db, spec, self.now())

    async def poll_all(self, in_order: bool = False, on_poll: OnPoll | None = None) -> list[PollSummary]:
        """Poll every active feed once, concurrently (bounded by the fetcher's pool);
        `in_order` polls one after another in feed order (the demo: same output every run).
        `on_poll(summary)` hears of each poll as it ends (the CLI's progress and Ctrl-C report)."""
        active = feeds.active_feed_ids(self.db)
        if in_order:
            return [await self._poll_logged(feed_id, on_poll) for feed_id in active]
        # A bounded set of pollers, not one task per feed: 10,000 tasks waiting for a slot
        # cost memory and scheduling for nothing.
        summaries: list[PollSummary | None] = [None] * len(active)
        work = iter(enumerate(active))

        async def poller() -> None:
            for index, feed_id in work:
                summaries[index] = await self._poll_logged(feed_id, on_poll)

        await asyncio.gather(*(poller() for _ in range(min(len(active), self.pipeline.max_in_flight))))
        return summaries  # type: ignore[return-value]

    async def run_once(
        self, send_digests: bool = False, in_order: bool = False, on_poll: OnPoll | None = None
    ) -> list[PollSummary]:
        summaries = await self.poll_all(in_order, on_poll)
        # A one-shot run has polled all it will: its stories' notifications leave now, not after group_wait.
        await self.dispatcher.drain(release_collecting=True)
        await self._index_for_search()
        if send_digests:
            for schedule_name in self.digest_schedules():
                await self.dispatcher.send_digest(schedule_name, f"{schedule_name} digest")
        return summaries

    def digest_schedules(self) -> set[str]:
        """Every digest schedule named by a rule, a severity route or the throttle setting."""
        alerts = self.config.alerts
        names = {alerts.throttle_digest}
        names.update(route.digest for route in alerts.routes.values() if route.digest)
        names.update(rule.digest for rule in self.rules.current.ruleset.rules if rule.digest)
        return names

    async def _poll_logged(self, feed_id: int, on_poll: OnPoll | None = None) -> PollSummary:
        summary = (await self._poll_stored(feed_id))[0]
        if on_poll is not None:
            on_poll(summary)
        return summary

    async def _poll_stored(self, feed_id: int) -> tuple[PollSummary, bool]:
        """One poll; (summary, False) when the database could not store it (disk full, locked,
        ...): told as one throttled line by the FaultLog, not a traceback per poll."""
        started = time.monotonic()
        try:
            summary = await self.pipeline.poll_feed(feed_id)
        except DatabaseUnavailableError as error:
            self.faults.failed(error, "polls")
            feed = feeds.get_feed(self.db, feed_id)
            return PollSummary(feed.id, feed.name, feed.url, False, None, error=str(error)), False
        except Exception:
            log.exception("poll of feed %s failed unexpectedly", feed_id)
            raise
        if self.faults.active:
            self.faults.succeeded()
        for observe in self.poll_observers:
            observe(summary, time.monotonic() - started)
        return summary, True

    async def _write_record(self, work: Callable[[sqlite_utils.Database], T]) -> T:
        """The dispatcher's records (sent, failed, ...) on the write thread, ahead of queued polls.

        A fault of the file is waited out rather than raised: the alert has left already, and
        its record is what keeps it from leaving again; the dispatcher's tasks live on and
        send nothing more on that channel until the record is written. Raised once stopping
        (the record is lost, the alert is sent again on the next start, same webhook-id),
        or at once outside the daemon (`run --once`)."""
        assert self.writer is not None
        wait = RECORD_RETRY_SECONDS[0]
        while True:
            try:
                return await self.writer.call(work, urgent=True)
            except DatabaseUnavailableError as error:
                if self._stopping is None or self._stopping.is_set():
                    raise
                self.faults.failed(error, "alert records")
            try:
                await asyncio.wait_for(self._stopping.wait(), wait)
            except TimeoutError:
                pass
            wait = min(wait * 2, RECORD_RETRY_SECONDS[1])

    @property
    def scheduling(self) -> bool:
        """The scheduler is running (readiness)."""
        return self.scheduler is not None and self.scheduler.running

    async def run_forever(self, stop: asyncio.Event, on_poll: OnScheduledPoll | None = None) -> None:
        """Poll on schedule and deliver until `stop` is set; then stop cleanly.
        `on_poll(summary, next_poll_at)` replaces the per-feed warning log (the CLI's console).
        Raises DatabaseFileGoneError, after stopping, when the database file was deleted or
        replaced meanwhile."""
        scheduler = self.scheduler = AsyncIOScheduler(timezone=UTC)

        async def poll_job(feed_id: int) -> None:
            try:
                summary, stored = await self._poll_stored(feed_id)
            except asyncio.CancelledError:
                # Stopping: a cancelled poll wrote nothing, or was handed to the write thread,
                # which stores it whole before the database closes.
                log.debug("poll of feed %s cancelled by shutdown", feed_id)
                return
            try:
                feed = feeds.get_feed(self.db, feed_id)
            except KeyError:  # it moved to a URL that was already a feed, and was merged into it
                self._follow_merge(scheduler, feed_id, summary.url, poll_job)
                if on_poll is not None:
                    on_poll(summary, None)
                return
            next_poll_at = due_at(feed, self.config.polling, self.now())
            if next_poll_at is None or next_poll_at <= self.now():  # the poll stored nothing (disk full, ...)
                next_poll_at = self.now() + timedelta(seconds=base_interval(feed, self.config.polling))
            schedule.move_next_run(scheduler, feed_id, next_poll_at)
            if on_poll is not None:
                if stored:  # a database fault is told once by the FaultLog, not per feed
                    on_poll(summary, next_poll_at)
            elif summary.error and not summary.skipped and stored:
                log.warning("feed %s (%s): %s", summary.feed_name, summary.url, summary.error)

        active = feeds.active_feeds(self.db)
        starts = schedule.first_runs(active, self.config.polling, self.now(), spread_seconds=min(30.0, len(active) * 0.01))
        for feed in active:
            schedule.add_feed_job(scheduler, feed, self.config.polling, poll_job, starts[feed.id])
        schedule.add_upkeep_job(scheduler, "rules-reload", self._reload_rules, schedule.every(RULES_RELOAD_SECONDS))
        schedule.add_upkeep_job(scheduler, "stories-prune", self._prune_story_bands, schedule.every(3600))
        schedule.add_upkeep_job(scheduler, "fts-index", self._index_for_search, schedule.every(FTS_INDEX_SECONDS))
        for digest in sorted(self.digest_schedules()):
            schedule.add_upkeep_job(scheduler, f"digest-{digest}", self.dispatcher.send_digest,
                                    schedule.digest_trigger(digest, self.config.alerts.daily_digest_hour),
                                    args=(digest, f"{digest} digest"))
        self._stopping = stop
        scheduler.start()
        dispatching = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        watching = asyncio.create_task(self._watch(stop, scheduler), name="watch")
        log.info("monitoring %d feeds with %d rules", len(active), len(self.rules.current.ruleset.rules))
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)  # cancels in-flight polls; each poll's writes are all or nothing
            await asyncio.sleep(0)  # let the cancelled polls unwind before the database closes
            self.dispatcher.stop()  # an in-flight send finishes and is recorded
            await self._stop_dispatcher(dispatching)
            if self.writer is not None:  # what was handed over is stored, unless the database takes no writes
                self.unstored = await asyncio.to_thread(self.writer.close)  # told by stop_message()
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        if self.database_gone is not None:
            raise self.database_gone

    def _follow_merge(self, scheduler: AsyncIOScheduler, feed_id: int, old_url: str,
                      poll_job: Callable[[int], Awaitable[None]]) -> None:
        """The merged feed's job goes; the feed it went into is polled (a removed one comes back)."""
        schedule.remove_feed_job(scheduler, feed_id)
        new_url = feed_moves.moved_to(self.db, old_url)
        target = feeds.feed_by_url(self.db, new_url) if new_url else None
        if target is not None and not schedule.has_feed_job(scheduler, target.id):
            schedule.add_feed_job(scheduler, target, self.config.polling, poll_job, self.now())

    async def _watch(self, stop: asyncio.Event, scheduler: AsyncIOScheduler) -> None:
        """Every WATCH_SECONDS, on the monotonic clock (a job of the scheduler would wait on the
        wall clock it watches): stop when the database file is gone; follow the wall clock back."""
        steps = schedule.WallClockSteps()
        steps.step(time.time(), time.monotonic())
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
            except TimeoutError:
                pass
            gone = self.database_watch.gone() if self.database_watch is not None else None
            if gone is not None and not stop.is_set():
                self.database_gone = gone
                stop.set()
            step = steps.step(time.time(), time.monotonic())
            if step < 0 and not stop.is_set():
                moved = schedule.follow_clock_step_back(scheduler, step)
                log.warning("the wall clock stepped back %.0f s; %d scheduled job(s) moved back with it", -step, moved)

    async def _stop_dispatcher(self, dispatching: asyncio.Task) -> None:
        """Wait for the dispatcher's in-flight send and its record; when the write thread is
        stuck on a lock another process holds, give up its waiting writes (stop in seconds)."""
        while not (await asyncio.wait({dispatching}, timeout=0.2))[0]:
            if self.writer is not None and self.writer.stalled():
                self.writer.abandon()
        await dispatching

    def stop_message(self) -> str:
        """The last line of a daemon run: "stopped cleanly", or what a stop left unstored."""
        return f"stopped; {self.unstored.describe()}" if self.unstored else "stopped cleanly"

    async def _write(self, work: Callable[[sqlite_utils.Database], T], what: str = "database upkeep") -> T | None:
        """Database upkeep goes to the write thread, so the loop never waits for the write lock.
        A fault of the file is told once (FaultLog) and the upkeep tried again on its next run."""
        try:
            if self.writer is None:
                return work(self.db)
            return await self.writer.call(work)
        except DatabaseUnavailableError as error:
            self.faults.failed(error, what)
            return None

    async def _prune_story_bands(self) -> None:
        before = self.now() - timedelta(seconds=self.config.stories.window)

        def prune(db: sqlite_utils.Database) -> int:
            with transaction(db):
                return storage_stories.prune_bands(db, before) + storage_titles.prune_titles(db, before)

        removed = await self._write(prune, "story band pruning")
        log.debug("pruned %d story band keys older than the window", removed)

    async def _index_for_search(self) -> None:
        """Full-text indexing in batches, off the polls' transactions (`hits search` also catches up)."""
        await self._write(articles.index_pending, "search indexing")

    async def _reload_rules(self) -> None:
        self.rules.reload_if_changed()
