"""Is the open database still the file at its path? (issue 15.7)

Deleted or replaced (another file renamed over it) while the daemon runs, SQLite goes on
writing to the file it opened, which nobody can read any more; a restart then finds an empty
or foreign database and alerts every item still in the feeds again. The file's device and
inode, taken at open, against those of its path tell it: one stat, cheap every few seconds.

SQLite leaves the stopped daemon's `-wal` and `-shm` files at the path (it does not remove
them once the file is gone). The next opener of whatever is at the path then reads that WAL
as its own: a file renamed over the database was "malformed" after the daemon stopped. So
once the daemon's connections are closed, those side files are removed (`drop_side_files`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storage.exceptions import DatabaseFileGoneError


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int


def identity_of(path: str | Path) -> FileIdentity:
    status = os.stat(path)
    return FileIdentity(status.st_dev, status.st_ino)


class DatabaseFileWatch:
    """Made right after the database is opened; `gone()` compares the path with that file."""

    def __init__(self, path: str | Path):
        self.path = os.path.abspath(path)
        self.opened = identity_of(self.path)

    def gone(self) -> DatabaseFileGoneError | None:
        """None while the path is the file that was opened, else the error to stop with."""
        try:
            what = "replaced by another file" if identity_of(self.path) != self.opened else None
        except (FileNotFoundError, NotADirectoryError):  # the path no longer leads to a file
            what = "deleted"
        except OSError:  # cannot look (permissions, I/O): not known to be gone; writes say what fails
            return None
        if what is None:
            return None
        return DatabaseFileGoneError(
            f"database file {self.path} was {what} while running; stopping so nothing is written to a "
            "file nobody can read — restart to continue"
        )


def drop_side_files(path: str | Path) -> None:
    """Remove the WAL and shared-memory files of a database file that is gone: they belong to
    the deleted file, and applied to the file now at the path they would damage it. Only with
    every connection to the gone file closed."""
    for suffix in ("-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass
