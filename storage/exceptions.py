"""Errors of the storage package; sqlite3 errors are translated here."""

from __future__ import annotations


class StorageError(Exception):
    """Root of storage errors (monitor/exceptions.py lists every package's root)."""


class DatabaseLockedError(StorageError):
    """Another process holds the database (or its run lock) too long."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of the monitor."""
