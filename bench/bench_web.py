"""Benchmark: the web console on a 1,000,000-article archive, and under load beside polling.

    .venv/bin/python bench/bench_web.py                  # 1,000,000 articles; 50 clients x 30 s beside 1,000 feeds
    .venv/bin/python bench/bench_web.py --quick          # 200,000 articles; 50 clients x 10 s (make bench)
    .venv/bin/python bench/bench_web.py --articles 1000000 --skip-load

Part 1, answer time on a large archive (issue 19.2a): a synthetic archive of N articles from
1,000 feeds over 90 days (news-like text from bench/feedserver.py's writer, 7% on the beat;
8% of the articles are reprints that join an earlier story), the beat articles matched by the
bundled rules pack for real (hits with their terms), one console delivery per hit, the full-
text index built. It is built once and kept in the system temp folder (keyed by N and the
generator version). Each page is asked for through the app (httpx's ASGI transport, the
console's answer cache off, so every answer runs its queries) 1 + 10 times; p50 and max of
the 10 are printed. Target: every p50 under 100 ms.

Part 2, load (issue 19.8): a feed server process with 1,000 feeds (50 ms latency each), a
monitor process (worker processes for fetch and parse, the write thread, the console served
in-process by `Console.inside`) polling round after round (10% of the feeds changed before each
round, so every round writes), and a load process of 50 concurrent clients asking for the
stories page, the API, a filtered page, a search and an Atom feed. Each client waits for its
answer, then `--think` seconds (default 1 s, drawn from 0.5x-1.5x: a watcher's refresh or a
dashboard panel) before the next request. Polling throughput (feeds polled per second) is
measured in three windows alone and three under the load, interleaved (alone, load, alone,
load, ...), so that a neighbour's burst on the shared machine falls on both. Targets: no failed request, no "database is
locked", p99 under 300 ms, and polling throughput under load within 10% of polling alone.
`--think 0` is a stress run instead (every client asks again at once): it saturates both cores,
so it reports its figures without targets.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedserver import FeedServerProcess, NewsWriter, control, feed_url  # noqa: E402

ARCHIVE_VERSION = 1
FEEDS = 1000
DAYS = 90
REPRINT_SHARE = 0.08
PAGE_TARGET_MS = 100.0
P99_TARGET_MS = 300.0
THROUGHPUT_TOLERANCE = 0.10
LOAD_URLS = ("/", "/api/stories", "/?rule=antimony", "/api/stories?severity=high", "/api/stories?q=antimony",
             "/feeds/stories.atom")


# --- part 1: the archive ---------------------------------------------------------------


def archive_path(articles: int) -> Path:
    return Path(tempfile.gettempdir()) / f"mm-bench-web-{articles}-v{ARCHIVE_VERSION}.db"


def build_archive(path: Path, articles: int, seed: int = 2026) -> None:
    """N articles, their stories, real hits of the bundled pack on the beat ones, FTS."""
    from monitor.config import bundled_rules_pack
    from monitor.pipeline import document_for
    from monitor.rulesource import load_rule_files
    from storage import open_database
    from storage.articles import index_pending
    from storage.hits import _terms_to_json
    from storage.timefmt import to_db
    from storage.types import Article, MatchedTerm

    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    db = open_database(partial)
    loaded = load_rule_files((bundled_rules_pack(),))
    writer = NewsWriter(seed)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    first = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / articles
    db.execute("BEGIN")
    db.conn.executemany(
        "INSERT INTO feeds (id, url, name, created_at, last_success_at, last_polled_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(f, f"https://news{f}.example.org/feed.xml", f"Bench News {f}", to_db(first), to_db(now), to_db(now))
         for f in range(1, FEEDS + 1)],
    )
    db.execute("COMMIT")
    stories: list[int] = []
    hit_count = 0
    batch = 50_000
    for start in range(1, articles + 1, batch):
        rows, sources, hit_rows, delivery_rows = [], [], [], []
        for article_id in range(start, min(start + batch, articles + 1)):
            beat = rng.random() < 0.07
            title, summary = writer.item(beat)
            feed_id = 1 + article_id % FEEDS
            seen = to_db(first + step * article_id)
            story_id = article_id
            if stories and rng.random() < REPRINT_SHARE:
                story_id = stories[-rng.randint(1, min(20, len(stories)))]
            stories.append(story_id)
            rows.append((article_id, feed_id, f"https://news{feed_id}.example.org/{article_id}", f"https://news{feed_id}.example.org/{article_id}",
                         title, summary, seen, seen, story_id))
            sources.append((feed_id, f"e{article_id}", article_id, seen))
            if not beat:
                continue
            article = Article(feed_id=feed_id, entry_key="", url="", title=title, summary=summary, feed_name=f"Bench News {feed_id}")
            for match in loaded.matcher.match(document_for(article)):
                rule = loaded.by_id[match.rule_id]
                hit_count += 1
                terms = tuple(MatchedTerm(t.term, t.field, t.start, t.end, t.text) for t in match.terms)
                hit_rows.append((hit_count, rule.id, article_id, rule.severity, rule.display_name, _terms_to_json(terms), seen, story_id))
                status = "dead" if rng.random() < 0.01 else "sent"
                delivery_rows.append((hit_count, "console", status, 1, f"msg_bench_{hit_count}", seen, None, rule.id))
        db.execute("BEGIN")
        db.conn.executemany(
            "INSERT INTO articles (id, feed_id, url, link, title, summary, published_at, first_seen_at, story_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.conn.executemany("INSERT INTO article_sources (feed_id, entry_key, article_id, first_seen_at) VALUES (?, ?, ?, ?)", sources)
        db.conn.executemany(
            "INSERT INTO hits (id, rule_id, article_id, severity, rule_name, terms, created_at, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            hit_rows)
        db.conn.executemany(
            "INSERT INTO deliveries (hit_id, channel, status, attempts, idempotency_key, created_at, next_attempt_at, rule_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", delivery_rows)
        db.execute("COMMIT")
        print(f"  archive: {min(start + batch - 1, articles):,} articles, {hit_count:,} hits "
              f"({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    index_pending(db)
    db.execute("ANALYZE")
    db.close()
    partial.rename(path)
    print(f"  archive built in {time.perf_counter() - started:.0f}s: {path}", file=sys.stderr, flush=True)


def page_timings(path: Path, runs: int = 10) -> dict:
    import httpx

    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
    from monitor.web.access import AnswerCache
    from monitor.web.app import Console, create_app
    from monitor.webconfig import WebConfig, parse_listen
    from storage import open_database
    from storage.console import StoryCursor

    listen = parse_listen("127.0.0.1:8765")
    config = Config(storage_path=path, polling=PollingConfig(), feeds=(), rules_files=(bundled_rules_pack(),),
                    alerts=AlertsConfig(), channels={"console": ChannelConfig("console", "console")},
                    web=WebConfig(listen=listen))
    db = open_database(path)
    articles = db.execute("SELECT max(id) FROM articles").fetchone()[0]
    hits = db.execute("SELECT count(*) FROM hits").fetchone()[0]
    stories = db.execute("SELECT count(DISTINCT story_id) FROM hits").fetchone()[0]
    middle = db.execute("SELECT story_id, max(created_at) FROM hits WHERE story_id = (SELECT story_id FROM hits "
                        "ORDER BY created_at LIMIT 1 OFFSET (SELECT count(*) / 2 FROM hits))").fetchone()
    db.close()
    cursor = StoryCursor(middle[1], middle[0]).encode()
    cases = {
        "stories page (HTML)": "/",
        "/api/stories": "/api/stories",
        "rule filter": "/api/stories?rule=antimony",
        "severity >= critical": "/api/stories?severity=critical",
        "feed filter": "/api/stories?feed=17",
        "last 7 days": "/api/stories?since=7d",
        "search (FTS5)": "/api/stories?q=antimony",
        "search + rule": "/api/stories?q=Balochistan&rule=balochistan",
        "a page mid-archive": "/api/stories?" + __import__("urllib.parse").parse.urlencode({"after": cursor}),
        "a story": f"/api/stories/{middle[0]}",
        "story page (HTML)": f"/stories/{middle[0]}",
        "Atom feed": "/feeds/stories.atom",
    }
    console = Console.standalone(config, listen, cache=AnswerCache(seconds=0))
    app = create_app(console)
    results = {}

    async def measure() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as client:
            for name, url in cases.items():
                timings = []
                for run in range(runs + 1):
                    begin = time.perf_counter()
                    answer = await client.get(url, headers={"accept": "text/html"})
                    elapsed = (time.perf_counter() - begin) * 1000
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url}: HTTP {answer.status_code}: {answer.text[:200]}")
                    if run:
                        timings.append(elapsed)
                results[name] = {"url": url, "p50_ms": statistics.median(timings), "max_ms": max(timings)}

    asyncio.run(measure())
    console.close()
    return {"articles": articles, "hits": hits, "stories": stories, "cases": results}


# --- part 2: load beside polling ------------------------------------------------------


def _cpu_seconds(stat_path: str) -> float:
    """utime + stime of a /proc .../stat file (fields 14 and 15), in seconds."""
    with open(stat_path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_role(name: str) -> str:
    if name == "MainThread":
        return "event loop"
    for prefix, role in (("console-read", "console readers"), ("minerals-writer", "write thread")):
        if name.startswith(prefix):
            return role
    return "other threads"


def cpu_by_role() -> dict[str, float]:
    """CPU seconds so far of this process's threads by role, and of its child processes (the
    fetch-and-parse workers): where a window's CPU went (Linux /proc; empty elsewhere)."""
    import threading

    if not os.path.isdir("/proc/self/task"):
        return {}
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    spent: dict[str, float] = {}
    children: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            role = _thread_role(names.get(int(task), ""))
            spent[role] = spent.get(role, 0.0) + _cpu_seconds(f"/proc/self/task/{task}/stat")
            with open(f"/proc/self/task/{task}/children") as listed:
                children.update(int(pid) for pid in listed.read().split())
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
    for pid in children:
        try:
            spent["worker processes"] = spent.get("worker processes", 0.0) + _cpu_seconds(f"/proc/{pid}/stat")
        except (FileNotFoundError, ProcessLookupError):
            continue
    return spent


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: round(after[role] - before.get(role, 0.0), 2) for role in after}


