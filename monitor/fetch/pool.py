"""Fetch-and-parse worker processes, so polling uses every core.

    main process, event loop                       worker process k, its own event loop
    Pipeline.poll_feed -> FetchPool.poll
      host place (per_host), start time (host_gap), a fetch slot (concurrency)
      --(job, not_before)--> pipe -->              wait until not_before
                                                   Fetcher.fetch      (httpx over aiohttp)
           <-- "fetched": the host place is free    judge_fetch        (body unchanged? skip)
                                                   parse_feed         (only the items not seen before)
           <------ PollOutcome: the fetch without its body, the verdict, the parsed feed

Why: one event loop spends about a millisecond of CPU per HTTP request (httpx,
httpcore, h11), so a single core could not poll 1,000 feeds that all answer 304
much faster than 1.5 s, and parsing already ran in separate processes. Now the
workers fetch as well, and only results cross the pipe: bodies never do.

Any worker may poll any feed: each poll goes to the worker with the fewest fetches
in flight, so a feeds list that lives on one host (a list of Google News searches)
parses on every core. The politeness limits are kept where every poll passes, in
the main process: a poll waits for one of its host's `per_host` places, is given
the time its request may start (`host_gap` after the previous start to that host),
and holds the place until its worker says the fetch is done (before parsing), so
`per_host` and `host_gap` hold across all workers. (Full-text pages are fetched by
the main process's own Fetcher, and the further hops of a redirect by the worker
that followed it, under that worker's own per-host limits.) A worker that dies
fails its polls in flight with a clear error (not counted against the feeds) and
is started again on the next poll.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from monitor.fetch.verdict import FetchVerdict, judge_fetch
from monitor.fetch.fetcher import Fetcher, FetchRequest, FetchResult, HostGate
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
    worker_pid: int = 0  # the process that fetched and parsed it


class _Fetched:
    """Sent ahead of an outcome whose body is still being parsed: the fetch is over."""


class _Ready:
    """Sent once by a worker whose loop is running: from now on it starts a job when told."""


FETCHED = _Fetched()
READY = _Ready()


class FetchWorkerDied(RuntimeError):
    pass


PARSE_ALLOWANCE_SECONDS = 600.0


# --- the worker process -------------------------------------------------------------


def serve_fd(fd: int) -> None:
    """Entry point of a worker process (see _Worker): its end of the pipe is file descriptor
    `fd`; the first message on it is the fetcher's settings."""
    conn = Connection(fd)
    try:
        settings = conn.recv()
    except (EOFError, OSError):
        return  # the main process went away before sending them
    serve(conn, settings)
    # Everything is answered and the pipe is closed: the interpreter's own teardown (a heap of
    # parsed feeds, numpy, httpx) kept `run --once` waiting ~0.5 s for its workers to exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(conn: Connection, fetcher_settings: dict[str, Any]) -> None:
    """Poll jobs from `conn` until it closes."""
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
                for job_id, job, not_before in message:
                    task = loop.create_task(_poll(fetcher, parser, results, job_id, job, not_before))
                    running.add(task)
                    task.add_done_callback(running.discard)

        loop.add_reader(conn.fileno(), on_readable)
        fetcher.prepare()
        results.put((None, READY))  # the main process gives no start times before this
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


async def _poll(fetcher: Fetcher, parser: Executor, results: _Outbox, job_id: int, job: PollJob,
                not_before: float = 0.0) -> None:
    feed = job.feed
    try:
        # The start time the main process gave (time.monotonic is one clock for the machine).
        wait = not_before - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        fetch = await fetcher.fetch(FetchRequest(feed.url, feed.etag, feed.last_modified))
        verdict = judge_fetch(feed, fetch)
        parsed = None
        if verdict.parse:
            results.put((job_id, FETCHED))  # the host's place is free while this body is parsed
            parsed = await asyncio.get_running_loop().run_in_executor(parser, parse_fetched, feed, fetch)
        outcome: PollOutcome | str = PollOutcome(replace(fetch, body=b""), verdict, parsed, os.getpid())
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
        # A fresh interpreter that imports only this module, not multiprocessing's spawn: that
        # imports the parent's __main__ again, which for the console script is the whole
        # command line (the workers were ready ~1.3 s after start, now ~0.6 s). Never fork a
        # process with a running loop and threads. sys.path as the parent's, as spawn did.
        self.conn, child = multiprocessing.Pipe()
        code = f"import sys; sys.path[:] = {sys.path!r}; from monitor.fetch.pool import serve_fd; serve_fd({child.fileno()})"
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL)
        child.close()
        self.conn.send(fetcher_settings)
        self.alive = True
        self.index = index
        self.fetching = 0  # polls sent whose fetch is not over yet
        # Set when the worker's loop runs (spawning and importing take ~1 s): a start time
        # given before then would have passed when it reads it, and host_gap would not hold.
        self.ready = pool._loop.create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        # A poll_all queues hundreds of jobs in one loop iteration: the first 16 leave at
        # once, so the worker's first requests do not wait for the whole batch (~6 ms).
        self.jobs = _Outbox(self.conn, pool._loop, flush_at=16)
        pool._loop.add_reader(self.conn.fileno(), pool._on_results, self)


@dataclass
class _Pending:
    worker: _Worker
    fetched: asyncio.Future  # the fetch is over (the host's place can go to the next poll)
    outcome: asyncio.Future


