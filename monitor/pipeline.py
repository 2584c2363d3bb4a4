"""The ingest pipeline: one feed poll from fetch to committed outbox rows.

    feed   = storage.feeds.get_feed(id)
    fetch  = await fetcher.fetch(url, etag, last_modified)       # network, never raises
    verdict = judge_fetch(feed, fetch)                           # pure: parse or not? (fetch/verdict.py)
    parsed = await worker(parse_fetched, feed, fetch)            # CPU, in a fetch worker process
    await writer.submit(store_polls, PollWrite(...))             # on the write thread (monitor/writer.py):
        with transaction(db):                                    #   several polls per transaction,
          with savepoint(db):                                    #   each poll all-or-nothing
            new, updated = storage.articles.ingest_entries(...)
            matches = rules.match(new + updated)
            hits = storage.hits.insert_hits(...)                 # one per (rule, article)
            routing.place_hit(hit, story, channel)               # pure: join, open or covered
            storage.deliveries.open_notification / join ...      # the outbox: one per (story, channel)
            storage.feeds.record_poll(decide.poll_record(...))
    dispatcher.wake()                                            # alerts leave after commit

Decisions live in `decide.py`, `routing.py` and `fetch/verdict.py`; this module only orchestrates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlite_utils

from monitor import decide, routing, stories
from monitor.config import Config
from monitor.fetch.fetcher import FetchRequest, FetchResult, Fetcher
from monitor.fetch.pool import FetchPool, FetchWorkerDied, PollJob, parse_fetched
from monitor.fetch.verdict import FetchVerdict, judge_fetch
from monitor.fetch.fulltext import add_full_text
from monitor.fetch.outage import FetchOutcome, OutageDetector
from monitor.parse.feed import ParsedFeed
from monitor.parse.signature import signature_of
from monitor.rulesource import LoadedRules, RulesHolder
from monitor.writer import WriteThread
from rules import parse_duration as parse_rule_duration  # the parser that validated the rule
from rules.types import Document
from storage import articles, deliveries, feeds, hits, savepoint, transaction
from storage.db import is_file_fault
from storage import stories as storage_stories
from storage import titles as storage_titles
from storage.types import Article, Feed, Hit, IngestResult, MatchedTerm, PollRecord

log = logging.getLogger("minerals_monitor.poll")


@dataclass(frozen=True)
class PollSummary:
    feed_id: int
    feed_name: str
    url: str
    success: bool
    http_status: int | None
    new_articles: int = 0
    updated_articles: int = 0
    hits: int = 0
    error: str | None = None
    warning: str | None = None
    skipped: bool = False  # disabled feed, not polled


@dataclass(frozen=True)
class PollWrite:
    """What one poll stores: its new entries and its poll record."""

    feed_id: int
    entries: list[Article]
    record: PollRecord
    now: datetime


StoredPoll = tuple[IngestResult, list[Hit]]


def document_for(article: Article) -> Document:
    return Document(title=article.title, summary=article.summary, content=article.content, feed=article.feed_name)


def match_articles(loaded: LoadedRules, batch: list[Article]) -> list[Hit]:
    """Hits for a batch of articles (pure)."""
    found: list[Hit] = []
    for article in batch:
        for match in loaded.matcher.match(document_for(article)):
            rule = loaded.by_id[match.rule_id]
            terms = tuple(MatchedTerm(term=t.term, field=t.field, start=t.start, end=t.end, text=t.text) for t in match.terms)
            found.append(
                Hit(rule_id=rule.id, article_id=article.id, severity=rule.severity, terms=terms, rule_name=rule.display_name)
            )
    return found


class Pipeline:
    def __init__(
        self,
        db: sqlite_utils.Database,
        config: Config,
        fetcher: Fetcher,
        rules: RulesHolder,
        *,
        executor: Executor | None = None,
        on_commit: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        writer: WriteThread | None = None,
        fetch_pool: FetchPool | None = None,
        max_in_flight: int | None = None,
    ):
        """`writer`: store on this write thread instead of on the loop's connection.
        `fetch_pool`: fetch and parse feeds in worker processes instead of here.
        `max_in_flight`: polls between fetch start and stored (default twice the fetch
        concurrency), so fetched bodies never pile up ahead of parsing and storing."""
        self.db = db
        self.writer = writer
        self.fetch_pool = fetch_pool
        self.config = config
        self.fetcher = fetcher
        self.rules = rules
        self.executor = executor
        self.on_commit = on_commit
        self.now = now
        self.rng = rng or random.Random()
        self.outages = OutageDetector()
        self.max_in_flight = max_in_flight or 2 * config.polling.concurrency
        self._in_flight = asyncio.Semaphore(self.max_in_flight)

    async def poll_feed(self, feed_id: int) -> PollSummary:
        async with self._in_flight:
            return await self._poll_feed(feed_id)

    async def _poll_feed(self, feed_id: int) -> PollSummary:
        feed = feeds.get_feed(self.db, feed_id)
        if feed.disabled_reason:
            return PollSummary(feed.id, feed.name, feed.url, False, feed.http_status, error=feed.disabled_reason, skipped=True)
        if self.fetch_pool is not None:
            return await self._poll_in_worker(feed)
        fetch = await self.fetcher.fetch(FetchRequest(feed.url, feed.etag, feed.last_modified))
        return await self.handle_fetch(feed, fetch, counts_as_failure=self._note_outcome(feed, fetch))

    async def _poll_in_worker(self, feed: Feed) -> PollSummary:
        """Fetch and parse in a worker process (monitor/fetch/pool.py); store here."""
        try:
            outcome = await self.fetch_pool.poll(PollJob(feed))
        except (FetchWorkerDied, RuntimeError) as error:  # our failure, not the feed's
            fetch = FetchResult(url=feed.url, error=str(error))
            return await self.finish_poll(feed, fetch, FetchVerdict(parse=False), None, counts_as_failure=False)
        counts = self._note_outcome(feed, outcome.fetch)
        return await self.finish_poll(feed, outcome.fetch, outcome.verdict, outcome.parsed, counts_as_failure=counts)

    def _note_outcome(self, feed: Feed, fetch: FetchResult) -> bool:
        """Feed the outage detector; True when this failure counts against the feed."""
        outcome = FetchOutcome(time.monotonic(), urlsplit(feed.url).hostname or "", fetch.network_error)
        if self.outages.record(outcome):
            log.error(
                "network outage: most recent fetches across several hosts got no answer (last: %s); "
                "until it ends, failures are not counted against the feeds",
                fetch.error,
            )
        return self.outages.counts_against_feed(outcome)

    async def handle_fetch(self, feed: Feed, fetch: FetchResult, counts_as_failure: bool = True) -> PollSummary:
        verdict = judge_fetch(feed, fetch)
        parsed: ParsedFeed | None = None
        if verdict.parse:
            parsed = await self._parse(feed, fetch)
        return await self.finish_poll(feed, fetch, verdict, parsed, counts_as_failure)

    async def finish_poll(
        self, feed: Feed, fetch: FetchResult, verdict: FetchVerdict, parsed: ParsedFeed | None, counts_as_failure: bool
    ) -> PollSummary:
        now = self.now()
        record = decide.poll_record(feed, fetch, verdict, parsed, self.config.polling, now, self.rng, counts_as_failure)
        entries = list(parsed.articles) if parsed and not parsed.error else []
        if entries and feed.full_text:
            entries, full_text_warning = await self._with_full_text(feed, entries)
            if full_text_warning:
                record = replace(record, warning="; ".join(w for w in (record.warning, full_text_warning) if w))
        result, inserted = await self._store(PollWrite(feed.id, entries, record, now))
        if record.new_url:
            self._tell_move(feed, record.new_url)
        if record.disabled_reason:
            log.warning("feed %s disabled: %s", feed.url, record.disabled_reason)
        if record.error:
            log.info("feed %s: %s", feed.url, record.error)
        return PollSummary(
            feed_id=feed.id,
            feed_name=feed.name,
            url=feed.url,
            success=record.success,
            http_status=fetch.status,
            new_articles=len(result.new),
            updated_articles=len(result.updated),
            hits=len(inserted),
            error=record.error,
            warning=record.warning,
        )

    def _tell_move(self, feed: Feed, new_url: str) -> None:
        """Told once, at the move: the next polls go to the new URL (storage/feed_moves.py)."""
        polled_there = feeds.feed_by_url(self.db, new_url)
        if polled_there is not None and polled_there.id != feed.id:
            outcome = f"merged into feed {polled_there.id} ({polled_there.name}), which was already polled there"
        else:
            outcome = "polled there from now on"
        if feed.url in {spec.url for spec in self.config.feeds}:
            outcome += f"; the config lists {feed.url}: change it to {new_url} (`feeds list` says so until then)"
        log.warning("feed %s moved permanently to %s; %s", feed.url, new_url, outcome)

    def store_poll(self, feed_id: int, entries: list[Article], record: PollRecord, now: datetime) -> StoredPoll:
        """Store one poll on this pipeline's own connection, then wake the dispatcher."""
        (outcome,) = self.store_polls(self.db, [PollWrite(feed_id, entries, record, now)])
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome[1]:
            self.on_commit()
        return outcome

    async def _store(self, write: PollWrite) -> StoredPoll:
        if self.writer is None:
            return self.store_poll(write.feed_id, write.entries, write.record, write.now)
        stored = await self.writer.submit(self.store_polls, write)
        if stored[1]:
            self.on_commit()
        return stored

    def store_polls(self, db: sqlite_utils.Database, writes: list[PollWrite]) -> list[StoredPoll | Exception]:
        """ONE transaction for several polls, each in a savepoint: a poll's new articles, their
        stories, hits and outbox rows, and its poll record, all or nothing. No await inside:
        runs on the write thread (or inline), never half-way when a poll is cancelled."""
        outcomes: list[StoredPoll | Exception] = []
        with transaction(db):
            for write in writes:
                try:
                    with savepoint(db):
                        outcomes.append(self._store_one(db, write))
                except Exception as error:  # this poll's problem; the others of the batch still commit
                    # SQLite rolled back everything, or the file itself failed (disk full, I/O): fail the batch
                    if not db.conn.in_transaction or is_file_fault(error):
                        raise
                    log.exception("storing the poll of feed %s failed", write.feed_id)
                    outcomes.append(error)
        return outcomes

    def _store_one(self, db: sqlite_utils.Database, write: PollWrite) -> StoredPoll:
        result = articles.ingest_entries(db, write.feed_id, write.entries, write.now)
        new = self._group_into_stories(db, list(result.new), write.now)
        inserted = self._record_hits(db, new, list(result.updated), write.now)
        feeds.record_poll(db, write.feed_id, write.record)
        return result, inserted

    async def _with_full_text(self, feed: Feed, entries: list[Article]) -> tuple[list[Article], str | None]:
        """Fetch the pages of new entries (content_hash stays the feed's, so the next poll sees no change)."""
        new_keys = articles.unknown_entry_keys(self.db, feed.id, [e.entry_key for e in entries])
        fresh = [e for e in entries if e.entry_key in new_keys]
        if not fresh:
            return entries, None
        outcome = await add_full_text(
            fresh, self.fetcher, allow_private_addresses=self.config.polling.allow_private_addresses, executor=self.executor
        )
        enriched = {a.entry_key: a for a in outcome.articles}
        warning = None
        if outcome.failures:
            warning = f"full text failed for {len(outcome.failures)} of {len(fresh)} new entries (kept the summary): {outcome.failures[0]}"
        return [enriched.get(e.entry_key, e) for e in entries], warning

    async def _parse(self, feed: Feed, fetch: FetchResult) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        try:
            if self.executor is None:
                return await asyncio.to_thread(parse_fetched, feed, fetch)
            return await loop.run_in_executor(self.executor, parse_fetched, feed, fetch)
        except Exception as error:  # a crashed worker process is this feed's error, not the monitor's
            log.exception("parsing %s failed", feed.url)
            return ParsedFeed(error=f"parser crashed: {type(error).__name__}: {error}")

    def _group_into_stories(self, db: sqlite_utils.Database, new: list[Article], now: datetime) -> list[Article]:
        """Give each new article its story: a near-identical one seen within the window, else its own.

        One lookup of band key holders per poll (all band keys at once), then the signatures of
        only those holders that can be candidates (boilerplate keys find none); articles of the
        same poll are compared with each other in memory. The band keys are stored last, with
        each article's final story (after title grouping).
        """
        settings = self.config.stories
        if not settings.enabled or not new:
            return new
        signed = [
            (article, signature_of(article.title, article.summary, article.content, article.story_signature,
                                  article.story_band_keys))
            for article in new
        ]
        keys = sorted({key for _, sig in signed if sig for key in sig.band_keys})
        since = now - timedelta(seconds=settings.window)
        holders = stories.BandHolders(storage_stories.band_holders(db, keys, since), storage_stories.window_start(db, since))
        signature_bytes = storage_stories.signatures(db, holders.worth_comparing())
        grouped, stored_keys, joined = [], {}, []
        for article, sig in signed:
            if sig is None:
                grouped.append(article)
                continue
            found = [(article_id, story_id, signature_bytes[article_id])
                     for article_id, story_id in holders.candidates(sig.band_keys) if article_id in signature_bytes]
            story_id = stories.best_story(sig, found, settings.threshold)
            if story_id is not None and story_id != article.story_id:
                joined.append((article.id, story_id))
                article = replace(article, story_id=story_id)
            signature_bytes[article.id] = article.story_signature or sig.to_bytes()
            # Later articles of this poll may join this one's story through its keys, but for the
            # boilerplate ones: a busy footer key keeps the holders that made it boilerplate, and
            # half of a templated corpus's band rows are never written (bench/bench_stories.py).
            stored_keys[article.id] = holders.add(article.id, article.story_id, sig.band_keys)
            grouped.append(article)
        storage_stories.join_stories(db, joined)
        grouped = self._group_by_title(db, grouped, now)
        story_of = {article.id: article.story_id for article in grouped}
        storage_stories.add_signatures(
            db, [(article.id, story_of[article.id], signature_bytes[article.id], stored_keys[article.id])
                 for article, sig in signed if sig is not None], now)
        return grouped

    def _group_by_title(self, db: sqlite_utils.Database, new: list[Article], now: datetime) -> list[Article]:
        """An article that joined no story by its text, and has no text but its title (or whose
        story-mate has none: an aggregator item), joins the story of the same title (monitor/stories.py)."""
        keyed = [(article, stories.title_key(article.title)) for article in new]
        keys = sorted({key for _, key in keyed if key})
        if not keys:
            return new
        since = now - timedelta(seconds=self.config.stories.window)
        # Two articles are compared by title only when one of them has no text but its title
        # (stories.title_story), so an article with text needs only the title-only holders of
        # its key: templated titles (price reports) share a key with thousands of full-text
        # articles, and reading and skipping all of them made story grouping triple a cold
        # boilerplate poll (bench/bench_e2e.py). Same result, fewer rows.
        any_holder_keys = sorted({key for article, key in keyed if key and article.title_only})
        all_holders: dict[str, list[tuple[int, str, bool]]] = {}
        title_only_holders: dict[str, list[tuple[int, str, bool]]] = {}
        for key, _article_id, story_id, title, title_only in storage_titles.title_candidates(db, any_holder_keys, since):
            all_holders.setdefault(key, []).append((story_id, title, title_only))
        for key, _article_id, story_id, title, title_only in storage_titles.title_candidates(db, keys, since, title_only=True):
            title_only_holders.setdefault(key, []).append((story_id, title, title_only))
        grouped, rows = [], []
        for article, key in keyed:
            if key is not None:
                holders = (all_holders if article.title_only else title_only_holders).get(key)
                if holders and article.story_id == article.id:  # joined no story by its text
                    story_id = stories.title_story(article.title, article.title_only, holders)
                    if story_id is not None and story_id != article.story_id:
                        storage_stories.join_story(db, article.id, story_id)
                        article = replace(article, story_id=story_id)
                holder = (article.story_id, article.title, article.title_only)
                all_holders.setdefault(key, []).append(holder)
                if article.title_only:
                    title_only_holders.setdefault(key, []).append(holder)
                rows.append((key, article.id, article.title_only))
            grouped.append(article)
        storage_titles.add_titles(db, rows, now)
        return grouped

    def _record_hits(self, db: sqlite_utils.Database, new: list[Article], updated: list[Article], now: datetime) -> list[Hit]:
        """Match, store hits and their outbox rows; inside the poll's transaction.

        Routes, mutes, throttles and digests act per rule first (routing.plan_delivery). Then,
        with `group_by = "story"`, an immediate hit goes into its story's notification on that
        channel (routing.place_hit): it joins the one still collecting, opens the first one, or
        opens an update when it raises the story's severity; otherwise it is stored and listed
        but sends nothing. With `group_by = "rule"`: one notification per (rule, story, channel).
        """
        by_id = {a.id: a for a in new + updated}
        loaded = self.rules.current  # one version of the rules for the whole poll (a reload may swap it meanwhile)
        found = [replace(hit, story_id=by_id[hit.article_id].story_id) for hit in match_articles(loaded, new + updated)]
        inserted = hits.insert_hits(db, found, now)  # an updated article re-alerts only for new rules
        if not inserted:
            return inserted
        settings = self.config.alerts
        mutes = deliveries.active_mutes(db, now)
        for hit in inserted:
            rule = loaded.by_id[hit.rule_id]
            story = hit.story_id if hit.story_id is not None else hit.article_id
            seen_in_story: bool | None = None  # has this rule already hit another article of the story?
            for route in routing.routes_for(rule, settings):
                throttled = bool(rule.throttle) and deliveries.immediate_since(
                    db, rule.id, route.channel, now - parse_rule_duration(rule.throttle)
                )
                plan = routing.plan_delivery(route, rule, by_id[hit.article_id], settings, now,
                                             muted=rule.id in mutes, throttled=throttled)
                if plan.status == "pending" and settings.group_by == "story":
                    self._notify(db, hit, plan.channel, story, now)
                    continue
                if seen_in_story is None:
                    seen_in_story = hit.story_id is not None and storage_stories.story_alerted(
                        db, rule.id, hit.story_id, hit.article_id)
                if seen_in_story:
                    continue  # one per (rule, story, channel): a later outlet's copy is listed, not sent
                key = None
                if plan.status == "pending":
                    key = deliveries.notification_key(plan.channel, deliveries.story_key(db, story), 0, rule_id=rule.id)
                deliveries.enqueue(db, hit.id, plan.channel, now, plan.status, rule_id=rule.id, digest=plan.digest,
                                   idempotency_key=key, story_id=story, severity=hit.severity)
        return inserted

    def _notify(self, db: sqlite_utils.Database, hit: Hit, channel: str, story: int, now: datetime) -> None:
        """Put an immediate hit into its story's notification on `channel` (see routing.place_hit)."""
        collecting = deliveries.collecting(db, story, channel)
        notified = None if collecting else deliveries.notified(db, story, channel)
        placement = routing.place_hit(hit.severity, collecting, notified, self.config.alerts.notify_updates)
        if placement.action == "join":
            deliveries.join_notification(db, placement.delivery_id, hit.id, hit.severity, collecting[1])
        elif placement.action == "open":
            key = deliveries.notification_key(channel, deliveries.story_key(db, story), placement.update_number)
            deliveries.open_notification(
                db, hit_id=hit.id, rule_id=hit.rule_id, channel=channel, story_id=story, severity=hit.severity,
                now=now, send_at=now + timedelta(seconds=self.config.alerts.group_wait), idempotency_key=key,
                update_number=placement.update_number, raised_from=placement.raised_from,
            )
