"""Opening the SQLite file: WAL, busy timeout, private permissions, migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.exceptions import (
    DatabaseIOError,
    DatabaseLockedError,
    DatabaseMissingError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DiskFullError,
    SchemaTooNewError,
    StorageError,
)
from storage.schema import SCHEMA_VERSION, migrate

if TYPE_CHECKING:
    import sqlite_utils

# Readers (CLI commands) wait this long for a writer instead of failing with
# "database is locked"; writers keep transactions short, so this is generous.
BUSY_TIMEOUT_MS = 30_000


class ReadOnlyDatabase:
    """What the storage functions use of a `sqlite_utils.Database` (`execute`, `conn`,
    `close`), for read-only connections: sqlite_utils (and numpy, which it imports when
    installed) cost a reading command ~0.17 s of its start (docs/design.md, "A fast CLI")."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()


def open_database(
    path: str | Path, *, read_only: bool = False, create: bool = True
) -> sqlite_utils.Database | ReadOnlyDatabase:
    """Open the monitor's database and migrate it; create it (and its folder) if `create`.

    `read_only`: for commands that only look; never creates or changes anything, and a
    missing file is a `DatabaseMissingError` (a mistyped path must not look like an empty
    archive). A database with an older schema is migrated first (the file exists, so that
    creates nothing), unless the file cannot be written.

    The file is created 0600: it holds article text and delivery errors that
    may name internal hosts, and is nobody else's business.
    """
    path = Path(path)
    if str(path) == ":memory:":
        return _connect(str(path), path, read_only=False)
    if not path.exists() and (read_only or not create):
        raise DatabaseMissingError(f"no database at {path} (run `minerals-monitor run --once` first)")
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        db = _connect(uri, path, read_only=True)
        version = _schema_version(db, path)
        if version == SCHEMA_VERSION:
            return db
        db.close()
        problem = _writable_problem(path)
        if problem:
            raise DatabaseReadOnlyError(f"{path}: schema version {version} needs an upgrade to {SCHEMA_VERSION}, but {problem}")
        open_database(path, create=False).close()  # migrates
        return _connect(uri, path, read_only=True)
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
        except OSError as error:  # a read-only or missing folder: exit 3 naming the file, not a traceback
            raise DatabaseReadOnlyError(f"database {os.path.abspath(path)}: cannot create it ({error.strerror or error})") from error
    problem = _writable_problem(path)
    if problem:
        # SQLite would open it read-only without a word and fail at the first write.
        raise DatabaseReadOnlyError(f"{path}: {problem}")
    return _connect(str(path), path, read_only=False)


def _connect(target: str, path: Path, *, read_only: bool) -> sqlite_utils.Database | ReadOnlyDatabase:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000, uri=read_only)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            _schema_version_of(conn)  # reads the header: a file that is not SQLite fails here
            return ReadOnlyDatabase(conn)
        import sqlite_utils

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


def _schema_version_of(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _schema_version(db: ReadOnlyDatabase, path: Path) -> int:
    version = _schema_version_of(db.conn)
    if version > SCHEMA_VERSION:
        db.close()
        raise SchemaTooNewError(
            f"{path}: database schema version {version} is newer than this monitor's ({SCHEMA_VERSION}); "
            "upgrade minerals-monitor"
        )
    return version


def _writable_problem(path: Path) -> str | None:
    """Why SQLite could not write this database, or None. os.access also sees what root cannot
    write (an immutable flag, a read-only filesystem)."""
    if path.exists() and not os.access(path, os.W_OK):
        return "the database file is read-only (permissions, an immutable flag or a read-only filesystem)"
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is read-only (SQLite writes its -wal and -shm files beside the database)"
    return None


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction: everything inside commits together or not at all.

    BEGIN IMMEDIATE takes the write lock up front, so a concurrent writer waits
    (busy timeout) instead of failing half-way with SQLITE_BUSY. A fault of the file
    (disk full, read-only, I/O error, locked) is raised as a DatabaseUnavailableError that
    names the database; SQLite may already have rolled back by itself (it does on a full
    disk), and then there is nothing to roll back: "cannot rollback - no transaction is
    active" never hides the real cause.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise translate_error(error, database_path(db)) from error
    try:
        yield db
    except sqlite3.OperationalError as error:
        _rollback_if_open(db)
        raise translate_error(error, database_path(db)) from error
    except BaseException:
        _rollback_if_open(db)
        raise
    else:
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            _rollback_if_open(db)
            raise translate_error(error, database_path(db)) from error


def _rollback_if_open(db: sqlite_utils.Database) -> None:
    if not db.conn.in_transaction:
        return  # SQLite rolled back by itself (SQLITE_FULL, SQLITE_IOERR, ...)
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the error being raised says more than this one; the connection rolls back on close


@contextmanager
def savepoint(db: sqlite_utils.Database, name: str = "one_write") -> Iterator[sqlite_utils.Database]:
    """A nested all-or-nothing step inside a transaction: on error only this step is undone
    (unless SQLite rolled back the whole transaction by itself, e.g. on a full disk)."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
        raise
    else:
        db.execute(f"RELEASE {name}")


def database_path(db: sqlite_utils.Database) -> str | None:
    """The file behind a connection (for error messages), None for an in-memory database."""
    try:
        for _, name, file in db.execute("PRAGMA database_list").fetchall():
            if name == "main":
                return file or None
    except sqlite3.Error:
        pass
    return None


def translate_error(error: sqlite3.OperationalError, path: str | Path | None) -> StorageError:
    """Our error for SQLite's: a fault of the file becomes a DatabaseUnavailableError that
    names the database and the cause in plain words."""
    where = f"database {os.path.abspath(path)}: " if path and str(path) != ":memory:" else "database: "
    text = str(error)
    code = getattr(error, "sqlite_errorcode", None)
    if "locked" in text or "busy" in text:
        return DatabaseLockedError(f"{where}busy: another process held the write lock for over {BUSY_TIMEOUT_MS // 1000}s")
    fault: type[DatabaseUnavailableError] | None = None
    if code == sqlite3.SQLITE_FULL or "disk is full" in text:
        fault, cause = DiskFullError, "disk is full"
    elif "readonly" in text or "read-only" in text:
        fault, cause = DatabaseReadOnlyError, "read-only (the file, its folder or its file system)"
    elif "disk I/O error" in text:
        fault, cause = DatabaseIOError, "disk I/O error"
    elif "unable to open database file" in text:
        fault, cause = DatabaseIOError, "cannot open the file (deleted, or its folder is not writable)"
    if fault is not None:
        return fault(f"{where}{cause}")
    return StorageError(f"{where}{text}")


def is_file_fault(error: BaseException) -> bool:
    """True for a fault of the database file rather than of one write's data."""
    if isinstance(error, DatabaseUnavailableError):
        return True
    return isinstance(error, sqlite3.OperationalError) and isinstance(translate_error(error, None), DatabaseUnavailableError)


def _translate(error: sqlite3.OperationalError, path: Path | None) -> StorageError:
    return translate_error(error, path)


def integrity_ok(db: sqlite_utils.Database) -> bool:
    return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
