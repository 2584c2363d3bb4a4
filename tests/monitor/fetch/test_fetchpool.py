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


def _one_host_server(server, feeds: int, seconds: float):
    """`feeds` feeds on one host, each answering after `seconds`; records request starts and the peak in flight."""
    in_flight, peak, starts, lock = [0], [0], [], threading.Lock()

    def slow(request):
        with lock:
            starts.append(time.monotonic())
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(seconds)
        with lock:
            in_flight[0] -= 1
        return Response(200, rss(("g", "t", "d")), {"Content-Type": "application/rss+xml"})

    urls = [server.route(f"/f{i}.xml", slow) for i in range(feeds)]
    return urls, peak, starts


def _poll_all(urls, settings):
    async def main():
        pool = FetchPool(2, settings)
        try:
            return await asyncio.gather(*(pool.poll(PollJob(feed(u))) for u in urls))
        finally:
            pool.close()

    return asyncio.run(main())


def test_one_host_is_fetched_and_parsed_by_every_worker_within_per_host(server):
    """All feeds on one host (a list of one site's searches) go to both workers, yet the
    server never sees more than per_host=2 requests at once."""
    urls, peak, _ = _one_host_server(server, 12, 0.1)
    outcomes = _poll_all(urls, SETTINGS)
    assert all(o.fetch.status == 200 and o.parsed.articles for o in outcomes)
    assert peak[0] == 2
    assert len({o.worker_pid for o in outcomes}) == 2  # both cores parsed


def test_host_gap_holds_across_workers(server):
    """Request starts to one host, as the server saw them, stay host_gap apart although two
    workers fetch them (a generous margin for a loaded machine: 0.15 s of the 0.2 s gap)."""
    urls, peak, starts = _one_host_server(server, 6, 0.0)
    outcomes = _poll_all(urls, {**SETTINGS, "host_gap": 0.2})
    assert all(o.fetch.status == 200 for o in outcomes)
    starts.sort()
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert len(gaps) == 5 and min(gaps) >= 0.15, gaps
    assert len({o.worker_pid for o in outcomes}) == 2


def test_a_dead_worker_fails_its_polls_clearly_and_is_started_again(server):
    arrived = threading.Event()
    url_slow = server.route("/slow.xml", lambda r: (arrived.set(), time.sleep(1.0), Response(200, rss(("g", "t", "d"))))[2])
    url_fast = server.route("/fast.xml", conditional(rss(("g", "t", "d"))))

    async def main():
        pool = FetchPool(1, SETTINGS)
        try:
            pending = asyncio.ensure_future(pool.poll(PollJob(feed(url_slow))))
            assert await asyncio.to_thread(arrived.wait, 30)  # the request is in flight in the worker
            os.kill(pool._workers[0].process.pid, signal.SIGKILL)
            with pytest.raises(FetchWorkerDied, match="died"):
                await pending
            return await pool.poll(PollJob(feed(url_fast)))
        finally:
            pool.close()

    after = asyncio.run(main())
    assert after.fetch.status == 200 and after.parsed.articles


def test_a_worker_that_dies_while_starting_fails_the_poll_waiting_for_it(server):
    url = server.route("/feed.xml", conditional(rss(("g1", "t", "d"))))

    async def main():
        pool = FetchPool(1, SETTINGS)
        try:
            os.kill(pool._workers[0].process.pid, signal.SIGKILL)  # before it could say it is ready
            with pytest.raises(FetchWorkerDied, match="while starting"):
                await pool.poll(PollJob(feed(url)))
            return await pool.poll(PollJob(feed(url)))  # started again
        finally:
            pool.close()

    assert asyncio.run(main()).fetch.status == 200


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


def test_a_pool_closed_while_its_workers_still_start_stops_them_at_once():
    # The monitor starts its workers before loading the rules; a rules error then closes the
    # pool within milliseconds of its start. Waiting for the workers to finish importing
    # before they read "stop" made that error take 1.5 s more.
    async def main():
        pool = FetchPool(2, SETTINGS)
        processes = [worker.process for worker in pool._workers]
        started = time.monotonic()
        pool.close()
        return time.monotonic() - started, processes

    took, processes = asyncio.run(main())
    assert all(process.poll() is not None for process in processes)  # none left running
    assert took < 0.5, took


def test_workers_told_to_stop_exit_with_status_0(server):
    # A worker leaves with os._exit once everything is answered (skipping the interpreter's
    # teardown, for which `run --once` waited 0.2-0.33 s: timed in docs/benchmarks.md);
    # it still says 0, as an ordinary exit did, and is not killed after close's wait.
    url = server.route("/feed.xml", conditional(rss(("g1", "Antimony deal", "USSM signs"))))

    async def main():
        pool = FetchPool(2, SETTINGS)
        await asyncio.gather(*(pool.poll(PollJob(feed(url))) for _ in range(4)))
        processes = [worker.process for worker in pool._workers]
        pool.close()
        return processes

    processes = asyncio.run(main())
    assert [process.returncode for process in processes] == [0, 0]
