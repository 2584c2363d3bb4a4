"""What the running monitor tells its operator: the banner, when the next poll is due, one
outage line instead of one warning per feed, a summary once every feed was polled."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

from monitor.cli.run_console import PollWatch
from monitor.pipeline import PollSummary
from tests.behaviour_server import BehaviourServer, Response, rss
from tests.conftest import NOW
from tests.monitor.cli.test_run_once_output import run_cli, start_cli, write_desk


def summary(feed_id: int, success: bool, error: str | None = None, status: int | None = None) -> PollSummary:
    return PollSummary(feed_id, f"feed {feed_id}", f"https://f{feed_id}.example.org/rss", success,
                       200 if success else status, error=error)


def watch(feeds: dict, outage: bool = False) -> tuple[PollWatch, list[str]]:
    said: list[str] = []
    return PollWatch(feeds=feeds, in_outage=lambda: outage, write=lambda line, style: said.append(line),
                     now=lambda: NOW), said


def test_a_restart_says_when_the_next_poll_is_due():
    watcher, _ = watch({1: NOW + timedelta(minutes=3), 2: NOW + timedelta(minutes=52)})
    assert watcher.next_poll_line(NOW) == (
        "next poll due in 3m (polls are scheduled from the last run); nothing to do until then")
    watcher, _ = watch({1: None, 2: NOW + timedelta(minutes=52)})
    assert watcher.next_poll_line(NOW) == "polling 1 feed now; the others are due from in 52m"


def test_an_outage_gives_no_warning_per_feed_and_one_summary():
    later = NOW + timedelta(minutes=3)
    watcher, said = watch({n: None for n in range(14)}, outage=True)
    for n in range(14):
        watcher.record(summary(n, False, "DNS lookup failed"), later)
    assert said == ["0/14 feeds reachable: the network looks down; next poll in 3m; "
                    f"try `{said[0].split('`')[1]}` to see the pipeline offline"]
    assert said[0].split("`")[1].endswith("demo")


def test_failures_before_the_outage_is_declared_are_covered_by_its_line_too():
    # Offline, the detector needs several hosts to fail: the first DNS failures came out as
    # warnings before the outage line. Unanswered first-round failures wait for either.
    later = NOW + timedelta(minutes=3)
    outage = [False]
    said: list[str] = []
    watcher = PollWatch(feeds={n: None for n in range(6)}, in_outage=lambda: outage[0],
                        write=lambda line, style: said.append(line), now=lambda: NOW)
    watcher.record(summary(0, False, "DNS lookup failed"), later)
    watcher.record(summary(1, False, "DNS lookup failed"), later)
    assert said == []
    outage[0] = True
    for n in range(2, 6):
        watcher.record(summary(n, False, "DNS lookup failed"), later)
    assert len(said) == 1 and said[0].startswith("0/6 feeds reachable: the network looks down")


def test_unanswered_first_round_failures_without_an_outage_are_said_before_the_summary():
    later = NOW + timedelta(minutes=3)
    watcher, said = watch({1: None, 2: None})
    watcher.record(summary(1, False, "connection refused"), later)
    assert said == []
    watcher.record(summary(2, True), later)
    assert said == ["warning: feed feed 1 (https://f1.example.org/rss): connection refused",
                    "every feed polled once: 1/2 reachable, 1 failed (`feeds list --failing` shows why); next poll in 3m"]


def test_feed_failures_are_warned_one_by_one_and_summed_up_after_the_first_round():
    later = NOW + timedelta(minutes=15)
    watcher, said = watch({1: None, 2: None, 3: None})
    watcher.record(summary(1, True), later)
    watcher.record(summary(2, False, "HTTP 404", status=404), later)
    assert said == ["warning: feed feed 2 (https://f2.example.org/rss): HTTP 404"]
    watcher.record(summary(3, True), later)
    assert said[-1] == "every feed polled once: 2/3 reachable, 1 failed (`feeds list --failing` shows why); next poll in 15m"
    watcher.record(summary(2, False, "HTTP 404", status=404), later)  # later rounds: warnings only
    assert len(said) == 3


def test_the_banner_counts_every_polled_feed_and_a_restart_says_when_polls_are_due(tmp_path):
    with BehaviourServer() as server:
        configured = server.route("/a.xml", lambda r: Response(200, rss(("a1", "Gold", "x"))))
        added = server.route("/b.xml", lambda r: Response(200, rss(("b1", "Gold", "x"))))
        write_desk(tmp_path, [configured])
        assert run_cli("feeds", "add", "--no-check", added, cwd=tmp_path).returncode == 0
        outputs = []
        for _ in range(2):  # a start, then a restart with every poll stored 15 minutes away
            process = start_cli("run", cwd=tmp_path)
            try:
                deadline = time.monotonic() + 60
                seen = ""
                while time.monotonic() < deadline and "every feed polled once" not in seen and "next poll due" not in seen:
                    line = process.stderr.readline()
                    seen += line
                    if not line:
                        break
                process.send_signal(signal.SIGINT)
                rest = process.communicate(timeout=60)[1]
            finally:
                if process.poll() is None:
                    process.kill()
            outputs.append(seen + rest)
    first, restart = outputs
    assert "polling 2 feeds (1 from the config, 1 added with `feeds add`/`import`) with 1 rule" in first, first
    assert "every feed polled once: 2/2 reachable; next poll in 1" in first, first
    assert "next poll due in 1" in restart and "nothing to do until then" in restart, restart
    assert "stopped cleanly" in restart
