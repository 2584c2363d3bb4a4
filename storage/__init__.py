"""Storage: the SQLite file, its schema and every SQL statement of the project."""

# Names are imported on first use (PEP 562), so `import storage.exceptions` or `storage.types`
# (every CLI start) does not load sqlite_utils, which imports numpy when it is installed.
_EXPORTS = {
    "open_database": "db", "transaction": "db", "savepoint": "db", "integrity_ok": "db",
    "RunLock": "lock", "StorageError": "exceptions", "DatabaseLockedError": "exceptions",
}  # fmt: skip

__all__ = ["open_database", "transaction", "savepoint", "integrity_ok", "RunLock", "StorageError", "DatabaseLockedError"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
