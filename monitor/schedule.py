"""The APScheduler 3 side: one job per feed, rescheduled after each poll.

After a poll, the job's next run moves to the feed's decided next_poll_at (interval,
jitter, backoff, Retry-After), so there is no second timing mechanism.

Every job but the digests runs alone (`run_alone`, `AfterEachRun`): once fired it has no
next tick until its run ends and sets one. With an interval trigger and max_instances=1 the
trigger kept firing during a poll slower than its interval, and APScheduler logged a
warning per tick ("maximum number of running instances reached": 3,730 in a 200-feed load
run); now no tick comes due during a run, and a slow poll is followed by the next one an
interval after it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from monitor.config import PollingConfig
from monitor.decide import base_interval, due_at
from storage.types import Feed


def job_id(feed_id: int) -> str:
    return f"feed-{feed_id}"


HOLD = timedelta(days=1)  # how long a fired job waits for its run to set its next time
# A run that sets its next run to "now" (a poll whose store took its whole interval) is due
# again before APScheduler counts it as ended (the wake-up runs before the task's done
# callback): with max_instances=1 that was the warning, and the poll was skipped (11 in a
# 100-feed bench run after the trigger no longer fired during runs). Two runs' work never overlaps: a job is held from its start until its run sets the next time, at the end.
MAX_INSTANCES = 2


class AfterEachRun(BaseTrigger):
    """The trigger of a job that runs alone: once fired, the job is held (HOLD) until its run
    ends and sets the next time (`run_alone`), so APScheduler never finds it due while it runs.
    Held from the moment APScheduler starts the run, not from the run's first step, and without
    a pause and resume (two more wake-ups of the scheduler per poll)."""

    def __init__(self, seconds: float):
        self.interval = timedelta(seconds=seconds)
        self.running = False  # set by run_alone: a clock step does not move a held job

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            return now + self.interval
        return max(previous_fire_time, now) + HOLD

    def __str__(self) -> str:
        return f"after each run ({self.interval})"


def every(seconds: float) -> AfterEachRun:
    return AfterEachRun(seconds)


def run_alone(scheduler: AsyncIOScheduler, job: str, work: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[None]]:
    """`work` as a job with an AfterEachRun trigger (see the module docstring). When it ends, a
    job that `work` rescheduled itself (a poll's next_poll_at) keeps that time; any other runs
    again an interval after this run ended."""

    @functools.wraps(work)
    async def alone(*args: object) -> None:
        found = scheduler.get_job(job)
        held = found.next_run_time if found is not None else None
        if found is not None:
            found.trigger.running = True
        try:
            await work(*args)
        finally:
            if found is not None:
                found.trigger.running = False
                _next_run_unless_set(scheduler, job, held)

    return alone


def _next_run_unless_set(scheduler: AsyncIOScheduler, job: str, held: datetime | None) -> None:
    found = scheduler.get_job(job)
    if found is not None and found.next_run_time == held:
        scheduler.modify_job(job, next_run_time=datetime.now(UTC) + found.trigger.interval)


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
        AfterEachRun(interval),  # the poll's decided next_poll_at (jittered by decide.py) is its next run
        args=[feed.id],
        id=job_id(feed.id),
        name=feed.name,
        coalesce=True,
        max_instances=MAX_INSTANCES,
        misfire_grace_time=None,  # late is better than skipped: a skipped run would be held a day
        next_run_time=first_run,
        replace_existing=True,
    )


def add_upkeep_job(scheduler: AsyncIOScheduler, job: str, work: Callable[..., Awaitable[object]],
                   trigger: AfterEachRun | CronTrigger, args: tuple = ()) -> None:
    """A job of the daemon's own: rules reload and indexing every `every(seconds)`, each run
    alone; digests on their cron schedule (one an hour at most: they never overlap)."""
    alone = isinstance(trigger, AfterEachRun)
    scheduler.add_job(run_alone(scheduler, job, work) if alone else work, trigger, args=list(args), id=job,
                      coalesce=True, max_instances=MAX_INSTANCES if alone else 1, misfire_grace_time=None)


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
    """The wall clock stepped back `step` (< 0) seconds: every waiting job's next run moves back
    as much, since it was planned by the clock before the step (an hour back: no poll for an
    hour). A running one sets its next run by the new clock when it ends. Returns how many
    moved. A step forward needs nothing: the jobs are due at once and coalesce into one run
    each. Cron jobs (digests) keep their wall-clock times."""
    moved = 0
    for job in scheduler.get_jobs():
        trigger = job.trigger
        if isinstance(trigger, AfterEachRun) and not trigger.running and job.next_run_time is not None:
            scheduler.modify_job(job.id, next_run_time=job.next_run_time + timedelta(seconds=step))
            moved += 1
    return moved
