"""The write thread: batches, per-item savepoints, order, and closing."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.writer import WriteThread
from storage import open_database, savepoint, transaction


def _make_table(path) -> None:
    db = open_database(path)
    db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, thread TEXT)")
    db.close()


def store_numbers(db, numbers: list[int]) -> list:
    """Like Pipeline.store_polls: one transaction, one savepoint per item; 13 fails."""
    outcomes = []
    with transaction(db):
        for n in numbers:
            try:
                with savepoint(db):
                    db.execute("INSERT INTO t VALUES (?, ?)", [n, threading.current_thread().name])
                    if n == 13:
                        raise ValueError("unlucky")
                outcomes.append(n)
            except ValueError as error:
                outcomes.append(error)
    return outcomes


def test_items_are_stored_on_the_write_thread_in_batches_and_a_failing_item_rolls_back_alone(tmp_path):
    path = tmp_path / "w.db"
    _make_table(path)
    batches: list[int] = []

    def counting(db, numbers):
        batches.append(len(numbers))
        return store_numbers(db, numbers)

    async def main():
        writer = WriteThread(path)
        try:
            results = await asyncio.gather(*(writer.submit(counting, n) for n in range(1, 41)), return_exceptions=True)
        finally:
            writer.close()
        return results

    results = asyncio.run(main())
    assert isinstance(results[12], ValueError)
    assert [r for r in results if not isinstance(r, Exception)] == [n for n in range(1, 41) if n != 13]
    db = open_database(path)
    rows = db.execute("SELECT n, thread FROM t ORDER BY n").fetchall()
    assert [n for n, _ in rows] == [n for n in range(1, 41) if n != 13]
    assert {thread for _, thread in rows} == {"minerals-writer"}
    assert sum(batches) == 40 and max(batches) > 1  # queued items shared transactions


def test_close_stores_what_was_submitted_and_then_refuses(tmp_path):
    path = tmp_path / "w.db"
    _make_table(path)

    async def main():
        writer = WriteThread(path)
        pending = [asyncio.ensure_future(writer.submit(store_numbers, n)) for n in range(1, 6)]
        await asyncio.sleep(0)  # submitted, not yet awaited to the end
        writer.close()
        with pytest.raises(RuntimeError):
            await writer.submit(store_numbers, 99)
        for task in pending:
            task.cancel()

    asyncio.run(main())
    db = open_database(path)
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 5


def test_call_runs_work_on_the_write_thread_and_returns_its_value(tmp_path):
    path = tmp_path / "w.db"
    _make_table(path)

    async def main():
        writer = WriteThread(path)
        try:
            return await writer.call(lambda db: threading.current_thread().name)
        finally:
            writer.close()

    assert asyncio.run(main()) == "minerals-writer"


def test_the_monitor_records_deliveries_on_its_write_thread(tmp_path, feed_server):
    """Sent alerts are recorded through the write thread, so the loop never waits for the
    write lock while polls are being stored."""
    import io

    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
    from monitor.daemon import Monitor
    from storage.types import FeedSpec
    from tests.behaviour_server import rss

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: antimony, query: antimony, severity: high}\n")
    feed_server.set_file("/a.xml", rss(*[(f"g{i}", f"Antimony story {i}", "Exports rise") for i in range(3)]))
    config = Config(
        storage_path=tmp_path / "m.db", polling=PollingConfig(host_gap=0.0),
        feeds=(FeedSpec(url=feed_server.url("/a.xml"), name="a"),), rules_files=(rules,),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400), channels={"console": ChannelConfig("console", "console")},
    )
    threads: list[str] = []

    async def main():
        async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False) as monitor:
            call = monitor.writer.call

            async def watched(work):
                return await call(lambda db: (threads.append(threading.current_thread().name), work(db))[1])

            monitor.dispatcher.write = watched
            await monitor.run_once()
            return monitor.db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()

    assert asyncio.run(main()) == [("sent", 3)]
    assert threads and set(threads) == {"minerals-writer"}


def test_a_bound_method_handler_gets_batches(tmp_path):
    """pipeline.store_polls is a bound method: a new object at each access, the same handler."""
    path = tmp_path / "w.db"
    _make_table(path)
    sizes: list[int] = []

    class Store:
        def store(self, db, numbers):
            sizes.append(len(numbers))
            return store_numbers(db, numbers)

    store = Store()

    async def main():
        writer = WriteThread(path)
        try:
            await asyncio.gather(*(writer.submit(store.store, n) for n in range(100, 140)))
        finally:
            writer.close()

    asyncio.run(main())
    assert sum(sizes) == 40 and max(sizes) > 1


def test_urgent_work_goes_before_queued_polls(tmp_path):
    path = tmp_path / "w.db"
    _make_table(path)
    order: list[str] = []
    gate = threading.Event()

    def slow(db, items):  # the batch in progress while the others queue up
        gate.wait(5)
        order.extend(items)
        return items

    def normal(db, items):
        order.extend(items)
        return items

    async def main():
        writer = WriteThread(path)
        try:
            first = asyncio.ensure_future(writer.submit(slow, "batch in progress"))
            await asyncio.sleep(0.1)
            queued = [asyncio.ensure_future(writer.submit(normal, f"poll {n}")) for n in range(3)]
            await asyncio.sleep(0.05)
            urgent = asyncio.ensure_future(writer.call(lambda db: order.append("delivery record"), urgent=True))
            await asyncio.sleep(0.05)
            gate.set()
            await asyncio.gather(first, urgent, *queued)
        finally:
            writer.close()

    asyncio.run(main())
    assert order == ["batch in progress", "delivery record", "poll 0", "poll 1", "poll 2"]
