"""OriginPools: one pool per origin, shared by that origin's requests, idle ones closed oldest first."""

from __future__ import annotations

import asyncio

from monitor.pools import OriginPools

A, B, C = ("https", "a.example", None), ("https", "b.example", None), ("http", "c.example", 8080)


class Recorder:
    def __init__(self):
        self.made: list[tuple] = []
        self.closed: list[tuple] = []

    def make(self, origin):
        self.made.append(origin)
        return origin  # the "pool" is its origin, so closes can be checked by name

    async def close(self, pool):
        self.closed.append(pool)


def test_one_pool_per_origin_shared_by_its_requests():
    async def go(recorder):
        pools = OriginPools(recorder.make, recorder.close, keep_idle=4)
        async with pools.lease(A) as first, pools.lease(A) as second, pools.lease(B) as other:
            assert first is second and other == B and pools.count == 2
        async with pools.lease(A):  # idle, not closed: kept for the next request
            pass
        return pools

    recorder = Recorder()
    pools = asyncio.run(go(recorder))
    assert recorder.made == [A, B] and recorder.closed == [] and pools.count == 2


def test_idle_pools_beyond_the_limit_are_closed_oldest_first_never_a_busy_one():
    async def go(recorder):
        pools = OriginPools(recorder.make, recorder.close, keep_idle=1)
        async with pools.lease(A):
            async with pools.lease(B):
                pass
            async with pools.lease(C):  # B and C idle, A busy: B (the older idle one) goes
                pass
            assert recorder.closed == [B]
        assert recorder.closed == [B, C]  # A is idle now: C is the older idle one
        async with pools.lease(B):  # closed pools are made again when needed
            pass
        await pools.aclose()

    recorder = Recorder()
    asyncio.run(go(recorder))
    assert recorder.made == [A, B, C, B]
    assert sorted(recorder.closed) == sorted([B, C, A, B])
