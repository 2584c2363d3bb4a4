"""FaultLog: a fault of the database file is told once per cause and period, then its end."""

from __future__ import annotations

import logging

from monitor.faults import FaultLog
from storage.exceptions import DiskFullError


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_cause_and_period_then_one_when_writes_work_again(caplog):
    clock = Ticks()
    faults = FaultLog(logging.getLogger("test.faults"), period=60, clock=clock)
    full = DiskFullError("database /d/mm.db: disk is full")
    with caplog.at_level(logging.INFO, logger="test.faults"):
        for second in range(150):  # a failed poll every second for 2.5 minutes
            clock.now = float(second)
            faults.failed(full, "polls")
        faults.failed(full, "alert records")
        assert faults.active
        faults.succeeded()
        faults.succeeded()  # nothing more to tell
    assert [r.getMessage() for r in caplog.records] == [
        "database /d/mm.db: disk is full; polls will be retried",
        "database /d/mm.db: disk is full; polls will be retried (59 more failed since the last report)",
        "database /d/mm.db: disk is full; polls will be retried (59 more failed since the last report)",
        "database /d/mm.db: disk is full; alert records will be retried",
        "database writes work again (151 failed meanwhile: database /d/mm.db: disk is full)",
    ]
    assert not faults.active
