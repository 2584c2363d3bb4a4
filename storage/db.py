"""Opening the SQLite file: WAL, busy timeout, private permissions, migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from storage.exceptions import DatabaseLockedError, StorageError
from storage.schema import migrate

# Readers (CLI commands) wait this long for a writer instead of failing with
# "database is locked"; writers keep transactions short, so this is generous.
BUSY_TIMEOUT_MS = 30_000


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the monitor's database and migrate it.

    The file is created 0600: it holds article text and delivery errors that
    may name internal hosts, and is nobody else's business.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
        conn.execute("PRAGMA foreign_keys = ON")
        # 16 MiB per connection (the monitor holds three): the story band index and FTS insert at
        # random places in big b-trees, and pages beyond this come from the OS page cache.
        conn.execute("PRAGMA cache_size = -16384")
        db = sqlite_utils.Database(conn)
        migrate(db)
    except sqlite3.OperationalError as error:
        raise _translate(error, path) from error
    except sqlite3.DatabaseError as error:
        raise StorageError(f"{path}: not a usable SQLite database ({error})") from error
    return db


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction: everything inside commits together or not at all.

    BEGIN IMMEDIATE takes the write lock up front, so a concurrent writer waits
    (busy timeout) instead of failing half-way with SQLITE_BUSY.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise _translate(error, None) from error
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    else:
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            db.execute("ROLLBACK")
            raise _translate(error, None) from error


@contextmanager
def savepoint(db: sqlite_utils.Database, name: str = "one_write") -> Iterator[sqlite_utils.Database]:
    """A nested all-or-nothing step inside a transaction: on error only this step is undone."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield db
    except BaseException:
        db.execute(f"ROLLBACK TO {name}")
        db.execute(f"RELEASE {name}")
        raise
    else:
        db.execute(f"RELEASE {name}")


def _translate(error: sqlite3.OperationalError, path: Path | None) -> StorageError:
    where = f"{path}: " if path else ""
    if "locked" in str(error) or "busy" in str(error):
        return DatabaseLockedError(f"{where}database is busy: another process held it for over {BUSY_TIMEOUT_MS // 1000}s")
    return StorageError(f"{where}{error}")


def integrity_ok(db: sqlite_utils.Database) -> bool:
    return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
