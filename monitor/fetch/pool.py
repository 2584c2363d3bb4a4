"""Fetch-and-parse worker processes, so polling uses every core.

    main process, event loop                     worker process k, its own event loop
    Pipeline.poll_feed --(PollJob)--> pipe -->   Fetcher.fetch      (httpx, concurrency / k slots)
                                                 judge_fetch        (body unchanged? skip)
                                                 parse_feed         (only the items not seen before)
           <------ PollOutcome: the fetch without its body, the verdict, the parsed feed

Why: one event loop spends about a millisecond of CPU per HTTP request (httpx,
httpcore, h11), so a single core could not poll 1,000 feeds that all answer 304
much faster than 1.5 s, and parsing already ran in separate processes. Now the
workers fetch as well, and only results cross the pipe: bodies never do.

Each host belongs to one worker (given to the worker with the fewest feeds
when first seen), so `per_host` and `host_gap` hold for feed polls as they do
in one process. (Full-text pages are fetched by the main process's own Fetcher,
and a redirect to another host is fetched by the first host's worker: both
keep their own limits.) A worker that dies fails
its polls in flight with a clear error (not counted against the feeds) and
is started again on the next poll.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import multiprocessing
import queue
import signal
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from monitor.fetch.verdict import FetchVerdict, judge_fetch
from monitor.fetch.fetcher import Fetcher, FetchRequest, FetchResult
from monitor.parse.feed import ParsedFeed, parse_feed
from storage.types import Feed

log = logging.getLogger("minerals_monitor.fetchpool")


@dataclass(frozen=True)
class PollJob:
    feed: Feed  # url, validators, last body hash and item digests


@dataclass(frozen=True)
class PollOutcome:
    fetch: FetchResult  # body dropped: it was parsed where it arrived
    verdict: FetchVerdict
    parsed: ParsedFeed | None


class FetchWorkerDied(RuntimeError):
    pass


PARSE_ALLOWANCE_SECONDS = 600.0


# --- the worker process -------------------------------------------------------------


def serve(conn: Connection, fetcher_settings: dict[str, Any]) -> None:
    """Entry point of a worker process: poll jobs from `conn` until it closes."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the main process
    # stops the workers by closing their pipes (or they see it gone), so a worker ignores
    # both and no poll in flight is reported as a dead worker during an ordinary stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_serve(conn, fetcher_settings))


async def _serve(conn: Connection, fetcher_settings: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    running: set[asyncio.Task] = set()
    results = _Outbox(conn, loop, threaded=True)
    # Parsing in a thread: a long parse (a 10,000-item feed takes seconds) must not hold
    # the loop, or other fetches in flight would miss their deadlines. One thread: parses
    # queue up rather than compete.
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-worker-parse")
    async with Fetcher(**fetcher_settings) as fetcher:

        def on_readable() -> None:
            for message in _received(conn):
                if message is None:
                    if not done.done():
                        done.set_result(None)
                    return
                for job_id, job in message:
                    task = loop.create_task(_poll(fetcher, parser, results, job_id, job))
                    running.add(task)
                    task.add_done_callback(running.discard)

        loop.add_reader(conn.fileno(), on_readable)
        await done
        loop.remove_reader(conn.fileno())
        for task in running:
            task.cancel()
        # Wound down before the fetcher closes, so none opens a connection after it.
        await asyncio.gather(*running, return_exceptions=True)
    parser.shutdown(wait=False, cancel_futures=True)


def _received(conn: Connection) -> list[Any]:
    """Every message waiting on `conn` (None for end of input)."""
    messages: list[Any] = []
    try:
        while conn.poll():
            messages.append(conn.recv())
    except (EOFError, OSError):
        messages.append(None)
    return messages


class _Outbox:
    """Messages for the other side, sent as one list per loop iteration (fewer wake-ups there).

    Deadlock-free: the worker sends its (large) results from a thread of its own, so its
    loop always keeps reading jobs; the main process sends small job lists from its loop
    (at most 2 x concurrency polls are in flight) and reads results whenever they arrive.
    """

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, threaded: bool = False, flush_at: int = 0):
        self.conn = conn
        self.loop = loop
        self.flush_at = flush_at  # also send once this many are waiting, not only at the end of the iteration
        self.items: list[Any] = []
        self._queue: queue.SimpleQueue | None = None
        if threaded:
            self._queue = queue.SimpleQueue()
            threading.Thread(target=self._send_forever, name="fetch-worker-results", daemon=True).start()

    def put(self, item: Any) -> None:
        if not self.items:
            self.loop.call_soon(self.flush)
        self.items.append(item)
        if self.flush_at and len(self.items) >= self.flush_at:
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        items, self.items = self.items, []
        if self._queue is not None:
            self._queue.put(items)
        else:
            self._send(items)

    def _send_forever(self) -> None:
        while True:
            self._send(self._queue.get())

    def _send(self, items: list[Any]) -> None:
        try:
            self.conn.send(items)
        except (OSError, ValueError):  # the other side went away
            pass
        except Exception as error:  # e.g. a result that cannot be pickled: fail those jobs, not the pipe
            for job_id, _ in items:
                try:
                    self.conn.send([(job_id, f"result could not be sent: {type(error).__name__}: {error}")])
                except Exception:
                    pass