def monitor_role(base: str, feeds: int) -> None:
    """Child process: poll round after round, console in-process; windows on command (stdin)."""
    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
    from monitor.daemon import Monitor
    from monitor.web.server import console_inside
    from monitor.webconfig import WebConfig, parse_listen
    from storage.types import FeedSpec

    workdir = Path(tempfile.mkdtemp(prefix="bench-web-monitor-"))
    listen = parse_listen("127.0.0.1:0")
    config = Config(
        storage_path=workdir / "bench.db",
        polling=PollingConfig(concurrency=100, per_host=100, host_gap=0.0, timeout=120.0, adaptive=False),
        feeds=tuple(FeedSpec(url=feed_url(base, i), name=f"Bench News {i}") for i in range(feeds)),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(default_channels=("console",), skip_older_than=100 * 365 * 86400),
        channels={"console": ChannelConfig("console", "console")},
        web=WebConfig(listen=listen),
    )

    async def main() -> None:
        async with Monitor(config, use_process_pool=True, console_stream=io.StringIO()) as monitor:
            async with console_inside(monitor, listen) as url:
                await monitor.poll_all()  # cold: every item new (not measured)
                await monitor.dispatcher.drain()
                print(json.dumps({"ready": url}), flush=True)
                loop = asyncio.get_running_loop()
                while True:
                    line = await loop.run_in_executor(None, sys.stdin.readline)  # "<label> <seconds>"
                    if not line.strip():
                        return
                    label, window = line.split()
                    polled = errors = 0
                    locked = 0
                    begin = time.perf_counter()
                    cpu_before = cpu_by_role()
                    while time.perf_counter() - begin < float(window):
                        control(base, f"/_change?fraction=0.1&seed={random.randint(1, 10**6)}")
                        for summary in await monitor.poll_all():
                            polled += 1
                            if summary.error:
                                errors += 1
                                locked += "locked" in summary.error
                    elapsed = time.perf_counter() - begin
                    print(json.dumps({"window": label, "polled": polled, "seconds": elapsed, "errors": errors,
                                      "locked": locked, "feeds_per_second": polled / elapsed,
                                      "cpu": cpu_spent(cpu_before, cpu_by_role())}), flush=True)

    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def load_role(url: str, clients: int, seconds: float, think: float) -> None:
    """Child process: `clients` closed-loop clients for `seconds`; prints latency figures."""
    import aiohttp

    latencies: list[float] = []
    by_path: dict[str, list[float]] = {path: [] for path in LOAD_URLS}
    failures: list[str] = []

    async def client(index: int, session: aiohttp.ClientSession, deadline: float) -> None:
        turn = index
        if think:  # watchers arrive spread over a think time, not all in the same millisecond
            await asyncio.sleep(think * random.random())
        while time.perf_counter() < deadline:
            path = LOAD_URLS[turn % len(LOAD_URLS)]
            turn += 1
            begin = time.perf_counter()
            try:
                async with session.get(url.rstrip("/") + path, headers={"accept": "text/html"}) as answer:
                    await answer.read()
                    if answer.status != 200:
                        failures.append(f"{path}: HTTP {answer.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                failures.append(f"{path}: {type(error).__name__}: {error}")
            latencies.append((time.perf_counter() - begin) * 1000)
            by_path[path].append(latencies[-1])
            if think:
                await asyncio.sleep(think * random.uniform(0.5, 1.5))

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(client(i, session, deadline) for i in range(clients)))

    cpu_before = time.process_time()
    asyncio.run(main())
    ordered = sorted(latencies)
    print(json.dumps({
        "requests": len(ordered), "failures": len(failures), "first_failure": failures[0] if failures else None,
        "per_second": len(ordered) / seconds, "cpu_seconds": time.process_time() - cpu_before, "p50_ms": statistics.median(ordered),
        "p99_ms": percentile(ordered, 0.99), "max_ms": ordered[-1],
        "latencies": ordered, "failure_list": failures[:5],
        "paths": {path: {"p50_ms": percentile(sorted(t), 0.5), "p99_ms": percentile(sorted(t), 0.99)} for path, t in by_path.items() if t},
    }), flush=True)


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, int(len(ordered) * fraction + 0.5) - 1)]


