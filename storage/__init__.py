"""Storage: the SQLite file, its schema and every SQL statement of the project."""

from storage.db import integrity_ok, open_database, savepoint, transaction
from storage.exceptions import DatabaseLockedError, StorageError
from storage.lock import RunLock

__all__ = ["open_database", "transaction", "savepoint", "integrity_ok", "RunLock", "StorageError", "DatabaseLockedError"]
