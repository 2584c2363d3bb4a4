"""`run` and `run --once` as an operator sees them on the console.

`run --once`: a progress bar on a terminal, the report (monitor/cli/run_report.py), and on
Ctrl-C what was done and what is left. `run`: a banner that counts the feeds really polled,
when the next poll is due, per-feed warnings (one outage line instead of one per feed while
the network is down), and a summary when every feed has been polled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.cli.context import (
    EXIT_INTERRUPTED, EXIT_PROBLEMS, ago, load_progress, plural, print_json, program_name, progress_bar, stderr,
)  # fmt: skip
from monitor.cli.run_report import AlertCounts, OnceTotals, alert_counts, once_json, once_totals, print_once_report
from monitor.cli.safe_text import VisibleStream, visible

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.pipeline import PollSummary


def run_once(config: Config, *, send_digests: bool, as_json: bool, every_feed: bool) -> int:
    """Poll every feed once, deliver, report; exit 0 when at least one feed was polled."""
    from monitor.daemon import Monitor
    from storage import feeds

    done: list[PollSummary] = []
    started = datetime.now(UTC)

    async def cycle() -> int:
        # With --json, standard output is the JSON document: console alerts go to stderr.
        stream = VisibleStream("stderr" if as_json else "stdout")
        async with Monitor(config, console_stream=stream, rules_progress=load_progress) as monitor:
            total = len(feeds.active_feed_ids(monitor.db))
            interrupted = False
            with progress_bar(total, "polling feeds") as advance, _cancel_on_signals():
                def on_poll(summary: PollSummary) -> None:
                    done.append(summary)
                    advance(1)

                try:
                    summaries = await monitor.run_once(send_digests=send_digests, on_poll=on_poll)
                except asyncio.CancelledError:
                    asyncio.current_task().uncancel()
                    interrupted, summaries = True, list(done)
            alerts = alert_counts(monitor.dispatcher)
            if not interrupted:
                if as_json:
                    print_json(once_json(summaries, once_totals(summaries, alerts)))
                else:
                    print_once_report(summaries, monitor, every_feed=every_feed)
                return 0 if any(s.success for s in summaries) else EXIT_PROBLEMS
        # Interrupted: counted from the database once the monitor has closed, as polls on their
        # way to the write thread when Ctrl-C came were stored then, with no summary back.
        stored = stored_since(config, started)
        if as_json:
            print_json(once_json(summaries, stored_totals(stored, alerts), interrupted=True,
                                 pending=total - stored.feeds))
        else:
            _print_interrupted(stored, total, alerts)
        return EXIT_INTERRUPTED

    return asyncio.run(cycle())


def stored_since(config: Config, started: datetime) -> StoredSince:
    from storage import open_database
    from storage.articles import count_articles_since
    from storage.feeds import active_feeds
    from storage.hits import count_hits_since

    db = open_database(config.storage_path, read_only=True)
    try:
        polled = [f for f in active_feeds(db) if f.last_polled_at and f.last_polled_at >= started]
        return StoredSince(
            feeds=len(polled),
            succeeded=sum(1 for f in polled if f.last_success_at and f.last_success_at >= started),
            new_articles=count_articles_since(db, started),
            hits=count_hits_since(db, started),
        )
    finally:
        db.close()


@dataclass(frozen=True)
class StoredSince:
    """What an interrupted `run --once` stored, read back from the database."""

    feeds: int
    succeeded: int
    new_articles: int
    hits: int


def stored_totals(stored: StoredSince, alerts: AlertCounts) -> OnceTotals:
    return OnceTotals(feeds=stored.feeds, succeeded=stored.succeeded, new_articles=stored.new_articles,
                      updated_articles=0, hits=stored.hits, alerts=alerts)


def _print_interrupted(stored: StoredSince, total: int, alerts: AlertCounts) -> None:
    stderr.print(
        f"interrupted: {stored.feeds:,} of {plural(total, 'feed')} polled and stored "
        f"({stored.succeeded:,} ok, {stored.feeds - stored.succeeded:,} failed; "
        f"{plural(stored.new_articles, 'new article')}, {plural(stored.hits, 'hit')}); "
        f"{total - stored.feeds:,} not polled yet; "
        f"alerts sent {alerts.sent:,}, the others wait in the outbox; "
        f"`{program_name()} run --once` polls the rest and sends them",
        markup=False,
    )


class _cancel_on_signals:
    """SIGINT/SIGTERM cancel the running task (so the report can say what was done)
    instead of unwinding the whole process with KeyboardInterrupt."""

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_forever(config: Config) -> int:
    """The daemon, until SIGINT/SIGTERM."""
    from monitor.daemon import Monitor
    from storage import feeds

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGTERM from the start: one that comes while the monitor still starts (loading a big
        # rules set takes seconds) stops it cleanly once started, instead of killing it there.
        # Ctrl-C during the start still interrupts it at once.
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with Monitor(config, console_stream=VisibleStream("stdout"), rules_progress=load_progress) as monitor:
            loop.add_signal_handler(signal.SIGINT, stop.set)
            active = feeds.active_feeds(monitor.db)
            configured = {spec.url for spec in config.feeds}
            watch = PollWatch(
                feeds={feed.id: feed.next_poll_at for feed in active},
                in_outage=lambda: monitor.pipeline.outages.in_outage,
            )
            added = sum(1 for feed in active if feed.url not in configured)
            origin = f" ({len(active) - added:,} from the config, {added:,} added with `feeds add`/`import`)" if added else ""
            stderr.print(
                f"minerals-monitor: polling {plural(len(active), 'feed')}{origin} with "
                f"{plural(len(monitor.rules.current.ruleset.rules), 'rule')}, database {config.storage_path}; "
                "Ctrl-C to stop", style="dim", markup=False,
            )
            stderr.print(watch.next_poll_line(datetime.now(UTC)), style="dim", markup=False)
            async with _web_console(monitor, config):
                await monitor.run_forever(stop, on_poll=watch.record)
            stderr.print(f"minerals-monitor: {monitor.stop_message()}", style="dim", markup=False)
            return 0

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def _web_console(monitor, config):
    """The console inside `run` when [web] listen is set (the embedded defaults set it); the web
    stack is imported only then. A busy port stops a configured console, not the defaults' one."""
    if config.web.listen is None:
        yield
        return
    from monitor.web.server import WebListenError, console_inside

    try:
        async with console_inside(monitor, config.web.listen) as url:
            stderr.print(f"minerals-monitor: web console at {url}", style="bold")
            yield
    except WebListenError as error:
        if config.source is not None:
            raise
        stderr.print(f"{error}; monitoring without it", markup=False)
        yield


