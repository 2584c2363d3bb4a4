"""The APScheduler 3 side: one interval job per feed, rescheduled after each poll.

Each job has its interval and jitter and coalesce=True (missed runs collapse into one).
After a poll, the job's next run moves to the feed's decided next_poll_at, so
backoff and Retry-After take effect without a second timing mechanism.

Every job runs alone (`run_alone`): it takes its own next run away while it runs and
gets it back when it ends. max_instances=1 alone let the trigger fire during a poll
slower than its interval, and APScheduler logged a warning per tick ("maximum number of
running instances reached": 3,730 in a 200-feed load run); now there is no tick to skip,
and a slow poll is followed by the next one an interval after it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import PollingConfig
from monitor.decide import base_interval, due_at
from storage.types import Feed


def job_id(feed_id: int) -> str:
    return f"feed-{feed_id}"


def run_alone(scheduler: AsyncIOScheduler, job: str, work: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[None]]:
    """`work` as a job that holds no next run while it runs (see the module docstring).

    When it ends, a job that `work` rescheduled itself (a poll's next_poll_at) keeps that
    time; any other gets its trigger's next time after now."""

    @functools.wraps(work)
    async def alone(*args: object) -> None:
        _pause(scheduler, job)
        try:
            await work(*args)
        finally:
            _resume_if_paused(scheduler, job)

    return alone


def _pause(scheduler: AsyncIOScheduler, job: str) -> None:
    try:
        scheduler.pause_job(job)
    except JobLookupError:
        pass  # removed meanwhile


def _resume_if_paused(scheduler: AsyncIOScheduler, job: str) -> None:
    found = scheduler.get_job(job)
    if found is None or found.next_run_time is not None:
        return
    now = datetime.now(UTC)
    if isinstance(found.trigger, IntervalTrigger):
        # An interval after this run, not the trigger's grid from its start date: that grid is
        # in the wall clock of the start, an hour ahead after the clock stepped back an hour.
        scheduler.modify_job(job, next_run_time=now + found.trigger.interval)
    else:
        scheduler.modify_job(job, next_run_time=found.trigger.get_next_fire_time(None, now))


def add_feed_job(
    scheduler: AsyncIOScheduler,
    feed: Feed,
    polling: PollingConfig,
    poll: Callable[[int], Awaitable[object]],
    first_run: datetime,
) -> None:
    interval = base_interval(feed, polling)
    scheduler.add_job(
        run_alone(scheduler, job_id(feed.id), poll),
        IntervalTrigger(seconds=interval, jitter=int(interval * polling.jitter) or None, timezone=UTC),
        args=[feed.id],
        id=job_id(feed.id),
        name=feed.name,
        coalesce=True,
        misfire_grace_time=int(interval),
        next_run_time=first_run,
        replace_existing=True,
    )


def add_upkeep_job(scheduler: AsyncIOScheduler, job: str, work: Callable[..., Awaitable[object]], trigger: object,
                   args: tuple = ()) -> None:
    """A job of the daemon's own (rules reload, indexing, digests) that runs alone."""
    scheduler.add_job(run_alone(scheduler, job, work), trigger, args=list(args), id=job, coalesce=True)


def remove_feed_job(scheduler: AsyncIOScheduler, feed_id: int) -> None:
    try:
        scheduler.remove_job(job_id(feed_id))
    except JobLookupError:
        pass


def has_feed_job(scheduler: AsyncIOScheduler, feed_id: int) -> bool:
    return scheduler.get_job(job_id(feed_id)) is not None


def move_next_run(scheduler: AsyncIOScheduler, feed_id: int, next_poll_at: datetime | None) -> None:
    """Apply a poll's decided next time (backoff, Retry-After) to the feed's job."""
    if next_poll_at is None:
        return
    try:
        scheduler.modify_job(job_id(feed_id), next_run_time=next_poll_at)
    except JobLookupError:
        pass  # the feed was removed while it was polling


def first_runs(feeds: list[Feed], polling: PollingConfig, now: datetime, spread_seconds: float) -> dict[int, datetime]:
    """Start times for the first polls: due feeds now, spread a little so hosts are not hit at once;
    the others when they are due (`decide.due_at`: a time stored by a clock that was ahead is not waited for)."""
    starts = {}
    count = max(1, len(feeds))
    for index, feed in enumerate(feeds):
        due = due_at(feed, polling, now)
        if due is not None and due > now:
            starts[feed.id] = due
        else:
            starts[feed.id] = now + timedelta(seconds=spread_seconds * index / count)
    return starts


def every(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def digest_trigger(schedule: str, daily_hour: int) -> CronTrigger:
    """"hourly" -> on the hour; "daily" -> daily_hour:00 UTC; else a 5-field crontab."""
    if schedule == "hourly":
        return CronTrigger(minute=0, timezone=UTC)
    if schedule == "daily":
        return CronTrigger(hour=daily_hour, minute=0, timezone=UTC)
    return CronTrigger.from_crontab(schedule, timezone=UTC)


class WallClockSteps:
    """How far the wall clock jumped between two looks, against the monotonic clock (an NTP
    step, a VM resumed, `date -s`). A drift below `tolerance` between looks is no step."""

    def __init__(self, tolerance: float = 2.0):
        self.tolerance = tolerance
        self._offset: float | None = None

    def step(self, wall: float, monotonic: float) -> float:
        """Seconds the wall clock jumped since the last look (negative: back), 0.0 for none."""
        offset = wall - monotonic
        previous, self._offset = self._offset, offset
        if previous is None or abs(offset - previous) < self.tolerance:
            return 0.0
        return offset - previous


def follow_clock_step_back(scheduler: AsyncIOScheduler, step: float) -> int:
    """The wall clock stepped back `step` (< 0) seconds: every waiting interval job's next run
    moves back as much, since it was planned by the clock before the step (an hour back: no
    poll for an hour). Returns how many moved. A step forward needs nothing: the jobs are due
    at once and coalesce into one run each. Cron jobs (digests) keep their wall-clock times."""
    moved = 0
    for job in scheduler.get_jobs():
        if isinstance(job.trigger, IntervalTrigger) and job.next_run_time is not None:
            scheduler.modify_job(job.id, next_run_time=job.next_run_time + timedelta(seconds=step))
            moved += 1
    return moved
