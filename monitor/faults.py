"""Faults of the database file (disk full, locked, read-only, I/O errors) told as one line
per cause and period, not one traceback per failed write.

A full disk fails every poll and every alert record until there is room again: told each
time, 10 feeds polled every second wrote 3.4 MB of tracebacks in 2.5 minutes. Here the
first failure of a kind is logged at once, later ones are counted and told with the next
line (at most one per `period`), and the first success after a fault says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.exceptions import StorageError


@dataclass
class _Fault:
    told_at: float
    untold: int = 0  # failures since the last line
    total: int = 1


def tell_now(told_at: float | None, now: float, period: float) -> bool:
    """A fault is told when first seen, then at most once per period (pure)."""
    return told_at is None or now - told_at >= period


class FaultLog:
    """`failed(error, "polls")` logs "database …/mm.db: disk is full; polls will be retried"
    at most once per `period` seconds for each cause and kind of write; `succeeded()` ends
    the fault with one line saying how many writes failed meanwhile."""

    def __init__(self, logger: logging.Logger, period: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.period = period
        self.clock = clock
        self._faults: dict[tuple[str, str], _Fault] = {}

    @property
    def active(self) -> bool:
        return bool(self._faults)

    def failed(self, error: StorageError, what: str) -> None:
        key, now = (str(error), what), self.clock()
        fault = self._faults.get(key)
        if fault is None:
            self._faults[key] = _Fault(told_at=now)
            self.logger.error("%s; %s will be retried", error, what)
            return
        fault.total += 1
        if not tell_now(fault.told_at, now, self.period):
            fault.untold += 1
            return
        self.logger.error("%s; %s will be retried (%d more failed since the last report)", error, what, fault.untold)
        fault.told_at, fault.untold = now, 0

    def succeeded(self) -> None:
        if not self._faults:
            return
        failed = sum(fault.total for fault in self._faults.values())
        causes = "; ".join(sorted({cause for cause, _ in self._faults}))
        self._faults.clear()
        self.logger.warning("database writes work again (%d failed meanwhile: %s)", failed, causes)