@dataclass
class PollWatch:
    """What the running monitor says about its polls: per-feed warnings (held back while
    the network is down), and one summary once every feed has been polled."""

    feeds: dict[int, datetime | None]  # feed id -> next poll due
    in_outage: Callable[[], bool] = lambda: False  # the pipeline's outage detector
    write: Callable[[str, str], None] | None = None  # (line, style); default: stderr
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    _first_round: set[int] = field(default_factory=set)
    _reachable: int = 0
    _failed: int = 0
    _held_back: int = 0
    _outage_seen: bool = False
    # First-round failures with no answer at all (DNS, refused, timeout): said at the round's
    # end, unless an outage is declared first (the detector needs several hosts to fail, so
    # offline the first few came out before the outage line).
    _unanswered: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._first_round = set(self.feeds)

    def next_poll_line(self, now: datetime) -> str:
        if not self.feeds:
            return "no feeds to poll: add some with `feeds add URL` or [[feeds]] in the config"
        due = [moment for moment in self.feeds.values() if moment is not None and moment > now]
        if len(due) < len(self.feeds):
            waiting = len(self.feeds) - len(due)
            return f"polling {plural(waiting, 'feed')} now" + (
                f"; the others are due from {ago(min(due), now)}" if due else "")
        return f"next poll due {ago(min(due), now)} (polls are scheduled from the last run); nothing to do until then"

    def record(self, summary: PollSummary, next_poll_at: datetime | None) -> None:
        """One scheduled poll ended."""
        self.feeds[summary.feed_id] = next_poll_at
        outage = bool(self.in_outage())
        self._outage_seen |= outage
        if summary.success:
            self._reachable += 1
        elif not summary.skipped:
            self._failed += 1
            warning = f"warning: feed {visible(summary.feed_name)} ({visible(summary.url)}): {visible(summary.error)}"
            if outage:
                self._held_back += 1  # the outage line covers it
            elif summary.http_status is None and summary.feed_id in self._first_round:
                self._unanswered.append(warning)
            else:
                self._say(warning, "yellow")
        if outage and self._unanswered:
            self._held_back += len(self._unanswered)
            self._unanswered.clear()
        if summary.feed_id in self._first_round:
            self._first_round.discard(summary.feed_id)
            if not self._first_round:
                for warning in self._unanswered:
                    self._say(warning, "yellow")
                self._unanswered.clear()
                self._say(self.round_summary(self.now()), "dim")

    def round_summary(self, now: datetime) -> str:
        polled = self._reachable + self._failed
        due = [moment for moment in self.feeds.values() if moment is not None]
        next_try = f"next poll {ago(min(due), now)}" if due else "no poll scheduled"
        if self._outage_seen and self._reachable == 0:
            return (f"0/{polled:,} feeds reachable: the network looks down; {next_try}; "
                    f"try `{program_name()} demo` to see the pipeline offline")
        line = f"every feed polled once: {self._reachable:,}/{polled:,} reachable"
        if self._failed:
            line += f", {self._failed:,} failed (`feeds list --failing` shows why)"
        if self._held_back:
            line += f"; {plural(self._held_back, 'warning')} held back during the network outage"
        return f"{line}; {next_try}"

    def _say(self, line: str, style: str) -> None:
        if self.write is not None:
            self.write(line, style)
        else:
            stderr.print(line, style=style, markup=False)