class FetchPool:
    """`await pool.poll(PollJob(feed))` -> PollOutcome, fetched and parsed in a worker process."""

    def __init__(self, workers: int, fetcher_settings: dict[str, Any]):
        self._loop = asyncio.get_running_loop()
        self._settings = dict(fetcher_settings)
        concurrency = fetcher_settings.get("concurrency", 32)
        # The worker with the fewest fetches in flight gets each poll, so none has more than its share.
        self._settings["concurrency"] = max(1, math.ceil(concurrency / workers))
        self._slots = asyncio.Semaphore(concurrency)
        self._hosts = HostGate(fetcher_settings.get("per_host", 2), fetcher_settings.get("host_gap", 0.5))
        # The fetch has its own deadline; parsing a body up to the cap gets ten minutes more.
        self._deadline = float(fetcher_settings.get("timeout", 30.0)) + PARSE_ALLOWANCE_SECONDS
        self._ids = itertools.count()
        self._pending: dict[int, _Pending] = {}
        self._workers = [_Worker(i, self._settings, self) for i in range(workers)]
        self._closed = False

    async def poll(self, job: PollJob) -> PollOutcome:
        if self._closed:
            raise RuntimeError("the fetch pool is closed")
        host = urlsplit(job.feed.url).hostname or ""
        job_id = next(self._ids)
        try:
            async with asyncio.timeout(self._deadline):
                # A worker that stops answering (a parse that never ends) must not hold the poll forever.
                async with self._hosts.semaphore(host), self._slots:
                    worker = await self._ready_worker()
                    pending = self._send(worker, job_id, job, self._hosts.reserve(host))
                    try:
                        await pending.fetched
                    finally:
                        pending.worker.fetching -= 1
                return await pending.outcome
        except TimeoutError:
            raise FetchWorkerDied(f"fetch worker gave no answer within {self._deadline:g}s") from None
        finally:
            self._pending.pop(job_id, None)

    async def _ready_worker(self) -> _Worker:
        """The running worker with the fewest fetches in flight (dead ones are started again)."""
        for index, worker in enumerate(self._workers):
            if not worker.alive:
                log.warning("fetch worker %d had died; starting it again", index)
                self._workers[index] = _Worker(index, self._settings, self)
        while True:
            ready = [w for w in self._workers if w.alive and w.ready.done() and not w.ready.exception()]
            if ready:
                return min(ready, key=lambda w: w.fetching)
            starting = [w.ready for w in self._workers if w.alive and not w.ready.done()]
            if not starting:
                failed = [w.ready.exception() for w in self._workers if w.ready.done() and w.ready.exception()]
                raise failed[0] if failed else FetchWorkerDied("no fetch worker process could be started")
            await asyncio.wait(starting, return_when=asyncio.FIRST_COMPLETED)

    def _send(self, worker: _Worker, job_id: int, job: PollJob, not_before: float) -> _Pending:
        pending = _Pending(worker, self._loop.create_future(), self._loop.create_future())
        self._pending[job_id] = pending
        worker.fetching += 1
        worker.jobs.put((job_id, job, not_before))
        return pending

    def _on_results(self, worker: _Worker) -> None:
        for message in _received(worker.conn):
            if message is None:
                self._loop.remove_reader(worker.conn.fileno())
                worker.conn.close()
                self._worker_died(worker)
                return
            self._settle(worker, message)

    def _settle(self, worker: _Worker, batch: list[tuple[int | None, PollOutcome | _Fetched | _Ready | str]]) -> None:
        for job_id, outcome in batch:
            if job_id is None:  # READY
                if not worker.ready.done():
                    worker.ready.set_result(None)
                continue
            pending = self._pending.get(job_id)
            if pending is None or pending.outcome.done():  # cancelled meanwhile
                continue
            if not pending.fetched.done():
                pending.fetched.set_result(None)
            if outcome is FETCHED or isinstance(outcome, _Fetched):
                continue
            if isinstance(outcome, str):
                pending.outcome.set_exception(RuntimeError(f"fetch worker failed: {outcome}"))
            else:
                pending.outcome.set_result(outcome)

    def _worker_died(self, worker: _Worker) -> None:
        worker.alive = False
        if self._closed:
            return
        code = _exit_code(worker.process)
        if not worker.ready.done():
            worker.ready.set_exception(FetchWorkerDied(f"fetch worker process died while starting (exit code {code})"))
        log.error("fetch worker %d died (exit code %s); its polls in flight fail and will be retried", worker.index, code)
        for pending in list(self._pending.values()):
            if pending.worker is worker and not pending.outcome.done():
                if not pending.fetched.done():
                    pending.fetched.set_result(None)  # over: the outcome says how
                pending.outcome.set_exception(FetchWorkerDied(f"fetch worker process died (exit code {code})"))

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
            if worker.alive and not worker.ready.done():
                # Still starting (a start stopped by a rules error): nothing to finish, and
                # it would read the goodbye only once its imports are done (~1.5 s).
                worker.process.terminate()
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.process.terminate()
                worker.process.wait(timeout=5)
            if worker.alive:
                worker.conn.close()


def _exit_code(process: subprocess.Popen) -> int | None:
    """The exit code of a worker whose pipe just closed (it may take a moment to be reaped)."""
    try:
        return process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        return None