async def _poll(fetcher: Fetcher, parser: Executor, results: _Outbox, job_id: int, job: PollJob) -> None:
    feed = job.feed
    try:
        fetch = await fetcher.fetch(FetchRequest(feed.url, feed.etag, feed.last_modified))
        verdict = judge_fetch(feed, fetch)
        parsed = await asyncio.get_running_loop().run_in_executor(parser, parse_fetched, feed, fetch) if verdict.parse else None
        outcome: PollOutcome | str = PollOutcome(replace(fetch, body=b""), verdict, parsed)
    except Exception as error:  # a bug of ours: this poll's error, never the worker's end
        outcome = f"{type(error).__name__}: {error}"
    results.put((job_id, outcome))


def parse_fetched(feed: Feed, fetch: FetchResult) -> ParsedFeed:
    """A fetched body parsed for its feed (only the items new since `feed.item_digests`);
    also what the pipeline runs when there are no worker processes."""
    try:
        return parse_feed(fetch.body, fetch.headers, feed.id, feed.name, fetch.final_url or feed.url, feed.item_digests)
    except Exception as error:  # parse_feed never raises for bad input; this guards against its bugs
        return ParsedFeed(error=f"parser crashed: {type(error).__name__}: {error}")


# --- the main process side ----------------------------------------------------------


class _Worker:
    def __init__(self, index: int, fetcher_settings: dict[str, Any], pool: FetchPool):
        context = multiprocessing.get_context("spawn")  # never fork a process with a running loop
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, fetcher_settings), daemon=True,
                                       name=f"minerals-fetch-{index}")
        self.process.start()
        child.close()
        self.alive = True
        self.index = index
        # A poll_all queues hundreds of jobs in one loop iteration: the first 16 leave at
        # once, so the worker's first requests do not wait for the whole batch (~6 ms).
        self.jobs = _Outbox(self.conn, pool._loop, flush_at=16)
        pool._loop.add_reader(self.conn.fileno(), pool._on_results, self)


class FetchPool:
    """`await pool.poll(PollJob(feed))` -> PollOutcome, fetched and parsed in a worker process."""

    def __init__(self, workers: int, fetcher_settings: dict[str, Any]):
        self._loop = asyncio.get_running_loop()
        self._settings = dict(fetcher_settings)
        self._settings["concurrency"] = max(1, math.ceil(fetcher_settings["concurrency"] / workers))
        # The fetch has its own deadline; parsing a body up to the cap gets ten minutes more.
        self._deadline = float(fetcher_settings.get("timeout", 30.0)) + PARSE_ALLOWANCE_SECONDS
        self._ids = itertools.count()
        self._pending: dict[int, tuple[asyncio.Future, _Worker]] = {}
        self._workers = [_Worker(i, self._settings, self) for i in range(workers)]
        self._worker_of_host: dict[str, int] = {}
        self._feeds_per_worker = [0] * workers
        self._closed = False

    async def poll(self, job: PollJob) -> PollOutcome:
        if self._closed:
            raise RuntimeError("the fetch pool is closed")
        worker = self._worker_for(urlsplit(job.feed.url).hostname or "")
        job_id = next(self._ids)
        future = self._loop.create_future()
        self._pending[job_id] = (future, worker)
        try:
            worker.jobs.put((job_id, job))
            # A worker that stops answering (a parse that never ends) must not hold the poll forever.
            async with asyncio.timeout(self._deadline):
                return await future
        except TimeoutError:
            raise FetchWorkerDied(f"fetch worker gave no answer within {self._deadline:g}s") from None
        finally:
            self._pending.pop(job_id, None)

    def _worker_for(self, host: str) -> _Worker:
        index = self._worker_of_host.get(host)
        if index is None:
            index = min(range(len(self._workers)), key=self._feeds_per_worker.__getitem__)
            self._worker_of_host[host] = index
        self._feeds_per_worker[index] += 1  # polls, a fair stand-in for feeds over time
        worker = self._workers[index]
        if not worker.alive:
            log.warning("fetch worker %d had died; starting it again", index)
            worker = self._workers[index] = _Worker(index, self._settings, self)
        return worker

    def _on_results(self, worker: _Worker) -> None:
        for message in _received(worker.conn):
            if message is None:
                self._loop.remove_reader(worker.conn.fileno())
                worker.conn.close()
                self._worker_died(worker)
                return
            self._settle(message)

    def _settle(self, batch: list[tuple[int, PollOutcome | str]]) -> None:
        for job_id, outcome in batch:
            entry = self._pending.get(job_id)
            if entry is None or entry[0].done():  # cancelled meanwhile
                continue
            if isinstance(outcome, str):
                entry[0].set_exception(RuntimeError(f"fetch worker failed: {outcome}"))
            else:
                entry[0].set_result(outcome)

    def _worker_died(self, worker: _Worker) -> None:
        worker.alive = False
        if self._closed:
            return
        code = worker.process.exitcode
        log.error("fetch worker %d died (exit code %s); its polls in flight fail and will be retried", worker.index, code)
        for future, owner in list(self._pending.values()):
            if owner is worker and not future.done():
                future.set_exception(FetchWorkerDied(f"fetch worker process died (exit code {code})"))

    def close(self) -> None:
        """Stop the workers (polls in flight are dropped: they wrote nothing)."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            if not worker.alive:
                continue
            self._loop.remove_reader(worker.conn.fileno())
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            if worker.alive:
                worker.conn.close()
