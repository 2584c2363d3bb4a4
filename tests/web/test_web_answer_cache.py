"""The console's answer cache: one build per key and period, and no request waits for a rebuild."""

from __future__ import annotations

import asyncio

import pytest

from monitor.web.access import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def builder(answer: str, gate: asyncio.Event | None = None, calls: list | None = None):
    async def build() -> str:
        if calls is not None:
            calls.append(answer)
        if gate is not None:
            await gate.wait()
        return answer
    return build


async def past_its_time(first: str = "first") -> AnswerCache:
    """A cache holding `first` for "page", its 5 s over."""
    clock = Clock()
    cache = AnswerCache(seconds=5, clock=clock)
    assert await cache.get("page", builder(first)) == first
    clock.now += 6
    return cache


async def settle() -> None:
    """Let the background rebuild finish."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_stale_answer_is_given_while_one_rebuild_runs():
    async def scenario() -> None:
        cache = await past_its_time()
        gate, calls = asyncio.Event(), []
        # Past its time: every request meanwhile gets the old answer at once, one rebuild runs.
        answers = [await asyncio.wait_for(cache.get("page", builder("second", gate, calls)), 0.5) for _ in range(3)]
        assert answers == ["first"] * 3
        await asyncio.sleep(0)
        assert calls == ["second"]
        gate.set()
        await settle()
        assert await cache.get("page", builder("third")) == "second"  # the rebuilt answer, fresh for 5 s

    asyncio.run(scenario())


def test_a_write_during_a_rebuild_keeps_its_answer_out():
    async def scenario() -> None:
        cache = await past_its_time("before the write")
        gate = asyncio.Event()
        assert await asyncio.wait_for(cache.get("page", builder("read before the write", gate)), 0.5) == "before the write"
        await asyncio.sleep(0)
        cache.clear()  # the console wrote: nothing read before it may be given after it
        gate.set()
        await settle()
        assert await cache.get("page", builder("after the write")) == "after the write"

    asyncio.run(scenario())


def test_a_failed_rebuild_lets_the_next_request_build_and_see_the_error():
    async def scenario() -> None:
        cache = await past_its_time()

        async def failing() -> str:
            raise RuntimeError("database gone")

        assert await cache.get("page", failing) == "first"
        await settle()
        with pytest.raises(RuntimeError, match="database gone"):
            await cache.get("page", failing)

    asyncio.run(scenario())


def test_zero_seconds_caches_nothing():
    async def scenario() -> None:
        cache = AnswerCache(seconds=0)
        assert await cache.get("page", builder("first")) == "first"
        assert await cache.get("page", builder("second")) == "second"

    asyncio.run(scenario())
