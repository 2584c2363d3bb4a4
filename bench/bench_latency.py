"""Benchmark: how soon an alert reaches a webhook receiver.

    .venv/bin/python bench/bench_latency.py             # (a) 1,000 deliveries, (b) 60 s with a 10 s poll interval
    .venv/bin/python bench/bench_latency.py --quick     # (a) 300 deliveries, (b) 30 s
    .venv/bin/python bench/bench_latency.py --report    # also append a section to docs/benchmarks.md

(a) Commit -> webhook arrival. The monitor (`Monitor(config, use_process_pool=True)`,
    the bundled rules pack, one webhook channel `[channels.hook] type = "webhook"`)
    polls 100 local feeds in rounds; before each round 10 feeds get one new item
    about the beat (it matches one or more rules, so 1-5 deliveries each). The
    commit time of each feed's poll is taken where `Pipeline.on_commit` fires (a
    wrapper around the dispatcher's `wake`, which knows the feed from a context
    variable set around `poll_feed`); the arrival time is taken by the receiver, a
    separate process on 127.0.0.1, when the whole request has been read. Both
    are `time.monotonic()` (one clock for the whole machine on Linux). The
    dispatcher runs as in `run`: `Dispatcher.run()` in a task. p50/p99 over
    >= 1,000 deliveries; targets p50 < 100 ms, p99 < 500 ms (exit 1 if missed).
    A burst (100 feeds with a new matching item in the same poll) is measured
    too, for information: the channel's worker sends one alert at a time.
    With `[alerts] group_wait = "0s"` (a notification leaves when its poll commits).
(b) Item appears -> alert arrives, with `Monitor.run_forever(stop)`, 50 feeds,
    `interval = 10 s` (min_interval 1 s, jitter 10%, adaptive off). Every 0.5 s
    (after the first polls) one feed gets a new matching item; the latency of an
    item is from the moment the feed server serves it to the first alert about
    it at the receiver. Expected: about interval/2 on average, at most
    interval x 1.1 plus the poll and delivery time. Bounded: about 60 s. `--group-wait 30`
    (the default of `[alerts] group_wait`) adds it to both: a story's first hit waits that long.

Every request stays on 127.0.0.1. The feed server (bench/feedserver.py) and the
receiver are separate processes; the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedserver import FeedServerProcess, control, read_request  # noqa: E402
from whatif import EXPERIMENTS, apply_experiments  # noqa: E402

TARGET_P50_MS = 100.0
TARGET_P99_MS = 500.0


# --- the webhook receiver (its own process: `--receiver`) -----------------------------


class Receiver:
    def __init__(self) -> None:
        self.arrivals: list[dict] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                request_line, headers, body = request
                method, target, _version = request_line.split(" ", 2)
                arrived = time.monotonic()
                if method == "POST":
                    try:
                        data = json.loads(body).get("data", {})
                    except ValueError:
                        data = {}
                    self.arrivals.append({
                        "at": arrived,
                        "wall": time.time(),  # bench_delivery.py compares it with the notification's created_at
                        "id": headers.get("webhook-id"),
                        "url": (data.get("article") or {}).get("url", ""),
                        "rule": (data.get("rule") or {}).get("id", ""),
                    })
                    answer = b'{"ok":true}'
                elif target.startswith("/stats"):
                    answer = json.dumps({"connections": self.connections, "posts": len(self.arrivals)}).encode()
                else:
                    since = int(target.partition("since=")[2] or 0) if "since=" in target else 0
                    answer = json.dumps(self.arrivals[since:]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(answer)).encode() + b"\r\n\r\n" + answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _receiver_main() -> None:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class ReceiverProcess:
    def __enter__(self) -> ReceiverProcess:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--receiver"],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.port = int(line.split()[1])
        self.seen = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stats(self) -> dict:
        return control(f"http://127.0.0.1:{self.port}", "/stats")

    def new_arrivals(self) -> list[dict]:
        """Arrivals since the last call."""
        found = control(f"http://127.0.0.1:{self.port}", f"/arrivals?since={self.seen}")
        self.seen += len(found)
        return found


# --- the monitor under test ---------------------------------------------------------


def make_config(workdir: Path, urls: list[str], hook_url: str, *, interval: float = 900.0, concurrency: int = 50,
                group_wait: float = 0.0):
    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, bundled_rules_pack
    from storage.types import FeedSpec

    return Config(
        storage_path=workdir / "latency.db",
        polling=PollingConfig(interval=interval, min_interval=1.0, adaptive=False, concurrency=concurrency,
                              per_host=concurrency, host_gap=0.0, timeout=30.0),
        feeds=tuple(FeedSpec(url=url, name=f"Bench News {i}") for i, url in enumerate(urls)),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(default_channels=("hook",), group_wait=group_wait),
        channels={"hook": ChannelConfig("hook", "webhook", {"url": hook_url})},
    )


CURRENT_FEED: contextvars.ContextVar[int | None] = contextvars.ContextVar("bench_current_feed", default=None)


def instrument(monitor) -> dict[str, float]:
    """Record, per feed URL, the monotonic time its last poll committed hits (when on_commit fires)."""
    from storage import feeds as stored_feeds

    url_of = {feed.id: feed.url for feed in stored_feeds.active_feeds(monitor.db)}
    commits: dict[str, float] = {}
    pipeline = monitor.pipeline
    original_poll, original_commit = pipeline.poll_feed, pipeline.on_commit

    async def poll_feed(feed_id: int, *args, **kwargs):
        CURRENT_FEED.set(feed_id)  # each poll runs in its own task, so its own context
        return await original_poll(feed_id, *args, **kwargs)

    def on_commit() -> None:
        feed_id = CURRENT_FEED.get()
        if feed_id is not None:
            commits[url_of.get(feed_id, str(feed_id))] = time.monotonic()
        original_commit()

    pipeline.poll_feed = poll_feed
    pipeline.on_commit = on_commit
    return commits


def marker_of(url: str) -> str:
    """The `-m<round>x<feed>` marker that bench items carry in their link path."""
    for part in url.split("/"):
        if "-m" in part:
            return part[part.index("-m"):]
    return ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def wait_drained(monitor, timeout: float) -> bool:
    from storage import deliveries

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "hook" not in deliveries.channels_waiting(monitor.db):
            return True
        await asyncio.sleep(0.02)
    return False


async def part_a(args: argparse.Namespace) -> dict:
    from monitor.daemon import Monitor

    feeds, per_round = 100, 10
    rng = random.Random(args.seed)
    latencies: list[float] = []
    burst: list[float] = []
    rounds = 0
    unmatched = 0
    with FeedServerProcess(feeds, latency=args.latency, beat_fraction=0.0, seed=args.seed) as server, ReceiverProcess() as receiver:
        workdir = Path(tempfile.mkdtemp(prefix="bench-latency-a-"))
        config = make_config(workdir, server.urls(), receiver.url, concurrency=100)
        async with Monitor(config, use_process_pool=True) as monitor:
            commits = instrument(monitor)
            first = await monitor.poll_all()  # cold: no beat items yet, so no alerts
            before = receiver.stats()
            assert all(s.http_status == 200 for s in first), [s.error for s in first if s.http_status != 200][:3]
            dispatching = asyncio.create_task(monitor.dispatcher.run(), name="dispatcher")
            started = time.monotonic()

            async def one_round(chosen: list[int], sink: list[float]) -> int:
                nonlocal rounds, unmatched
                rounds += 1
                markers = {f"-m{rounds}x{i}": i for i in chosen}
                urls = {m: server.url(i) for m, i in markers.items()}
                control(server.base, "/_add", {"items": [{"feed": i, "marker": m} for m, i in markers.items()]})
                commits.clear()
                await monitor.poll_all()
                drained = await wait_drained(monitor, timeout=60)
                await asyncio.sleep(0.05)
                count = 0
                for arrival in receiver.new_arrivals():
                    url = urls.get(marker_of(arrival["url"]))
                    if url is None or url not in commits:
                        unmatched += 1
                        continue
                    sink.append(arrival["at"] - commits[url])
                    count += 1
                if not drained:
                    print("  warning: outbox not drained within 60 s", file=sys.stderr)
                return count

            while len(latencies) < args.deliveries and time.monotonic() - started < args.budget:
                await one_round(rng.sample(range(feeds), per_round), latencies)
            after = receiver.stats()
            await one_round(list(range(feeds)), burst)
            burst_seconds = max(burst) if burst else float("nan")
            monitor.dispatcher.stop()
            await dispatching
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "unmatched": unmatched, "posts": after["posts"] - before["posts"], "connections": after["connections"] - before["connections"],
        "deliveries": len(latencies), "rounds": rounds - 1, "per_round": per_round, "feeds": feeds,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "burst_deliveries": len(burst), "burst_p50_ms": percentile(burst, 0.5) * 1000,
        "burst_p99_ms": percentile(burst, 0.99) * 1000, "burst_max_ms": burst_seconds * 1000,
        "burst_rate": len(burst) / burst_seconds if burst else float("nan"),
    }


async def part_b(args: argparse.Namespace) -> dict:
    from monitor.daemon import Monitor

    feeds, interval = 50, args.interval
    rng = random.Random(args.seed + 1)
    appeared: dict[str, float] = {}
    first_alert: dict[str, float] = {}
    with FeedServerProcess(feeds, latency=args.latency, beat_fraction=0.0, seed=args.seed + 1) as server, ReceiverProcess() as receiver:
        workdir = Path(tempfile.mkdtemp(prefix="bench-latency-b-"))
        config = make_config(workdir, server.urls(), receiver.url, interval=interval, concurrency=50,
                             group_wait=args.group_wait)
        async with Monitor(config, use_process_pool=True) as monitor:
            stop = asyncio.Event()
            running = asyncio.create_task(monitor.run_forever(stop), name="run_forever")
            await asyncio.sleep(min(interval + 2, args.duration / 4))  # the first (cold) polls: nothing to alert
            loop = asyncio.get_running_loop()
            add_until = time.monotonic() + args.duration - interval * 1.3 - 5 - args.group_wait
            n = 0
            while time.monotonic() < add_until:
                n += 1
                marker = f"-m{n}x{rng.randrange(feeds)}"
                feed = int(marker.rsplit("x", 1)[1])
                answer = await loop.run_in_executor(None, control, server.base, "/_add", {"items": [{"feed": feed, "marker": marker}]})
                appeared[marker] = answer["at"]
                await asyncio.sleep(args.every)
            deadline = time.monotonic() + interval * 1.3 + 5 + args.group_wait
            while time.monotonic() < deadline and len(first_alert) < len(appeared):
                await asyncio.sleep(0.5)
                for arrival in await loop.run_in_executor(None, receiver.new_arrivals):
                    marker = marker_of(arrival["url"])
                    if marker in appeared and marker not in first_alert:
                        first_alert[marker] = arrival["at"]
            stop.set()
            await asyncio.wait_for(running, timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    latencies = [first_alert[m] - appeared[m] for m in first_alert]
    return {
        "items": len(appeared), "alerted": len(first_alert), "feeds": feeds, "interval": interval,
        "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies) if latencies else float("nan"),
        "mean_s": statistics.fmean(latencies) if latencies else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(a) 300 deliveries, (b) 30 s")
    parser.add_argument("--deliveries", type=int, default=None, help="(a) deliveries to measure (default 1000)")
    parser.add_argument("--budget", type=float, default=120.0, help="(a) at most this many seconds of rounds")
    parser.add_argument("--duration", type=float, default=None, help="(b) seconds of run_forever (default 60)")
    parser.add_argument("--interval", type=float, default=10.0, help="(b) poll interval, seconds (default 10)")
    parser.add_argument("--every", type=float, default=0.5, help="(b) seconds between new items")
    parser.add_argument("--group-wait", type=float, default=0.0,
                        help="(b) [alerts] group_wait in seconds ((a) always 0: commit -> webhook)")
    parser.add_argument("--latency", type=float, default=0.1, help="feed server latency per request (default 0.1 s)")
    parser.add_argument("--only", choices=("a", "b"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--experiment", default="", metavar="NAMES",
                        help="what-if patches (bench/whatif.py), comma-separated: " + ", ".join(EXPERIMENTS))
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        try:
            asyncio.run(_receiver_main())
        except KeyboardInterrupt:
            pass
        return 0
    experiments = [e for e in args.experiment.split(",") if e]
    apply_experiments(experiments)
    args.deliveries = args.deliveries or (300 if args.quick else 1000)
    args.duration = args.duration or (30.0 if args.quick else 60.0)

    started = time.monotonic()
    missed: list[str] = []
    lines: list[str] = []
    a = b = None
    if args.only in (None, "a"):
        print("(a) commit -> webhook arrival ...", file=sys.stderr, flush=True)
        a = asyncio.run(part_a(args))
        lines += [
            "| measure | deliveries | p50 | p99 | max | mean | target |",
            "|---|---|---|---|---|---|---|",
            f"| (a) poll commit -> webhook arrival, rounds of {a['per_round']} changed feeds of {a['feeds']} "
            f"({a['connections']} new TCP connections for {a['posts']} webhook POSTs) "
            f"| {a['deliveries']} | {a['p50_ms']:.1f} ms | {a['p99_ms']:.1f} ms | {a['max_ms']:.1f} ms | {a['mean_ms']:.1f} ms "
            f"| p50 < {TARGET_P50_MS:.0f} ms, p99 < {TARGET_P99_MS:.0f} ms: "
            f"{'met' if a['p50_ms'] < TARGET_P50_MS and a['p99_ms'] < TARGET_P99_MS else 'MISSED'} |",
            f"| (a') burst: all {a['feeds']} feeds with a new matching item in one poll (information) "
            f"| {a['burst_deliveries']} | {a['burst_p50_ms']:.0f} ms | {a['burst_p99_ms']:.0f} ms | {a['burst_max_ms']:.0f} ms "
            f"| - | {a['burst_rate']:.0f} deliveries/s through one channel |",
        ]
        if a["unmatched"]:
            lines.append(f"\n({a['unmatched']} arrivals could not be matched to a commit and are left out.)")
        if a["deliveries"] < args.deliveries:
            missed.append(f"(a) only {a['deliveries']} deliveries measured in the {args.budget:.0f} s budget")
        if not a["p50_ms"] < TARGET_P50_MS:
            missed.append(f"(a) p50 {a['p50_ms']:.1f} ms (target < {TARGET_P50_MS:.0f} ms)")
        if not a["p99_ms"] < TARGET_P99_MS:
            missed.append(f"(a) p99 {a['p99_ms']:.1f} ms (target < {TARGET_P99_MS:.0f} ms)")
    if args.only in (None, "b"):
        print(f"(b) item appears -> alert, run_forever with a {args.interval:g} s interval, {args.duration:.0f} s ...",
              file=sys.stderr, flush=True)
        b = asyncio.run(part_b(args))
        if not lines:
            lines += ["| measure | items | p50 | p99 | max | mean | compared with the interval |", "|---|---|---|---|---|---|---|"]
        lines.append(
            f"| (b) item served -> first alert, run_forever, interval {b['interval']:g} s, group_wait {args.group_wait:g} s, "
            f"{b['feeds']} feeds "
            f"| {b['alerted']}/{b['items']} items | {b['p50_s']:.2f} s | {b['p99_s']:.2f} s | {b['max_s']:.2f} s "
            f"| {b['mean_s']:.2f} s | p50 = {b['p50_s'] / b['interval']:.2f} x interval (expected ~0.5), "
            f"max = {b['max_s'] / b['interval']:.2f} x interval (expected <= ~1.1 + poll time)"
            + (f", both + group_wait" if args.group_wait else "") + " |"
        )
        if b["alerted"] < b["items"]:
            missed.append(f"(b) {b['items'] - b['alerted']} of {b['items']} new items never alerted")
    took = time.monotonic() - started
    if experiments:
        lines.insert(0, f"WHAT-IF run, not the shipped code: patched {', '.join(experiments)} (bench/whatif.py)\n")
    text = "\n".join(lines)
    print()
    print(text)
    print()
    print("All targets met." if not missed else "Targets MISSED:\n" + "\n".join(f"  - {m}" for m in missed))
    print(f"(bench_latency took {took:.0f}s)")
    if args.report:
        from report import append_section

        params = {
            "(a)": f"100 feeds, rounds of 10 feeds each given one new matching item, [alerts] group_wait 0 s, Monitor.poll_all() per round, "
                   f"Dispatcher.run() in a task, one webhook channel to a receiver process on 127.0.0.1; "
                   f"commit time where Pipeline.on_commit fires, arrival time at the receiver (time.monotonic())",
            "(b)": f"Monitor.run_forever(), 50 feeds, interval {args.interval:g} s (min_interval 1 s, jitter 10%, adaptive off), "
                   f"group_wait {args.group_wait:g} s, "
                   f"one new matching item every {args.every:g} s, {args.duration:.0f} s in all; from when the feed server "
                   f"serves the item to the first alert about it",
            "feed server latency": f"{args.latency * 1000:.0f} ms per request",
            "rules": "the bundled pack (rules/packs/minerals-diplomacy.yaml)",
        }
        verdict = "All targets met." if not missed else "Targets missed:\n\n" + "\n".join(f"- {m}" for m in missed)
        append_section("Alert latency (bench/bench_latency.py)", params, f"{text}\n\n{verdict}\n\n_bench_latency took {took:.0f} s._\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
