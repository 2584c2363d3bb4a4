"""The APScheduler side (monitor/schedule.py), on a real AsyncIOScheduler: jobs that run alone
(issue 15.2) and following the wall clock back (issue 15.9)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import schedule


def test_a_job_slower_than_its_interval_runs_again_after_it_ends_without_a_warning(caplog):
    runs: list[float] = []

    async def slow() -> None:
        runs.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.5)  # five ticks of its 0.1 s interval

    async def main() -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        schedule.add_upkeep_job(scheduler, "slow", slow, schedule.every(0.1))
        scheduler.start()
        await asyncio.sleep(1.9)
        scheduler.shutdown(wait=False)

    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert len(runs) >= 3  # 0.1 s wait + 0.5 s run, again and again
    assert all(later - earlier >= 0.55 for earlier, later in zip(runs, runs[1:]))  # never overlapped


def test_a_run_that_sets_its_next_run_to_now_runs_again_without_a_warning(caplog):
    """A poll whose store took its whole interval sets a next run that is due at once. APScheduler
    looks for due jobs (woken by that change) before it counts the run as ended: with
    max_instances=1 that was a warning, and the poll was skipped."""
    runs: list[float] = []
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def poll() -> None:
        runs.append(time.monotonic())
        schedule.move_next_run(scheduler, 1, datetime.now(UTC) + timedelta(microseconds=100))

    async def main() -> None:
        schedule.add_upkeep_job(scheduler, schedule.job_id(1), poll, schedule.every(60))
        schedule.move_next_run(scheduler, 1, datetime.now(UTC))
        scheduler.start()
        await asyncio.sleep(0.5)
        scheduler.remove_job(schedule.job_id(1))
        await asyncio.sleep(0.05)  # the run already started ends (shutdown would cancel it: an ERROR)
        scheduler.shutdown(wait=False)

    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text[-2000:]
    assert len(runs) >= 20


def test_a_wall_clock_step_is_told_apart_from_drift():
    steps = schedule.WallClockSteps(tolerance=2.0)
    assert steps.step(wall=1_000_000.0, monotonic=50.0) == 0.0  # the first look
    assert steps.step(wall=1_000_002.5, monotonic=52.0) == 0.0  # half a second of drift
    assert steps.step(wall=996_404.5, monotonic=54.0) == -3600.0  # stepped back an hour
    assert steps.step(wall=996_406.5, monotonic=56.0) == 0.0
    assert steps.step(wall=1_000_008.5, monotonic=58.0) == 3600.0  # and forward again


def test_after_the_clock_steps_back_an_hour_interval_jobs_run_within_their_interval():
    ran: list[str] = []

    async def poll(name: str) -> None:
        ran.append(name)

    async def main() -> int:
        scheduler = AsyncIOScheduler(timezone=UTC)
        # Planned by the clock before it stepped back an hour: due in 1 h 1 s by the clock now.
        planned = datetime.now(UTC) + timedelta(hours=1, seconds=1)
        scheduler.add_job(poll, schedule.every(60), args=["feed"], id="feed", next_run_time=planned)
        scheduler.add_job(poll, schedule.digest_trigger("daily", 8), args=["digest"], id="digest")
        scheduler.start()
        digest_at = scheduler.get_job("digest").next_run_time
        moved = schedule.follow_clock_step_back(scheduler, -3600.0)
        await asyncio.sleep(1.5)
        assert scheduler.get_job("digest").next_run_time == digest_at  # a cron time is a wall-clock time
        scheduler.shutdown(wait=False)
        return moved

    assert asyncio.run(main()) == 1
    assert ran == ["feed"]
