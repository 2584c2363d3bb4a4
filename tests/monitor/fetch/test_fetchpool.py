"""Fetch-and-parse worker processes (monitor/fetch/pool.py), against a real local server."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from monitor.fetch.pool import FetchPool, FetchWorkerDied, PollJob
from storage.types import Feed
from tests.behaviour_server import BehaviourServer, Response, conditional, rss

SETTINGS = dict(concurrency=8, per_host=2, host_gap=0.0, timeout=10.0, connect_timeout=5.0,
                max_body_bytes=1 << 20, user_agent_string="minerals-monitor-test")


@pytest.fixture
def server():
    with BehaviourServer() as running:
        yield running


def feed(url: str, **fields) -> Feed:
    return Feed(id=1, url=url, name="f", **fields)


def test_a_worker_fetches_and_parses_and_the_body_stays_there(server):
    url = server.route("/feed.xml", conditional(rss(("g1", "Antimony deal", "USSM signs"), ("g2", "Other", "text"))))

    async def main():
        pool = FetchPool(2, SETTINGS)
        try:
            first = await pool.poll(PollJob(feed(url)))
            again = await pool.poll(PollJob(feed(url, etag=first.fetch.etag, item_digests=first.parsed.digests)))
            return first, again
        finally:
            pool.close()

    first, again = asyncio.run(main())
    assert first.fetch.status == 200 and first.fetch.body == b"" and first.verdict.parse
    assert [a.guid for a in first.parsed.articles] == ["g1", "g2"]
    assert again.fetch.status == 304 and again.parsed is None


def test_per_host_limit_holds_across_workers(server):
    """Every feed of one host goes to one worker, so per_host=2 holds with 2 workers."""
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        return Response(200, rss(("g", "t", "d")), {"Content-Type": "application/rss+xml"})

    urls = [server.route(f"/f{i}.xml", slow) for i in range(12)]

    async def main():
        pool = FetchPool(2, SETTINGS)
        try:
            return await asyncio.gather(*(pool.poll(PollJob(feed(u))) for u in urls))
        finally:
            pool.close()

    outcomes = asyncio.run(main())
    assert all(o.fetch.status == 200 for o in outcomes)
    assert peak[0] == 2


def test_a_dead_worker_fails_its_polls_clearly_and_is_started_again(server):
    url_slow = server.route("/slow.xml", lambda r: (time.sleep(1.0), Response(200, rss(("g", "t", "d"))))[1])
    url_fast = server.route("/fast.xml", conditional(rss(("g", "t", "d"))))

    async def main():
        pool = FetchPool(1, SETTINGS)
        try:
            pending = asyncio.ensure_future(pool.poll(PollJob(feed(url_slow))))
            await asyncio.sleep(0.5)  # the request is in flight in the worker
            os.kill(pool._workers[0].process.pid, signal.SIGKILL)
            with pytest.raises(FetchWorkerDied, match="died"):
                await pending
            return await pool.poll(PollJob(feed(url_fast)))
        finally:
            pool.close()

    after = asyncio.run(main())
    assert after.fetch.status == 200 and after.parsed.articles


def test_a_worker_that_stops_answering_fails_its_polls_after_the_deadline(server, monkeypatch):
    url = server.route("/feed.xml", conditional(rss(("g1", "t", "d"))))
    monkeypatch.setattr("monitor.fetch.pool.PARSE_ALLOWANCE_SECONDS", 0.5)

    async def main():
        pool = FetchPool(1, {**SETTINGS, "timeout": 1.0})
        pid = pool._workers[0].process.pid
        try:
            os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
            started = time.monotonic()
            with pytest.raises(FetchWorkerDied, match="no answer"):
                await pool.poll(PollJob(feed(url)))
            return time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
            pool.close()

    assert asyncio.run(main()) < 5
