"""A run lock so two daemons never poll and send from the same database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from storage.exceptions import DatabaseLockedError, DatabaseReadOnlyError


class RunLock:
    """An exclusive, non-blocking flock on `<database>.lock`; released on exit or crash.

    flock is tied to the open file, so a SIGKILLed daemon frees it at once
    (no stale pid files to clean up).
    """

    def __init__(self, database_path: str | Path):
        self.database_path = Path(database_path)
        self.path = Path(f"{database_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as error:  # read-only file system, a folder we may not write: exit 3, not 70
            raise DatabaseReadOnlyError(
                f"database {os.path.abspath(self.database_path)}: cannot create its lock file {self.path.name} "
                f"({error.strerror or error}); the monitor needs a writable folder for its database"
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DatabaseLockedError(
                f"another minerals-monitor (pid {holder}) is already running on this database; "
                "stop it first or use another [storage] path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_pid(database_path: str | Path) -> int | None:
    """The pid of the live process that holds the run lock on this database, else None.

    Reads the pid the holder wrote; never takes the lock (a starting daemon must not find
    it held by someone only looking).
    """
    try:
        text = Path(f"{database_path}.lock").read_text(errors="replace").strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid
