"""How the console reaches the database without ever holding up the monitor.

Reads run on a few threads of their own, each with its own connection: a WAL reader
never waits for the writer and never makes it wait, and a 50 ms query never stalls the
event loop the monitor polls on (SQLite releases the GIL while it works). Writes (retry,
mute, feeds add/remove) go to the monitor's write thread when the console runs inside
`run` (so they queue behind nothing and never meet "database is locked"), else to one
thread with a connection of its own.

A short-lived cache of rendered answers (5 s, then given while one rebuild runs) keeps 50
watchers refreshing the same page from running the same query 50 times; any write made
through the console clears it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from storage import open_database

T = TypeVar("T")
Work = Callable[[sqlite_utils.Database], T]

READ_THREADS = 4
# A watcher's page may be this stale (alerts themselves leave at once by their channels); the
# console's own writes clear it. 1 s rebuilt each busy page every second while polls committed
# continuously: 6 pages cost a quarter of a core, taken from the polls (bench/bench_web.py).
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 256


class ReadPool:
    """`await reads.run(fn, *args, **kwargs)` runs fn(db, ...) on a reader thread's own connection."""

    def __init__(self, database_path: Path, threads: int = READ_THREADS):
        self.database_path = database_path
        self._local = threading.local()
        self._connections: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="console-read")

    def _db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.database_path)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    async def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._db(), *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


class OwnWriter:
    """Writes for a console that runs alone (`serve`): one thread, one connection, in order."""

    def __init__(self, database_path: Path):
        self._pool = ReadPool(database_path, threads=1)

    async def __call__(self, work: Work[T]) -> T:
        return await self._pool.run(work)

    def close(self) -> None:
        self._pool.close()


Writer = Callable[[Work[Any]], Awaitable[Any]]


class AnswerCache:
    """Rendered answers by key for CACHE_SECONDS; `clear()` after a write.

    An answer past its time is still given while one rebuild runs in the background (stale
    while revalidate): under load, the requests that arrived during a rebuild waited for it,
    each busy page once every CACHE_SECONDS, and they made the console's p99 (bench_web.py).
    Only the first request for a key, or the first after `clear()`, waits for its build.
    """

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.entries = entries
        self.clock = clock
        self._answers: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._building: dict[Any, asyncio.Future] = {}
        self._generation = 0  # moved on by clear(): a build begun before it is not kept
        self._refreshing: set[asyncio.Task] = set()

    async def get(self, key: Any, build: Callable[[], Awaitable[T]]) -> T:
        """The cached answer, else one `build()` shared by every request that asks meanwhile."""
        if self.seconds <= 0:  # caching off (the benchmark's answer times)
            return await build()
        found = self._answers.get(key)
        if found is not None:
            if self.clock() - found[0] >= self.seconds and key not in self._building:
                task = asyncio.get_running_loop().create_task(self._refresh(key, build))
                self._refreshing.add(task)
                task.add_done_callback(self._refreshing.discard)
            return found[1]
        if key in self._building:
            return await asyncio.shield(self._building[key])
        return await self._build(key, build)

    async def _build(self, key: Any, build: Callable[[], Awaitable[T]]) -> T:
        started, generation = self.clock(), self._generation
        future = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            answer = await build()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._building.pop(key, None)
        future.set_result(answer)
        if generation == self._generation:
            self._answers[key] = (started, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.entries:
                self._answers.popitem(last=False)
        return answer

    async def _refresh(self, key: Any, build: Callable[[], Awaitable[Any]]) -> None:
        try:
            await self._build(key, build)
        except Exception:
            # The next request builds it itself, and shows the error if there still is one.
            self._answers.pop(key, None)

    def clear(self) -> None:
        self._answers.clear()
        self._generation += 1
