"""The write thread: one thread owns the write connection, so storing never runs on the event loop.

    poll coroutine --(submit)--> queue --> write thread: BEGIN; store poll 1..k; COMMIT
           ^                                   |
           +------ future resolved <-----------+  (loop.call_soon_threadsafe)

Why a thread and not the loop: a poll's store (SQL, story grouping, matching) takes
milliseconds, and thousands of them back to back stalled the loop for seconds,
delaying every fetch in flight. On a thread the loop gets its turn at least every
few milliseconds (the GIL's switch interval), and SQLite releases the GIL while it
reads and writes.

Why batches: polls that queued up while the previous batch ran are stored in ONE
transaction, each inside its own SAVEPOINT (a poll that fails rolls back alone).
Every poll is still all-or-nothing; a commit (an fsync-free WAL append with
synchronous=NORMAL, but still a write of every dirty page) is paid once per batch,
not once per poll.
"""

from __future__ import annotations

import asyncio
import logging
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlite_utils

from storage import open_database
from storage.checkpoint import disable_auto_checkpoint
from storage.exceptions import StorageError

log = logging.getLogger("minerals_monitor.writer")

Item = TypeVar("Item")
Result = TypeVar("Result")

# A batch handler: stores several items in one transaction, returns one result
# (or the exception that item raised) per item, in order.
BatchHandler = Callable[[sqlite_utils.Database, list[Any]], list[Any]]

MAX_BATCH = 32  # polls per transaction: bounds how long the write lock is held at once


@dataclass
class _Job(Generic[Item]):
    handler: BatchHandler
    item: Item
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop = field(repr=False)


_STOP = object()
URGENT, NORMAL, LAST = 0, 1, 2


class WriteThread:
    """Runs batch handlers on a connection of its own, in a thread of its own.

    `await submit(handler, item)` returns that item's result. Consecutive jobs for
    the same handler are handed over together (at most `max_batch`).
    `close()` stores what was already submitted, then stops the thread.
    """

    def __init__(self, path: str | Path, *, max_batch: int = MAX_BATCH):
        self.db = open_database(path)
        disable_auto_checkpoint(self.db)  # the background checkpointer does it, off the write path
        self.max_batch = max_batch
        # (priority, sequence, job): urgent work (the dispatcher's records) goes before queued
        # polls; the sequence keeps order within a priority.
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._sequence = itertools.count()
        self._held: _Job | None = None  # a job of another handler, taken while filling a batch
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="minerals-writer", daemon=True)
        self._thread.start()

    async def submit(self, handler: BatchHandler, item: Any, *, urgent: bool = False) -> Any:
        if self._closed:
            raise RuntimeError("the write thread is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(URGENT if urgent else NORMAL, _Job(handler, item, future, loop))
        return await future

    async def call(self, work: Callable[[sqlite_utils.Database], Any], *, urgent: bool = False) -> Any:
        """Run `work(db)` on the write thread (it opens its own transactions); `urgent` work
        goes before the polls waiting to be stored."""
        return await self.submit(_call_each, work, urgent=urgent)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for the thread (the web console's /metrics)."""
        return self._queue.qsize()

    def _put(self, priority: int, job: object) -> None:
        self._queue.put((priority, next(self._sequence), job))

    def _take(self, block: bool = True) -> object:
        return self._queue.get(block)[2]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._put(LAST, _STOP)
        self._thread.join()
        self.db.close()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._handle(batch)

    def _next_batch(self) -> list[_Job] | None:
        first = self._held if self._held is not None else self._take()
        self._held = None
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._take(block=False)
            except queue.Empty:
                break
            # != and not `is not`: a bound method (pipeline.store_polls) is a new object each time.
            if job is _STOP or job.handler != first.handler:
                self._held = job
                break
            batch.append(job)
        return batch

    def _handle(self, batch: list[_Job]) -> None:
        try:
            results = batch[0].handler(self.db, [job.item for job in batch])
        except BaseException as error:  # the whole transaction failed: every item gets the error
            if not isinstance(error, StorageError):  # a fault of the file is told by the callers, once
                log.exception("write batch of %d failed", len(batch))
            results = [error] * len(batch)
        settled = list(zip(batch, results, strict=True))
        try:  # one wake-up of the loop per batch, not one per poll
            batch[0].loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _call_each(db: sqlite_utils.Database, works: list[Callable[[sqlite_utils.Database], Any]]) -> list[Any]:
    outcomes: list[Any] = []
    for work in works:
        try:
            outcomes.append(work(db))
        except Exception as error:
            outcomes.append(error)
    return outcomes


def _settle(settled: list[tuple[_Job, Any]]) -> None:
    for job, result in settled:
        if job.future.done():  # the poll was cancelled while we stored it: stored all the same
            continue
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
