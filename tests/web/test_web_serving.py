"""The console served for real: `serve` and `run` with [web] listen as processes, uvicorn on
127.0.0.1, read with httpx, our own feed fetcher and feedparser."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli.demo import demo_files
from monitor.cli.demo_server import FeedServer
from monitor.fetch.fetcher import Fetcher, FetchRequest
from monitor.parse.feed import parse_feed

CLI = str(Path(sys.executable).parent / "minerals-monitor")
DEADLINE = 60.0  # generous: the machine is shared


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MM_WEB_PASSWORD": "unused"})


def console_url(process: subprocess.Popen) -> str:
    """The address the process announces on stderr ("web console at http://...")."""
    seen = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        line = process.stderr.readline()
        if not line:  # the process closed stderr: it is gone
            break
        seen.append(line)
        if "web console at " in line:
            return line.split("web console at ", 1)[1].split()[0]
    _, rest = stop(process, signal.SIGKILL)
    raise AssertionError(f"no console address announced; stderr: {''.join(seen)}{rest}")


def stop(process: subprocess.Popen, signum: int = signal.SIGINT) -> tuple[int, str]:
    """Signal the process, wait for it; (exit code, the rest of its stderr)."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def test_serve_alone_then_poll_its_atom_feed_like_a_reader(archive, tmp_path):
    (tmp_path / "mm.toml").write_text(f'[storage]\npath = "{archive}"\n')
    process = start(["--config", "mm.toml", "serve", "--listen", "127.0.0.1:0"], tmp_path)
    try:
        url = console_url(process)
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url, headers={"accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and "sign $500m" in page.text

        async def read_feed():
            async with Fetcher(concurrency=1, per_host=1, host_gap=0.0, timeout=10, connect_timeout=5,
                               max_body_bytes=10_000_000, user_agent_string="test") as fetcher:
                first = await fetcher.fetch(FetchRequest(url + "feeds/stories.atom"))
                second = await fetcher.fetch(FetchRequest(url + "feeds/stories.atom", first.etag, first.last_modified))
                return first, second

        first, second = asyncio.run(read_feed())
        assert first.status == 200 and first.etag
        assert second.status == 304  # a reader's conditional GET costs nothing
        ours = parse_feed(first.body, first.headers, 0, "console", url + "feeds/stories.atom")
        theirs = feedparser.parse(first.body)
        assert ours.error is None and len(ours.articles) == len(theirs.entries) > 0
        assert [a.guid for a in ours.articles] == [e.id for e in theirs.entries]
        assert any("MoU" in a.title for a in ours.articles)
    finally:
        code, err = stop(process)
    assert code == 0 and "Traceback" not in err


def test_serve_refuses_an_open_address_without_a_password(tmp_path):
    process = start(["serve", "--listen", "0.0.0.0:0"], tmp_path)
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 2
    assert "would open the console to the network without a password" in err and "Traceback" not in err


def test_serve_says_when_the_port_is_taken(archive, tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        (tmp_path / "mm.toml").write_text(f'[storage]\npath = "{archive}"\n')
        process = start(["--config", "mm.toml", "serve", "--listen", f"127.0.0.1:{taken.getsockname()[1]}"], tmp_path)
        _, err = process.communicate(timeout=DEADLINE)
    finally:
        taken.close()
    assert process.returncode != 0
    assert "cannot listen on 127.0.0.1:" in err and "address already in use" in err and "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_run_serves_the_console_in_process(tmp_path, signum):
    with FeedServer(demo_files()) as server:
        feeds = "".join(f'[[feeds]]\nurl = "{server.url(path)}"\n' for path in server.files)
        (tmp_path / "mm.toml").write_text(
            '[storage]\npath = "mm.db"\n[polling]\nhost_gap = "0s"\n'
            '[alerts]\nskip_older_than = "3650d"\n[web]\nlisten = "127.0.0.1:0"\n' + feeds
        )
        process = start(["--config", "mm.toml", "run"], tmp_path)
        try:
            url = console_url(process)
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                ready = httpx.get(url + "readyz", timeout=10)
                if ready.status_code == 200:
                    break
                time.sleep(0.2)  # waiting for the first polls, which run in another process
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"database", "scheduler", "polling"}
            families = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "metrics", timeout=10).text)}
            polls = {s.labels["outcome"]: s.value for s in families["minerals_monitor_polls"].samples
                     if s.name.endswith("_total")}
            assert polls["ok"] >= 1 and polls["error"] == 0
            assert families["minerals_monitor_poll_duration_seconds"].samples
            assert "minerals_monitor_write_queue_depth" in families
            assert httpx.get(url + "api/stories", timeout=10).json()["stories"]
        finally:
            code, err = stop(process, signum)
    assert code == 0
    assert "stopped cleanly" in err and "Traceback" not in err


def test_the_cli_start_imports_no_web_stack():
    # `--help` and every command but `serve` / `run` with [web] listen stay as light as before.
    code = ("import sys, monitor.cli.main; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'prometheus_client', 'multipart'}))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE, check=True)
    assert found.stdout.strip() == "[]"
