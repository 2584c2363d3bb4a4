"""The database file is watched (issue 15.7): deleted or replaced while the daemon runs, the
daemon stops within seconds with one clear line and exit 3, instead of writing on to a file
nobody can read (and alerting everything again on the next start)."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from tests.reliability.rel_support import Daemon, FeedHost, Publisher, query, scalar, wait_until, write_config

WATCH_LIMIT_SECONDS = 10  # the daemon looks every 2 s; stopping takes a moment more


def _replace_with_another_database(path) -> None:
    other = path.with_name("other.db")
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    os.replace(other, path)  # what a restore from a backup, or `mv`, does


@pytest.mark.parametrize("fault, change, word", [
    ("deleted", os.remove, "deleted"),
    ("replaced", _replace_with_another_database, "replaced by another file"),
])
def test_a_database_file_deleted_or_replaced_while_running_stops_the_daemon_with_exit_3(tmp_path, fault, change, word):
    publisher = Publisher("wire", 200, 0.2, seed=157)
    with FeedHost() as host:
        config = write_config(tmp_path, [host.serve("/wire.xml", publisher.body)], default_channels="[]")
        db = tmp_path / "monitor.db"
        daemon = Daemon(config, tmp_path)
        try:
            daemon.start()
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM articles") > 0, timeout=30), daemon.current_stderr()
            change(db)
            changed_at = time.monotonic()
            code = daemon.wait(timeout=WATCH_LIMIT_SECONDS + 10)
            took = time.monotonic() - changed_at
            # What is at the path now was left alone (the stopped daemon's WAL was not applied to
            # it), and a restart goes on with it.
            if fault == "replaced":
                assert query(db, "PRAGMA integrity_check") == [("ok",)]
                assert query(db, "SELECT name FROM sqlite_master WHERE name = 'unrelated'") == [("unrelated",)]
            restarted_with = scalar(db, "SELECT count(*) FROM articles")
            daemon.start()
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM articles") > restarted_with, timeout=30), \
                daemon.current_stderr()
            assert daemon.stop() == 0
            assert query(db, "PRAGMA integrity_check") == [("ok",)]
        finally:
            daemon.ensure_dead()
    err = (tmp_path / "daemon-1.err").read_text()
    assert code == 3, (code, err[-2000:])
    assert took < WATCH_LIMIT_SECONDS, took
    told = (f"error: database file {db} was {word} while running; stopping so nothing is written to a file "
            "nobody can read — restart to continue")
    assert err.strip().splitlines()[-1] == told, err[-2000:]
    assert err.count(told) == 1 and "Traceback" not in err and "stopped cleanly" not in err, err[-2000:]
