"""Faults of the database file are one clear line, not floods (issue 15.8).

- A full disk: one throttled line "database PATH: disk is full; polls will be retried", no
  traceback, no "Task exception was never retrieved", the cause never hidden behind "cannot
  rollback - no transaction is active"; when there is room again polling and delivery go on.
- A read-only database at start is exit 3 naming the file, not an internal error (exit 70).

The full disk is real: a tmpfs of a few hundred KB (tests/reliability/rel_support.py
`small_filesystem`), so SQLite meets ENOSPC from the kernel where it really does, on WAL
appends at COMMIT. `PRAGMA max_page_count` fails earlier, inside a statement, and makes
SQLite roll back the whole transaction by itself: the unit test below uses it to check that
path of `transaction()`/`savepoint()` on any machine.
"""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from storage import open_database, savepoint, transaction
from storage.exceptions import DatabaseReadOnlyError, DiskFullError
from tests.reliability.rel_support import (
    Daemon,
    FeedHost,
    Publisher,
    RecordingReceiver,
    query,
    remount,
    run_cli,
    scalar,
    small_filesystem,
    wait_until,
    write_config,
)

FLOODS = ("Traceback", "Task exception was never retrieved", "cannot rollback", "no such savepoint")


def test_a_full_disk_inside_a_transaction_is_named_and_not_hidden_by_the_rollback(tmp_path):
    path = tmp_path / "full.db"
    db = open_database(path)
    db.execute("CREATE TABLE filler (text TEXT)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")

    with pytest.raises(DiskFullError) as full:
        with transaction(db):
            with savepoint(db):  # as Pipeline.store_polls: one savepoint per poll
                for _ in range(50):
                    db.execute("INSERT INTO filler VALUES (?)", ["x" * 4000])

    assert str(full.value) == f"database {path}: disk is full"
    assert isinstance(full.value.__cause__, sqlite3.OperationalError)
    assert "full" in str(full.value.__cause__)
    assert not db.conn.in_transaction
    db.execute(f"PRAGMA max_page_count = {pages + 1000}")  # room again: the same connection writes
    with transaction(db):
        db.execute("INSERT INTO filler VALUES ('fits')")
    assert db.execute("SELECT count(*) FROM filler").fetchone()[0] == 1


def test_a_full_disk_is_one_throttled_line_and_polling_and_delivery_resume_with_room(tmp_path):
    folder = tmp_path / "small"
    receiver = RecordingReceiver().up()
    publishers = [Publisher(f"p{n}", 3000, 0.01, seed=n, matching_ratio=0.2) for n in range(4)]
    with small_filesystem(folder, "400k"), FeedHost() as host:
        urls = [host.serve(f"/f{n}.xml", p.body) for n, p in enumerate(publishers)]
        config = write_config(folder, urls, webhook_url=receiver.url)
        db = folder / "monitor.db"
        daemon = Daemon(config, tmp_path)
        try:
            daemon.start()
            told = f"database {db}: disk is full; polls will be retried"
            assert wait_until(lambda: told in daemon.current_stderr(), timeout=60), daemon.current_stderr()[-3000:]
            time.sleep(3)  # dozens of polls fail meanwhile
            while_full = daemon.current_stderr()
            remount(folder, "size=64m")
            assert wait_until(lambda: "database writes work again" in daemon.current_stderr(), timeout=30)
            stored_then = scalar(db, "SELECT count(*) FROM articles")
            received_then = len(receiver.snapshot())
            # Room again: new articles are stored and their alerts leave (the dispatcher's tasks lived on).
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM articles") > stored_then, timeout=30)
            assert wait_until(lambda: len(receiver.snapshot()) > received_then, timeout=30)
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
            receiver.down()
        log = daemon.stderr_text()
    assert not [flood for flood in FLOODS if flood in log], log[-4000:]
    assert while_full.count(told) == 1, while_full[-4000:]  # throttled: one line a minute per cause
    assert len(while_full.encode()) < 20_000, while_full[-4000:]
    assert query(db, "PRAGMA integrity_check") == [("ok",)] if db.exists() else True


def test_a_read_only_database_at_start_is_exit_3_naming_the_file(tmp_path):
    folder = tmp_path / "ro"
    with small_filesystem(folder, "4m"):
        config = write_config(folder, ["http://127.0.0.1:9/never.xml"], webhook_url="http://127.0.0.1:9/hook")
        open_database(folder / "monitor.db").close()
        remount(folder, "ro")
        try:
            for command in (("run", "--once"), ("run",)):
                done = run_cli("--config", str(config), *command, cwd=tmp_path, timeout=30)
                assert done.returncode == 3, (command, done.returncode, done.stderr)
                assert f"database {folder / 'monitor.db'}" in done.stderr and "read-only" in done.stderr.lower(), done.stderr
                assert "internal error" not in done.stderr and "Traceback" not in done.stderr
                assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        finally:
            remount(folder, "rw")


def test_a_read_only_database_file_is_a_storage_error_naming_it(tmp_path):
    """Without root, chmod makes the file read-only; with root (which writes through any mode)
    the same error comes from a read-only open."""
    path = tmp_path / "m.db"
    open_database(path).close()
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        db = open_database(path)
    else:
        import sqlite_utils

        db = sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None))
    with pytest.raises(DatabaseReadOnlyError, match=f"database {path}: read-only"):
        with transaction(db):
            db.execute("INSERT INTO mutes (rule_id, until, created_at) VALUES ('a', 'b', 'c')")
