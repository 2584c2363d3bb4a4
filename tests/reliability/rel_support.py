"""Helpers for the reliability suite: a publishing feed server, a recording webhook
receiver that can go down and come back on the same port, the daemon as a real
subprocess, and read-only looks into its database.

Everything listens on 127.0.0.1; every wait is bounded in time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from monitor.cli.demo_server import LoopbackServer
from tests.conftest import REPO

PYTHON = sys.executable
SCRIPT = Path(sys.executable).parent / "minerals-monitor"

# A Standard Webhooks secret: whsec_ + base64 of 24 random bytes (not a real credential).
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

RULES_YAML = """\
rules:
  - id: antimony
    name: Antimony
    query: 'antimony'
    severity: high
"""

# Words for item texts: each item draws its own, so no two items look like reprints of
# one story (stories would rightly collapse them into one alert).
_VOCABULARY = (
    "harbour ledger copper tariff quarry railway cobalt licence smelter treaty barge pipeline "
    "nickel auction graphite permit province freight bauxite council refinery tender zinc "
    "lithium parliament customs mine convoy audit royalty province basin lender dividend "
    "warehouse charter ministry export surveyor drilling reserve concession valley cargo "
    "minister budget foundry estuary bond index ridge spindle mandate column glacier tunnel "
    "orchard cannery textile ferry plateau monsoon tribunal gazette ballast lantern quota "
    "turbine compass meadow silo ferrous alloy vessel summit hamlet citadel wharf beacon"
).split()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- feeds that publish over time -----------------------------------------------------


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description: str
    link: str
    published: datetime
    matching: bool


class Publisher:
    """A feed whose items appear over time: item k is published at start + k * gap.

    About `matching_ratio` of the items (seeded) mention antimony; the others never do. Items carry
    their real publication time, so `[alerts] skip_older_than` never skips them.
    """

    def __init__(self, name: str, count: int, gap: float, seed: int, start: float | None = None,
                 matching_ratio: float = 0.5):
        rng = random.Random(seed)
        self.name = name
        self.gap = gap
        self.start = time.monotonic() if start is None else start
        self._wall_start = datetime.now(UTC)
        self.items: list[Item] = []
        for k in range(count):
            matching = rng.random() < matching_ratio
            words = rng.sample(_VOCABULARY, 24)
            subject = "Antimony" if matching else "Quarterly"
            title = f"{subject} report {name}-{k}: {' '.join(words[:4])}"
            description = " ".join(words[4:]) + (" as antimony output rose." if matching else " as output rose.")
            self.items.append(
                Item(
                    guid=f"{name}-{k}",
                    title=title,
                    description=description,
                    link=f"https://news.example.com/{name}/{k}",
                    published=self._wall_start + timedelta(seconds=k * gap),
                    matching=matching,
                )
            )

    def published(self) -> list[Item]:
        elapsed = time.monotonic() - self.start
        return [item for k, item in enumerate(self.items) if k * self.gap <= elapsed]

    def all_published(self) -> bool:
        return len(self.published()) == len(self.items)

    def body(self) -> bytes:
        visible = self.published()[-40:]  # a feed shows its latest entries only
        entries = "".join(
            f"<item><guid isPermaLink=\"false\">{item.guid}</guid><title>{escape(item.title)}</title>"
            f"<link>{item.link}</link><description>{escape(item.description)}</description>"
            f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate></item>"
            for item in reversed(visible)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{self.name}</title><link>https://news.example.com/</link><description>t</description>"
            f"{entries}</channel></rss>"
        ).encode()


class FeedHost(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 serving `path -> () -> (status, headers, body)`."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[], tuple[int, dict[str, str], bytes]]] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server hook)
                path = self.path.split("?", 1)[0]
                with host._lock:
                    route = host.routes.get(path)
                    host.hits[path] = host.hits.get(path, 0) + 1
                status, headers, body = route() if route else (404, {}, b"no such feed")
                headers = dict(headers)
                streamed = headers.pop("X-Stream", None)  # no Content-Length: read until the server closes
                trickle = float(headers.pop("X-Trickle", 0))  # seconds between 64-byte chunks
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if streamed:
                        self.close_connection = True
                    elif "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if trickle:
                        for start in range(0, len(body), 64):
                            self.wfile.write(body[start:start + 64])
                            self.wfile.flush()
                            time.sleep(trickle)
                    elif streamed:
                        for start in range(0, len(body), 1 << 20):
                            self.wfile.write(body[start:start + (1 << 20)])
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (cap, deadline, a killed daemon)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._serve(Handler)

    def serve(self, path: str, body: bytes | Callable[[], bytes], content_type: str = "application/rss+xml",
              status: int = 200, headers: dict[str, str] | None = None) -> str:
        def route() -> tuple[int, dict[str, str], bytes]:
            return status, {"Content-Type": content_type, **(headers or {})}, body() if callable(body) else body

        with self._lock:
            self.routes[path] = route
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 301) -> str:
        """From now on `path` answers `status` with `Location: location` (a feed that moved)."""
        with self._lock:
            self.routes[path] = lambda: (status, {"Location": location}, b"")
        return self.url(path)

    def requests_to(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)


# --- a webhook receiver that records everything and can go down ------------------------


@dataclass
class Delivered:
    headers: dict[str, str]
    body: bytes
    verified: bool | None
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class RecordingReceiver:
    """Standard Webhooks receiver on a fixed 127.0.0.1 port; `up()`/`down()` start and stop it.

    Every request is recorded with its verification result (the `standardwebhooks`
    reference library). `answer(request_index)` returns (status, headers, delay).
    """

    secret: str | None = WEBHOOK_SECRET
    port: int = field(default_factory=free_port)
    answer: Callable[[int], tuple[int, dict[str, str], float]] = lambda index: (204, {}, 0.0)
    requests: list[Delivered] = field(default_factory=list)
    reply_body: Callable[[dict[str, str], bytes], bytes] | None = None  # e.g. a server echoing what it got

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/minerals"

    def up(self) -> RecordingReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server hook)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = None
                if receiver.secret:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(Delivered(headers, body, verified, time.monotonic()))
                status, extra, delay = receiver.answer(index)
                if verified is False:
                    status, extra, delay = 401, {}, 0.0
                if delay:
                    time.sleep(delay)
                answer_body = receiver.reply_body(headers, body) if receiver.reply_body else b""
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer_body)))
                    self.end_headers()
                    self.wfile.write(answer_body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def snapshot(self) -> list[Delivered]:
        with self._lock:
            return list(self.requests)


# --- configs and the daemon as a subprocess --------------------------------------------


def write_config(folder: Path, feed_urls: list[str], *, webhook_url: str | None = None,
                 webhook_secret: str = WEBHOOK_SECRET, extra: str = "", channels: str = "",
                 default_channels: str = '["hook"]', rules: str = RULES_YAML,
                 polling: str = "") -> Path:
    """A config polling `feed_urls` every second, with the antimony rule and a webhook channel."""
    (folder / "watch-rules.yaml").write_text(rules)
    feeds = "".join(f'[[feeds]]\nurl = "{url}"\nname = "feed{index}"\n\n' for index, url in enumerate(feed_urls))
    hook = ""
    if webhook_url:
        hook = f'[channels.hook]\ntype = "webhook"\nurl = "{webhook_url}"\nsecret = "{webhook_secret}"\ntimeout = 5\n\n'
    # Alerts leave as soon as their poll commits unless a test asks for grouping time (issue 14).
    group_wait = "" if "group_wait" in extra else 'group_wait = "0s"\n'
    text = (
        '[storage]\npath = "monitor.db"\n\n'
        '[polling]\ninterval = "1s"\nmin_interval = "1s"\nhost_gap = "0s"\nper_host = 16\nconcurrency = 8\n'
        f'timeout = "5s"\nadaptive = false\njitter = 0\n{polling}\n'
        f"{feeds}"
        '[rules]\nfiles = ["watch-rules.yaml"]\n\n'
        f"[alerts]\ndefault_channels = {default_channels}\n{group_wait}{extra}\n"
        f"{hook}{channels}"
    )
    path = folder / "monitor.toml"
    path.write_text(text)
    return path


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MINERALS_MONITOR_CONFIG"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
            umask: int = -1) -> subprocess.CompletedProcess:
    """`minerals-monitor ARGS` as a user runs it (the console script), bounded in time."""
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=child_env(env), capture_output=True, text=True,
                          timeout=timeout, umask=umask)


class Daemon:
    """`python -m monitor --config CFG run` in its own process group (so a kill takes its workers too)."""

    def __init__(self, config: Path, log_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 umask: int = -1):
        self.umask = umask
        self.config = config
        self.env = env
        self.args = args
        self.log_dir = log_dir
        self.runs = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        self._close_logs()
        self.runs += 1
        self._stdout = open(self.log_dir / f"daemon-{self.runs}.out", "wb")
        self._stderr = open(self.log_dir / f"daemon-{self.runs}.err", "wb")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "monitor", "--config", str(self.config), *self.args, "run"],
            cwd=self.config.parent, env=child_env(self.env), stdout=self._stdout, stderr=self._stderr,
            start_new_session=True, umask=self.umask,
        )
        return self.process

    def signal(self, signum: int) -> None:
        """Send `signum`: SIGKILL goes to the whole process group (the daemon and its parser workers)."""
        assert self.process is not None
        if signum == signal.SIGKILL:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self._close_logs()
        return code

    def _close_logs(self) -> None:
        for handle in (getattr(self, "_stdout", None), getattr(self, "_stderr", None)):
            if handle is not None and not handle.closed:
                handle.close()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; SIGKILL the group if it does not stop in time (then fail)."""
        assert self.process is not None
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=5)
            raise AssertionError(f"the daemon did not stop within {timeout}s of SIGTERM")

    def ensure_dead(self) -> None:
        """Cleanup: kill our process group if it is still there (tests that failed half-way)."""
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=5)
        self._close_logs()
        try:
            if self.process is not None:
                os.killpg(self.process.pid, signal.SIGKILL)  # stray parser workers of our group, if any
        except (ProcessLookupError, PermissionError):
            pass

    def stderr_text(self) -> str:
        return "".join((self.log_dir / f"daemon-{n}.err").read_text(errors="replace") for n in range(1, self.runs + 1))

    def current_stderr(self) -> str:
        """Standard error of the current (latest) run only."""
        return (self.log_dir / f"daemon-{self.runs}.err").read_text(errors="replace")

    def stdout_text(self) -> str:
        return "".join((self.log_dir / f"daemon-{n}.out").read_text(errors="replace") for n in range(1, self.runs + 1))


