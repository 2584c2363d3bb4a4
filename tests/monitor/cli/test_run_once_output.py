"""What `run --once` prints: a summary and the feeds worth reading about (capped), every feed
with --verbose, every outcome with --json; on Ctrl-C, what was done and what is left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from monitor.cli.run_report import NOTABLE_ROWS
from tests.behaviour_server import BehaviourServer, Response, rss
from tests.monitor.cli.test_cli import table_rows

HIT_FEEDS, QUIET_FEEDS, MISSING_FEEDS = 25, 10, 5


def write_desk(folder: Path, urls: list[str]) -> None:
    (folder / "r.yaml").write_text("rules:\n  - id: ussm\n    query: USSM\n    severity: high\n")
    feeds = "".join(f'[[feeds]]\nurl = "{url}"\nname = "feed {n:02d}"\n' for n, url in enumerate(urls))
    (folder / "minerals-monitor.toml").write_text(
        f'[rules]\nfiles = ["r.yaml"]\n[alerts]\nskip_older_than = "3650d"\n[polling]\nhost_gap = "0s"\nper_host = 8\n{feeds}'
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "MINERALS_MONITOR_CONFIG"}
    script = Path(sys.executable).parent / "minerals-monitor"
    return subprocess.Popen([str(script), *args], cwd=cwd, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    process = start_cli(*args, cwd=cwd)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def forty_feeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forty")
    with BehaviourServer() as server:
        urls = []
        for n in range(HIT_FEEDS + QUIET_FEEDS):
            title = f"USSM antimony deal {n}" if n < HIT_FEEDS else f"Gold prices {n}"
            body = rss((f"g{n}", title, "text"))
            urls.append(server.route(f"/f{n}.xml", lambda request, body=body: Response(
                200, body, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}
            ) if request.headers.get("if-none-match") != '"v1"' else Response(304, headers={"ETag": '"v1"'})))
        urls += [server.url(f"/missing{n}.xml") for n in range(MISSING_FEEDS)]
        write_desk(folder, urls)
        yield folder, [run_cli("run", "--once", cwd=folder), run_cli("run", "--once", "--verbose", cwd=folder),
                       run_cli("run", "--once", "--json", cwd=folder)]


def test_default_output_is_a_summary_and_the_notable_feeds_capped(forty_feeds):
    _, (first, _, _) = forty_feeds
    assert first.returncode == 0, first.stderr
    rows = table_rows(first.stdout, "Feeds that failed or found hits")
    assert len(rows) == NOTABLE_ROWS
    assert [row[1] for row in rows[:MISSING_FEEDS]] == ["404"] * MISSING_FEEDS  # failures first
    assert all(row[3] == "1" for row in rows[MISSING_FEEDS:])  # then feeds with hits
    notable = HIT_FEEDS + MISSING_FEEDS
    assert f"… and {notable - NOTABLE_ROWS} more; `run --once --verbose` lists every feed" in first.stdout
    total = HIT_FEEDS + QUIET_FEEDS + MISSING_FEEDS
    assert (f"{HIT_FEEDS + QUIET_FEEDS}/{total} feeds polled successfully; {HIT_FEEDS + QUIET_FEEDS} new articles, "
            f"{HIT_FEEDS} hits; alerts sent {HIT_FEEDS}, waiting for retry 0, dead 0") in first.stdout


def test_verbose_prints_every_feed(forty_feeds):
    _, (_, verbose, _) = forty_feeds
    assert verbose.returncode == 0, verbose.stderr
    rows = table_rows(verbose.stdout, "Poll results")
    assert len(rows) == HIT_FEEDS + QUIET_FEEDS + MISSING_FEEDS
    assert sum(1 for row in rows if row[1] == "304") == HIT_FEEDS + QUIET_FEEDS
    assert "0 new articles, 0 hits" in verbose.stdout


def test_json_prints_every_feed_outcome_and_nothing_else(forty_feeds):
    _, (_, _, as_json) = forty_feeds
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)  # console alerts, if any, went to standard error
    assert report["feeds_polled"] == len(report["feeds"]) == HIT_FEEDS + QUIET_FEEDS + MISSING_FEEDS
    assert report["feeds_failed"] == MISSING_FEEDS and report["interrupted"] is False
    missing = [f for f in report["feeds"] if not f["success"]]
    assert {f["http_status"] for f in missing} == {404} and all(f["error"] for f in missing)
    assert {"feed", "url", "success", "http_status", "new_articles", "hits", "error"} <= set(report["feeds"][0])


def test_ctrl_c_says_what_was_polled_and_what_is_left(tmp_path):
    release = threading.Event()

    def stuck(request):
        release.wait(60)
        return Response(200, rss(("late", "late", "late")), {"Content-Type": "application/rss+xml"})

    with BehaviourServer() as server:
        fast = [server.route(f"/fast{n}.xml", lambda r, n=n: Response(200, rss((f"g{n}", f"USSM {n}", "x"))))
                for n in range(6)]
        slow = [server.route(f"/stuck{n}.xml", stuck) for n in range(3)]
        write_desk(tmp_path, fast + slow)
        process = start_cli("run", "--once", cwd=tmp_path)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(server.requests_to(f"/stuck{n}.xml") for n in range(3)):
                time.sleep(0.05)
            assert all(server.requests_to(f"/stuck{n}.xml") for n in range(3)), "the stuck feeds were never asked"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    found = re.search(r"interrupted: (\d+) of 9 feeds polled and stored \((\d+) ok, 0 failed; (\d+) new articles?, (\d+) hits?\); "
                      r"(\d+) not polled yet", stderr)
    assert found, stderr
    polled, ok, new, hits, pending = map(int, found.groups())
    assert hits == new  # every fast feed's item mentions USSM
    assert polled == ok <= 6 and pending == 9 - polled >= 3
    from storage import open_database

    db = open_database(tmp_path / "minerals-monitor.db", read_only=True)
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == new  # what it says was stored, was
    db.close()
