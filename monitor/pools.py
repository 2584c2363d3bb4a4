"""One small connection pool (an httpx transport) per origin, closed when idle too long.

Why per origin: one pool shared by ~100 concurrent requests spent ~8x the CPU per
request here (httpcore scans every pooled connection on each request), and a
pool per concurrency slot kept each pool small but, once every slot was busy,
handed a request a slot whose connection was to another host: a warm poll of
1,000 feeds on 16 hosts opened 470 new connections. An origin's own pool holds
only that origin's kept-alive connections, and reuses them.

Pools of origins with nothing in flight are closed, oldest first, once there
are more than `keep_idle` of them, so 10,000 single-feed hosts do not keep
10,000 pools (and their sockets) open.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

Pool = TypeVar("Pool")
Origin = tuple[str, str, int | None]  # scheme, host, port


class OriginPools(Generic[Pool]):
    """`async with pools.lease(origin) as pool: ...` (the pool is made on first use)."""

    def __init__(self, make_pool: Callable[[Origin], Pool], close_pool: Callable[[Pool], Awaitable[None]], keep_idle: int):
        self._make = make_pool
        self._close = close_pool
        self._keep_idle = keep_idle
        self._busy: dict[Origin, list] = {}  # origin -> [pool, requests in flight]
        self._idle: OrderedDict[Origin, Pool] = OrderedDict()  # oldest first

    @property
    def count(self) -> int:
        return len(self._busy) + len(self._idle)

    @asynccontextmanager
    async def lease(self, origin: Origin) -> AsyncIterator[Pool]:
        entry = self._busy.get(origin)
        if entry is None:
            pool = self._idle.pop(origin, None)
            entry = self._busy[origin] = [pool if pool is not None else self._make(origin), 0]
        entry[1] += 1
        try:
            yield entry[0]
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._busy[origin]
                self._idle[origin] = entry[0]
                while len(self._idle) > self._keep_idle:
                    _, oldest = self._idle.popitem(last=False)
                    await self._close(oldest)

    async def aclose(self) -> None:
        pools = [entry[0] for entry in self._busy.values()] + list(self._idle.values())
        self._busy.clear()
        self._idle.clear()
        for pool in pools:
            await self._close(pool)
