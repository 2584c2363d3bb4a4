"""A rules file that is empty or broken never means "no rules" (issue 15.6).

- At start, `run` and `run --once` refuse a bad or empty rules set: exit 2, one
  `rules error: FILE:LINE:COL: ...` line per problem, nothing polled, no database written.
- A reload that fails or finds no rules (a 0-byte file caught mid-write) keeps the last good
  rules and logs an ERROR; articles polled meanwhile are matched against the last good rules.
- `rules check` flags an empty file and a file without rules.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re

import pytest

from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
from monitor.daemon import Monitor
from monitor.exceptions import RulesFileError
from monitor.rulesource import RulesHolder
from storage import hits
from storage.types import FeedSpec
from tests.behaviour_server import rss
from tests.reliability.rel_support import FeedHost, run_cli, write_config

UNUSED_WEBHOOK = "http://127.0.0.1:9/hooks/never-called"
GOOD = "rules:\n  - id: antimony\n    query: 'antimony'\n    severity: high\n"

BAD_RULES = {
    "yaml-error": ("rules:\n  - id: antimony\n    query: 'antimony\n", r":\d+:\d+: YAML"),
    "unbalanced-paren": ("rules:\n  - id: antimony\n    query: '(antimony OR copper'\n", r":3:\d+: query: expected '\)'"),
    "unknown-alias": ("rules:\n  - id: antimony\n    query: '@metals'\n", r":3:\d+: query: unknown alias @metals"),
    "empty-file": ("", r":1:1: the file is empty"),
    "comments-only": ("# rules go here\n\n", r":1:1: the file is empty"),
}


@pytest.fixture
def feed_host():
    with FeedHost() as host:
        yield host


@pytest.mark.parametrize("case", ["yaml-error", "unbalanced-paren", "unknown-alias", "empty-file"])
def test_run_once_refuses_bad_or_empty_rules_with_file_line_col_and_exit_2(tmp_path, feed_host, case):
    text, expected = BAD_RULES[case]
    url = feed_host.serve("/wire.xml", rss(("g1", "Antimony exports rise", "antimony")))
    config = write_config(tmp_path, [url], rules=text, webhook_url=UNUSED_WEBHOOK)

    done = run_cli("--config", str(config), "run", "--once", cwd=tmp_path, timeout=60)

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and all(line.startswith("rules error: ") for line in lines), done.stderr
    assert re.search(re.escape(str(tmp_path / "watch-rules.yaml")) + expected, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert feed_host.hits.get("/wire.xml", 0) == 0  # nothing was polled
    assert not (tmp_path / "monitor.db").exists()  # nothing was stored unmatched


@pytest.mark.parametrize("case", ["comments-only"])
def test_the_daemon_refuses_bad_or_empty_rules_at_start(tmp_path, feed_host, case):
    text, expected = BAD_RULES[case]
    url = feed_host.serve("/wire.xml", rss(("g1", "Antimony exports rise", "antimony")))
    config = write_config(tmp_path, [url], rules=text, webhook_url=UNUSED_WEBHOOK)

    done = run_cli("--config", str(config), "run", cwd=tmp_path, timeout=30)  # a daemon that starts times out

    assert done.returncode == 2, done.stderr
    assert re.search(expected, done.stderr) and "rules error: " in done.stderr, done.stderr
    assert feed_host.hits.get("/wire.xml", 0) == 0


def test_rules_check_flags_empty_files_and_files_without_rules(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "none.yaml").write_text("aliases:\n  metals: [antimony]\nrules: []\n")
    (tmp_path / "good.yaml").write_text(GOOD)

    done = run_cli("rules", "check", "empty.yaml", "none.yaml", "good.yaml", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout.splitlines()[:2] == [
        "empty.yaml:1:1: the file is empty: a rules file must define at least one rule",
        "none.yaml:1:1: the file defines no rules (its 'rules:' list is missing or empty)",
    ]


def _touch_later(path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # mtime granularity


def test_rules_holder_refuses_a_bad_start_and_keeps_the_last_good_rules_on_an_empty_reload(tmp_path, caplog):
    path = tmp_path / "rules.yaml"
    path.write_text("")
    with pytest.raises(RulesFileError) as refused:
        RulesHolder((path,))
    assert refused.value.problems == [f"{path}:1:1: the file is empty: a rules file must define at least one rule"]

    path.write_text(GOOD)
    holder = RulesHolder((path,))
    with caplog.at_level(logging.INFO, logger="minerals_monitor.rules"):
        _touch_later(path, "")  # caught mid-write
        assert holder.reload_if_changed() is False
    assert [r.id for r in holder.current.ruleset.rules] == ["antimony"]
    assert "rules reloaded: 0 rules" not in caplog.text
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "keeping the last good rules (1 rules)" in errors[0].getMessage()
    assert holder.reload_if_changed() is False and len(caplog.records) == 1  # told once, not every 5 s


def test_articles_polled_while_the_rules_file_is_empty_are_matched_against_the_last_good_rules(tmp_path, feed_server):
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(GOOD)
    feed_server.set_file("/wire.xml", rss(("g1", "Antimony exports rise", "antimony output")))
    config = Config(
        storage_path=tmp_path / "m.db",
        polling=PollingConfig(host_gap=0.0, per_host=4, concurrency=4, timeout=10),
        feeds=(FeedSpec(url=feed_server.url("/wire.xml"), name="wire"),),
        rules_files=(rules_path,),
        alerts=AlertsConfig(skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
    )

    async def go() -> list[str]:
        async with Monitor(config, console_stream=io.StringIO(), use_process_pool=False) as monitor:
            await monitor.run_once()
            _touch_later(rules_path, "")  # the operator's editor truncated the file
            await monitor._reload_rules()
            feed_server.set_file("/wire.xml", rss(("g1", "Antimony exports rise", "antimony output"),
                                                  ("g2", "Antimony smelter opens", "antimony again")))
            await monitor.run_once()
            return sorted(h.article.title for h in hits.list_hits(monitor.db, limit=100))

    assert asyncio.run(go()) == ["Antimony exports rise", "Antimony smelter opens"]


def test_sigterm_while_the_rules_still_load_stops_the_daemon_cleanly(tmp_path) -> None:
    # SIGTERM during the start (a big rules set loads for seconds) killed the daemon there
    # (exit -15): it is handled from the start, and the daemon stops cleanly once started.
    import signal
    import sys
    import time
    from pathlib import Path

    from tests.reliability.rel_support import Daemon

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from make_big_rules import rules_yaml

    with FeedHost() as host:
        url = host.serve("/wire.xml", lambda: rss(("a", "Antimony from Pakistan", "USSM")).encode())
        config = write_config(tmp_path, [url], rules=rules_yaml(4000, seed=2), default_channels="[]")
        daemon = Daemon(config, tmp_path)
        try:
            process = daemon.start()
            # Its fetch workers are started just before the rules load (4,000 rules: ~1 s).
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            deadline = time.monotonic() + 20
            while not children.read_text().split() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert children.read_text().split(), "no fetch worker was started"
            daemon.signal(signal.SIGTERM)
            code = daemon.wait(60)
        finally:
            daemon.ensure_dead()
    assert code == 0, daemon.stderr_text()[-2000:]
    assert "stopped" in daemon.stderr_text().strip().splitlines()[-1]
