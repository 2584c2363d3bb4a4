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