PAIRS = 3  # alone / under load windows, interleaved: a neighbour's burst on the shared machine hits both


def load_test(feeds: int, clients: int, seconds: float, think: float) -> dict:
    """`seconds` of load in PAIRS windows, each after a window of polling alone."""
    script = str(Path(__file__).resolve())
    window = seconds / PAIRS
    with FeedServerProcess(feeds, latency=0.05) as server:
        monitor = subprocess.Popen([sys.executable, script, "--role", "monitor", "--base", server.base, "--feeds", str(feeds)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        windows: dict[str, list[dict]] = {"alone": [], "loaded": []}
        runs: list[dict] = []
        try:
            ready = json.loads(monitor.stdout.readline() or "{}")
            if "ready" not in ready:
                raise RuntimeError(f"the monitor did not start: {monitor.stderr.read()[-2000:]}")
            for _ in range(PAIRS):
                monitor.stdin.write(f"alone {window}\n")
                monitor.stdin.flush()
                windows["alone"].append(json.loads(monitor.stdout.readline()))
                load = subprocess.Popen([sys.executable, script, "--role", "load", "--url", ready["ready"], "--clients",
                                         str(clients), "--load-seconds", str(window), "--think", str(think)],
                                        stdout=subprocess.PIPE, text=True)
                monitor.stdin.write(f"loaded {window}\n")
                monitor.stdin.flush()
                windows["loaded"].append(json.loads(monitor.stdout.readline()))
                runs.append(json.loads(load.communicate(timeout=window + 120)[0]))
            monitor.stdin.write("\n")
            monitor.stdin.flush()
            _, err = monitor.communicate(timeout=120)
        finally:
            if monitor.poll() is None:
                monitor.kill()

    def combined(parts: list[dict]) -> dict:
        polled, spent = sum(p["polled"] for p in parts), sum(p["seconds"] for p in parts)
        cpu: dict[str, float] = {}
        for part in parts:
            for role, seconds_spent in part.get("cpu", {}).items():
                cpu[role] = cpu.get(role, 0.0) + seconds_spent
        return {"polled": polled, "seconds": spent, "feeds_per_second": polled / spent,
                "errors": sum(p["errors"] for p in parts), "locked": sum(p["locked"] for p in parts),
                "windows": [round(p["feeds_per_second"]) for p in parts],
                # CPU per second of window, by role (the monitor process and its workers)
                "cpu_per_second": {role: round(total / spent, 3) for role, total in sorted(cpu.items())}}

    latencies = sorted(t for run in runs for t in run["latencies"])
    failures = [f for run in runs for f in run["failure_list"]]
    by_path: dict[str, dict] = {}
    for path in LOAD_URLS:
        by_path[path] = {k: statistics.median(run["paths"][path][k] for run in runs if path in run["paths"])
                         for k in ("p50_ms", "p99_ms")}
    clients_figures = {
        "requests": len(latencies), "failures": sum(run["failures"] for run in runs),
        "first_failure": failures[0] if failures else None, "per_second": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99), "max_ms": latencies[-1],
        "paths": by_path, "cpu_per_second": sum(run["cpu_seconds"] for run in runs) / seconds,
    }
    return {"alone": combined(windows["alone"]), "loaded": combined(windows["loaded"]), "clients": clients_figures,
            "locked_in_log": err.count("database is locked"), "monitor_errors_in_log": err.count("Traceback")}


# --- report ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 articles and a 10 s load (make bench)")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--feeds", type=int, default=FEEDS)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=None)
    parser.add_argument("--think", type=float, default=1.0, help="seconds each client waits between requests (0: stress)")
    parser.add_argument("--skip-archive", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--role", choices=("monitor", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seconds = args.load_seconds or (10.0 if args.quick else 30.0)
    if args.role == "monitor":
        monitor_role(args.base, args.feeds)
        return 0
    if args.role == "load":
        load_role(args.url, args.clients, seconds, args.think)
        return 0
    articles = args.articles or (200_000 if args.quick else 1_000_000)
    missed: list[str] = []
    print(f"bench_web.py: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if not args.skip_archive:
        path = archive_path(articles)
        if not path.exists():
            build_archive(path, articles)
        figures = page_timings(path)
        print(f"\nAnswer times on an archive of {figures['articles']:,} articles, {figures['hits']:,} hits, "
              f"{figures['stories']:,} stories (answer cache off; 10 runs after 1 warm-up)")
        print(f"{'page':<24} {'p50 ms':>8} {'max ms':>8}  url")
        for name, case in figures["cases"].items():
            print(f"{name:<24} {case['p50_ms']:8.1f} {case['max_ms']:8.1f}  {case['url']}")
            if case["p50_ms"] >= PAGE_TARGET_MS:
                missed.append(f"{name}: p50 {case['p50_ms']:.0f} ms >= {PAGE_TARGET_MS:.0f} ms")
    if not args.skip_load:
        result = load_test(args.feeds, args.clients, seconds, args.think)
        alone, loaded, clients = result["alone"], result["loaded"], result["clients"]
        ratio = loaded["feeds_per_second"] / alone["feeds_per_second"]
        pace = f"think time {args.think:g} s" if args.think else "no think time (stress: no targets)"
        print(f"\nLoad: {args.clients} clients x {seconds:g} s, {pace}, on {', '.join(LOAD_URLS)} "
              f"while polling {args.feeds:,} feeds")
        print(f"polling alone:      {alone['feeds_per_second']:7.1f} feeds/s ({alone['polled']} polls, {alone['errors']} errors; "
              f"windows {alone['windows']})")
        print(f"polling under load: {loaded['feeds_per_second']:7.1f} feeds/s ({loaded['polled']} polls, {loaded['errors']} errors; "
              f"windows {loaded['windows']})  = {ratio:.1%} of alone")
        print(f"clients: {clients['requests']} requests ({clients['per_second']:.0f}/s), {clients['failures']} failed, "
              f"p50 {clients['p50_ms']:.1f} ms, p99 {clients['p99_ms']:.1f} ms, max {clients['max_ms']:.1f} ms")
        for path, figures in clients["paths"].items():
            print(f"  {path:<28} p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms (median of the windows)")
        print("CPU (cores busy) by role, alone -> under load: " + ", ".join(
            f"{role} {alone['cpu_per_second'].get(role, 0):.2f} -> {share:.2f}" for role, share in loaded["cpu_per_second"].items())
            + f"; the load clients' own process {clients['cpu_per_second']:.2f}")
        print(f"'database is locked': {result['locked_in_log'] + loaded['locked'] + alone['locked']}")
        stress = not args.think
        if clients["failures"]:
            missed.append(f"{clients['failures']} failed requests (first: {clients['first_failure']})")
        if clients["p99_ms"] >= P99_TARGET_MS and not stress:
            missed.append(f"p99 {clients['p99_ms']:.0f} ms >= {P99_TARGET_MS:.0f} ms")
        if ratio < 1 - THROUGHPUT_TOLERANCE and not stress:
            missed.append(f"polling under load at {ratio:.1%} of alone (< {1 - THROUGHPUT_TOLERANCE:.0%})")
        if result["locked_in_log"] or loaded["locked"] or loaded["errors"]:
            missed.append("database is locked / poll errors under load")
    if missed:
        print("\nTARGETS MISSED: " + "; ".join(missed))
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
