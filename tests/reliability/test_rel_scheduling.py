"""Polling keeps its rhythm whatever the feeds and the clock do (issue 15.2, 15.9).

- A feed that answers slower than its interval is polled again as soon as its poll ends and
  its interval has passed; APScheduler's "maximum number of running instances reached"
  warning (one per tick: 3,730 in a 200-feed load run) never appears.
- A `next_poll_at` stored by a clock that was ahead (an hour, a year) does not stop polling:
  on start, the feed is polled within its interval.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

from storage import feeds, open_database, transaction
from storage.timefmt import to_db
from storage.types import FeedSpec
from tests.reliability.rel_support import Daemon, FeedHost, Publisher, wait_until, write_config

MAX_INSTANCES_WARNING = "maximum number of running instances reached"


def test_a_feed_slower_than_its_interval_is_polled_on_without_max_instances_warnings(tmp_path):
    publisher = Publisher("slow", 40, 0.5, seed=152)
    fast = Publisher("fast", 40, 0.5, seed=153)

    def slow_body() -> bytes:
        time.sleep(2.5)  # 2.5 ticks of its 1 s interval
        return publisher.body()

    with FeedHost() as host:
        urls = [host.serve("/slow.xml", slow_body), host.serve("/fast.xml", fast.body)]
        daemon = Daemon(write_config(tmp_path, urls, default_channels="[]"), tmp_path)
        try:
            daemon.start()
            # Four slow polls back to back: each overlaps two of the feed's ticks.
            assert wait_until(lambda: host.hits.get("/slow.xml", 0) >= 4, timeout=40), daemon.current_stderr()
            assert host.hits.get("/fast.xml", 0) >= 6  # the other feed kept its own rhythm meanwhile
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
    log = daemon.stderr_text()
    assert MAX_INSTANCES_WARNING not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_next_polls_stored_by_a_clock_that_was_ahead_are_polled_within_their_interval(tmp_path):
    """As the clock left them after stepping back: the last poll (and the next, a second later)
    an hour ahead, a year ahead. (A time far ahead with the last poll in the past is capped at the
    longest delay a poll plans: tests/monitor/test_decide.py.)"""
    now = datetime.now(UTC)
    ahead = {"/hour.xml": (timedelta(hours=1), timedelta(hours=1, seconds=1)),
             "/year.xml": (timedelta(days=365), timedelta(days=365, seconds=1))}
    with FeedHost() as host:
        urls = [host.serve(path, Publisher(path, 5, 0.1, seed=159).body) for path in ahead]
        config = write_config(tmp_path, urls, default_channels="[]")
        db = open_database(tmp_path / "monitor.db")
        with transaction(db):
            for url in urls:
                feeds.upsert_feed(db, FeedSpec(url=url), now)
        db.close()
        with sqlite3.connect(tmp_path / "monitor.db") as conn:  # as a clock an hour (a year) ahead wrote them
            for url, (polled, planned) in zip(urls, ahead.values(), strict=True):
                conn.execute("UPDATE feeds SET last_polled_at = ?, next_poll_at = ? WHERE url = ?",
                             [to_db(now + polled), to_db(now + planned), url])
        daemon = Daemon(config, tmp_path)
        try:
            daemon.start()
            # Polled within the 1 s interval of the start, and on.
            polled = wait_until(lambda: all(host.hits.get(path, 0) >= 2 for path in ahead), timeout=20)
            assert polled, (host.hits, daemon.current_stderr())
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
