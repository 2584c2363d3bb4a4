"""Polling keeps its rhythm whatever the feeds and the clock do (issue 15.2, 15.9).

- A feed that answers slower than its interval is polled again as soon as its poll ends and
  its interval has passed; APScheduler's "maximum number of running instances reached"
  warning (one per tick: 3,730 in a 200-feed load run) never appears.
- A `next_poll_at` stored by a clock that was ahead (an hour, a year) does not stop polling:
  on start, the feed is polled within its interval.
"""

from __future__ import annotations

import time

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
