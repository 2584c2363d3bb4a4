"""Errors of the storage package; sqlite3 errors are translated here."""

from __future__ import annotations


class StorageError(Exception):
    """Root of storage errors (monitor/exceptions.py lists every package's root)."""


class DatabaseUnavailableError(StorageError):
    """The database file cannot be written just now (locked, disk full, read-only, I/O error):
    a fault of the file, not of the data. Nothing was written; the same write may succeed later."""


class DatabaseLockedError(DatabaseUnavailableError):
    """Another process holds the database (or its run lock) too long."""


class DiskFullError(DatabaseUnavailableError):
    """The disk (or SQLite's size limit) is full."""


class DatabaseReadOnlyError(DatabaseUnavailableError):
    """The database file, its folder or its file system is read-only."""


class DatabaseIOError(DatabaseUnavailableError):
    """The operating system failed a read or write of the database file."""


class DatabaseMissingError(StorageError):
    """A command that only reads found no database file (it never creates one)."""


class SearchSyntaxError(StorageError):
    """A full-text query that SQLite FTS5 refuses: the user's input, not the database, is at fault."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of the monitor."""


class DatabaseFileGoneError(StorageError):
    """The database file was deleted or replaced under a running daemon: SQLite would go on
    writing to the open file, which nobody can read any more."""
