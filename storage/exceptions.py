"""Errors of the storage package; sqlite3 errors are translated here."""

from __future__ import annotations


class StorageError(Exception):
    """Root of storage errors (monitor/exceptions.py lists every package's root)."""


class DatabaseLockedError(StorageError):
    """Another process holds the database (or its run lock) too long."""


class DatabaseMissingError(StorageError):
    """A command that only reads found no database file (it never creates one)."""


class SearchSyntaxError(StorageError):
    """A full-text query that SQLite FTS5 refuses: the user's input, not the database, is at fault."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of the monitor."""
