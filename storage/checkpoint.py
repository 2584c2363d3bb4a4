"""WAL checkpoints in a background thread, so a commit on the event loop never pays for one.

With SQLite's automatic checkpoint, every ~1,000 pages one unlucky COMMIT copies the WAL
into the database file and syncs it: hundreds of milliseconds with the event loop stopped.
The daemon turns that off on its connection and checkpoints here instead (PASSIVE: never
waits for readers or writers).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from storage.db import BUSY_TIMEOUT_MS


class BackgroundCheckpointer:
    def __init__(self, path: str | Path, interval_seconds: float = 1.0):
        self.path = str(path)
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=True)
        try:
            while not self._stop.wait(self.interval_seconds):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:
                    continue  # busy, or the disk is full: the next round catches up
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError:
                pass  # the WAL stays and is checkpointed by the next open; the writers report the fault
        finally:
            conn.close()

    def __enter__(self) -> BackgroundCheckpointer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def disable_auto_checkpoint(db) -> None:
    db.execute("PRAGMA wal_autocheckpoint = 0")
