"""Concurrency: CLI commands beside a busy daemon, and two daemons on one database.

- `hits list`, `feeds list`, `alerts list`, `rules backtest` (readers) and `alerts mute`
  (a writer) run as subprocesses while the daemon ingests hundreds of articles per
  second: every one succeeds, none says "database is locked".
- A second daemon (or `run --once`) on the same database refuses with a clear message
  naming the running one's pid and a non-zero exit, and nothing is delivered twice;
  once the first is gone (even SIGKILLed), the database can be used again.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter

from tests.reliability.rel_support import (
    Daemon,
    FeedHost,
    Publisher,
    RecordingReceiver,
    query,
    run_cli,
    scalar,
    wait_until,
    write_config,
)

CLI_COMMANDS = [
    ("hits", "list", "--json", "--limit", "500"),
    ("feeds", "list", "--json"),
    ("alerts", "list", "--json"),
    ("rules", "backtest", "{rules}", "--since", "1d", "--json"),
    ("alerts", "mute", "antimony", "--for", "1s"),  # a configured rule: an unknown one is a usage error
]


def test_cli_commands_never_meet_a_locked_database_while_the_daemon_writes(tmp_path):
    # Four feeds, each publishing 25 items a second: every poll commits a large batch.
    start = time.monotonic()
    publishers = [Publisher(f"busy{n}", 300, 0.04, seed=40 + n, start=start, matching_ratio=0.3) for n in range(4)]
    receiver = RecordingReceiver().up()
    with FeedHost() as host:
        urls = [host.serve(f"/{p.name}.xml", p.body) for p in publishers]
        config = write_config(tmp_path, urls, webhook_url=receiver.url)
        daemon = Daemon(config, tmp_path)
        results: list[tuple[tuple[str, ...], int, str]] = []
        lock = threading.Lock()

        def client(offset: int) -> None:
            deadline = time.monotonic() + 30
            for index in range(3):  # bounded in count and in time; 3 clients x 3 cover all 5 commands
                if time.monotonic() > deadline:
                    return
                command = tuple(a.replace("{rules}", str(tmp_path / "watch-rules.yaml"))
                                for a in CLI_COMMANDS[(index + offset) % len(CLI_COMMANDS)])
                try:
                    done = run_cli("--config", str(config), *command, cwd=tmp_path, timeout=60)
                    outcome = (command, done.returncode, done.stderr)
                    if "--json" in command:
                        json.loads(done.stdout)  # complete, valid JSON
                except subprocess.TimeoutExpired:
                    outcome = (command, -1, "timed out after 60 s")
                except json.JSONDecodeError as error:
                    outcome = (command, -2, f"invalid JSON: {error}")
                with lock:
                    results.append(outcome)

        try:
            daemon.start()
            db = tmp_path / "monitor.db"
            assert wait_until(lambda: scalar(db, "SELECT count(*) FROM articles") > 0, timeout=20)
            clients = [threading.Thread(target=client, args=(n,)) for n in range(3)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(timeout=90)
            assert daemon.process.poll() is None, daemon.stderr_text()[-2000:]
            written = scalar(db, "SELECT count(*) FROM articles")
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
            receiver.down()
    assert written > 100, "the daemon was not busy writing"
    assert len(results) == 9
    failures = [r for r in results if r[1] != 0]
    assert not failures, failures[:3]
    assert not [r for r in results if "locked" in r[2] or "busy" in r[2]]
    assert Counter(r[0][0] + " " + r[0][1] for r in results).keys() >= {
        "hits list", "feeds list", "alerts list", "rules backtest", "alerts mute"}


def test_a_second_daemon_refuses_the_database_and_nothing_is_sent_twice(tmp_path):
    publisher = Publisher("wire", 12, 0.3, seed=77, matching_ratio=0.6)
    receiver = RecordingReceiver().up()
    with FeedHost() as host:
        url = host.serve("/wire.xml", publisher.body)
        config = write_config(tmp_path, [url], webhook_url=receiver.url)
        first = Daemon(config, tmp_path)
        (tmp_path / "second").mkdir()
        (tmp_path / "third").mkdir()
        second = Daemon(config, tmp_path / "second")
        db = tmp_path / "monitor.db"
        try:
            first.start()
            assert wait_until(lambda: "Ctrl-C to stop" in first.current_stderr(), timeout=20)
            second.start()
            code = second.wait(30)
            message = second.current_stderr()
            assert code != 0 and code == 3, (code, message)
            assert "already running on this database" in message and str(first.process.pid) in message, message
            assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
            once = run_cli("--config", str(config), "run", "--once", cwd=tmp_path)
            assert once.returncode == 3 and "already running" in once.stderr, once.stderr
            expected = sum(item.matching for item in publisher.items)
            assert wait_until(lambda: publisher.all_published() and query(
                db, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == [(expected,)], timeout=30)
            assert first.process.poll() is None
            # The first daemon dies hard: its lock goes with it, a new daemon starts at once.
            first.signal(9)
            first.wait(10)
            third = Daemon(config, tmp_path / "third")
            third.start()
            try:
                assert wait_until(lambda: "Ctrl-C to stop" in third.current_stderr(), timeout=20), \
                    third.current_stderr()
                assert third.stop() == 0
            finally:
                third.ensure_dead()
        finally:
            first.ensure_dead()
            second.ensure_dead()
            receiver.down()
    ids = Counter(r.webhook_id for r in receiver.requests)
    assert len(ids) == expected and set(ids.values()) == {1}, ids