@contextmanager
def read_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (safe while the daemon writes: WAL)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    if not path.exists():
        return []
    with read_db(path) as conn:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:  # the schema is not there yet (daemon starting)
            if "no such table" in str(error):
                return []
            raise


# --- an outbox filled directly (for Dispatcher tests) -----------------------------------


class Clock:
    """A frozen clock the test moves by hand (UTC-aware)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Outbox:
    """A database with one feed; `add(channels)` stores an article, its hit and one delivery per channel."""

    def __init__(self, path: Path, now: datetime):
        from storage import feeds, open_database, transaction
        from storage.types import FeedSpec

        self.now = now
        self.db = open_database(path)
        with transaction(self.db):
            self.feed, _ = feeds.upsert_feed(self.db, FeedSpec(url="http://127.0.0.1/f.xml", name="Wire"), now)
        self._count = 0

    def add(self, channels: list[str], title: str = "Antimony export deal") -> int:
        from storage import articles, deliveries, hits, transaction
        from storage.types import Article, Hit

        self._count += 1
        n = self._count
        with transaction(self.db):
            article = articles.ingest_entries(
                self.db, self.feed.id,
                [Article(self.feed.id, f"guid:{n}", f"https://e.example.com/{n}", f"{title} {n}", "antimony text",
                         content_hash=str(n))],
                self.now,
            ).new[0]
            hit = hits.insert_hits(self.db, [Hit("antimony", article.id, "high", rule_name="Antimony")], self.now)[0]
            for channel in channels:
                deliveries.enqueue(self.db, hit.id, channel, self.now, rule_id="antimony")
        return hit.id

    def keys_in_creation_order(self, channel: str) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT idempotency_key FROM deliveries WHERE channel = ? ORDER BY id", [channel]).fetchall()]

    def statuses(self, channel: str) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT status FROM deliveries WHERE channel = ? ORDER BY id", [channel]).fetchall()]

    def close(self) -> None:
        self.db.close()


def scalar(path: Path, sql: str, params: tuple = (), default=0):
    """The first column of the first row, or `default` (no database or table yet)."""
    rows = query(path, sql, params)
    return rows[0][0] if rows else default


# --- a small file system of its own, for disk-full and read-only faults ----------------


@contextmanager
def small_filesystem(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (unmounted after), so a full disk or a read-only
    file system is the real thing (ENOSPC, EROFS from the kernel) without touching the
    machine's disk. Mounting needs root (CAP_SYS_ADMIN): without it the test is skipped,
    saying why."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a real disk-full/read-only test: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount(folder: Path, options: str) -> None:
    """Change a small_filesystem's options: "size=64m" (room again), "ro" (read-only)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)
