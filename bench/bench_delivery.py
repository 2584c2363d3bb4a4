"""Benchmark: does delivery keep up with ingest? (issue 15.2)

    .venv/bin/python bench/bench_delivery.py                 # 200 feeds x 5 items per 1-s poll, 120 s, then drain
    .venv/bin/python bench/bench_delivery.py --quick         # 100 feeds, 40 s
    .venv/bin/python bench/bench_delivery.py --report        # also append a section to docs/benchmarks.md

The monitor runs as `run` does (`Monitor.run_forever`, fetch-and-parse worker processes, the
write thread, the dispatcher), polling `--feeds` local feeds every second (interval 1 s,
min_interval 1 s, jitter 0, adaptive off). Every second each feed gets `--items` new items
(bench/feedserver.py, its own process) for `--duration` seconds; one rule matches every item,
and the items are unrelated news, so each is a story of its own and one notification. The
webhook receiver (bench_latency.py's, its own process) answers at once and records each
request's webhook-id and wall-clock arrival.

Measured: articles stored, hits and notifications; notifications sent during the load and
after it; commit -> send latency (the receiver's arrival minus the notification's created_at,
minus group_wait; created_at is taken before the poll is stored, so this overstates a little),
p50/p99/max; requests that repeated a webhook-id (no crash happens here, so any repeat is a
bug); the backlog (notifications waiting) every 2 s; APScheduler "maximum number of running
instances" warnings. Targets (exit 1 if missed): p99 <= 10 s (+ group_wait), no repeats, the
backlog does not grow, everything sent within `--drain` seconds after the load.

"Does not grow" is judged on the trend of every sample in the second half of the load, relative
to how fast notifications are created, not on two samples: a 1-s poll cycle makes the backlog
swing by a few seconds' worth of ingest from one sample to the next. The backlog grows when its
least-squares slope over that half exceeds 5% of the creation rate (delivery keeping up with
less than 95% of ingest) and its last sample holds more than 2 s of ingest; it is too large when
any sample of the load holds more than 10 s of ingest (by Little's law, the queue a 10 s p99
allows).

Every request stays on 127.0.0.1; the machine has 2 cores shared by the monitor, the feed
server and the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_latency import ReceiverProcess, percentile  # noqa: E402
from feedserver import FeedServerProcess, control  # noqa: E402

TARGET_P99_SECONDS = 10.0
RULES = """\
rules:
  - id: every_item
    name: Every item
    query: 'the OR a OR of OR in OR and'
    severity: medium
"""


def make_config(workdir: Path, urls: list[str], hook_url: str, group_wait: float):
    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig
    from storage.types import FeedSpec

    rules = workdir / "rules.yaml"
    rules.write_text(RULES)
    alerts = dict(default_channels=("hook",), skip_older_than=100 * 365 * 86400)
    if "group_wait" in AlertsConfig.__dataclass_fields__:  # (runs against older code too, to compare)
        alerts["group_wait"] = group_wait
    return Config(
        storage_path=workdir / "delivery.db",
        polling=PollingConfig(interval=1.0, min_interval=1.0, adaptive=False, jitter=0.0, concurrency=100,
                              per_host=100, host_gap=0.0, timeout=30.0),
        feeds=tuple(FeedSpec(url=url, name=f"Bench News {i}", interval_seconds=1) for i, url in enumerate(urls)),
        rules_files=(rules,),
        alerts=AlertsConfig(**alerts),
        channels={"hook": ChannelConfig("hook", "webhook", {"url": hook_url})},
    )


class WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        key = "max instances" if "maximum number of running instances" in message else record.name
        self.counts[key] += 1


class Timings:
    """Where the dispatcher's time goes: its reads on the loop, its waits for the write thread,
    and how late the event loop runs (a 50 ms ticker)."""

    READS = ("channels_waiting", "waiting_for_channel", "due_ids", "alerts_by_id", "next_due", "channel_probe")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.lags: list[float] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return
        timings = self
        if asyncio.iscoroutinefunction(original):
            async def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timings.calls[label] += 1
                    timings.seconds[label] += time.perf_counter() - started
        else:
            def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timings.calls[label] += 1
                    timings.seconds[label] += time.perf_counter() - started
        setattr(owner, name, timed)

    def instrument(self, monitor) -> None:
        from alerts import dispatch
        from storage import deliveries

        for name in self.READS:
            if hasattr(deliveries, name):
                self.wrap(dispatch.deliveries, name, f"read {name} (loop)")
        self.wrap(monitor.dispatcher, "_write", "wait for the write thread")
        for name in ("flush_sent", "_next_batch", "_send_batch", "_prepare"):
            self.wrap(monitor.dispatcher, name, f"dispatcher {name}")
        for name in ("send",):
            self.wrap(monitor.dispatcher.channels["hook"], name, "webhook send")

    async def tick(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append(time.perf_counter() - started - 0.05)

    def lines(self) -> list[str]:
        out = [f"event loop lag (50 ms ticker): p50 {percentile(self.lags, 0.5) * 1000:.0f} ms, "
               f"p99 {percentile(self.lags, 0.99) * 1000:.0f} ms, max {max(self.lags, default=0) * 1000:.0f} ms"]
        for label, seconds in self.seconds.most_common():
            calls = self.calls[label]
            out.append(f"  {label}: {calls} calls, {seconds:.1f} s in all, {seconds / calls * 1000:.1f} ms each")
        return out


def slope(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of (seconds, waiting) samples, in notifications per second."""
    if len(samples) < 3:
        return None
    mean_t = statistics.fmean(t for t, _ in samples)
    mean_n = statistics.fmean(n for _, n in samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (n - mean_n) for t, n in samples) / spread if spread else None


def waiting(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'failed')").fetchone()[0]


def outcome(db_path: Path) -> dict:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        created = dict(conn.execute("SELECT idempotency_key, created_at FROM deliveries WHERE digest IS NULL"))
        return {
            "articles": conn.execute("SELECT count(*) FROM articles").fetchone()[0],
            "hits": conn.execute("SELECT count(*) FROM hits").fetchone()[0],
            "created": created,
            "sent": conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0],
        }


async def run(args: argparse.Namespace) -> dict:
    from monitor.daemon import Monitor

    warnings = WarningCounter()
    logging.getLogger().addHandler(warnings)
    timings = Timings()
    backlog: list[tuple[float, int]] = []
    with FeedServerProcess(args.feeds, latency=0.0, beat_fraction=0.0, seed=args.seed, compress=False) as server, \
            ReceiverProcess() as receiver:
        workdir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
        config = make_config(workdir, server.urls(), receiver.url, args.group_wait)
        db_path = config.storage_path
        loop = asyncio.get_running_loop()
        async with Monitor(config, use_process_pool=True) as monitor:
            stop = asyncio.Event()
            timings.instrument(monitor)
            ticker = asyncio.create_task(timings.tick(stop))
            running = asyncio.create_task(monitor.run_forever(stop), name="run_forever")
            await asyncio.sleep(3)  # the first (cold) polls: the feeds' old items, all alerted too
            started = time.monotonic()
            before_load = await loop.run_in_executor(None, outcome, db_path)
            sent_before_load, created_before_load = before_load["sent"], len(before_load["created"])
            second = 0
            next_sample = started
            while time.monotonic() - started < args.duration:
                second += 1
                items = [{"feed": f, "marker": f"-s{second}i{k}"} for f in range(args.feeds) for k in range(args.items)]
                await loop.run_in_executor(None, control, server.base, "/_add?match=0", {"items": items})
                if time.monotonic() >= next_sample:
                    backlog.append((time.monotonic() - started, await loop.run_in_executor(None, waiting, db_path)))
                    next_sample += 2
                await asyncio.sleep(max(0.0, started + second - time.monotonic()))
            load_seconds = time.monotonic() - started
            during = await loop.run_in_executor(None, outcome, db_path)
            drained_in = None
            drain_started = time.monotonic()
            while time.monotonic() - drain_started < args.drain:
                left = await loop.run_in_executor(None, waiting, db_path)
                backlog.append((time.monotonic() - started, left))
                if left == 0:
                    drained_in = time.monotonic() - drain_started
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(1)
            stop.set()
            await asyncio.wait_for(running, timeout=60)
            await ticker
        after = outcome(db_path)
        arrivals = receiver.new_arrivals()
        shutil.rmtree(workdir, ignore_errors=True)
    logging.getLogger().removeHandler(warnings)
    ids = Counter(arrival["id"] for arrival in arrivals)
    latencies = []
    for arrival in arrivals:
        created = after["created"].get(arrival["id"])
        if created is not None:
            latencies.append(arrival["wall"] - datetime.fromisoformat(created).timestamp() - args.group_wait)
    created_per_s = (len(during["created"]) - created_before_load) / load_seconds if load_seconds else 0.0
    during_load = [(t, n) for t, n in backlog if t <= load_seconds]
    second_half = [(t, n) for t, n in during_load if t >= load_seconds / 2]
    return {
        "feeds": args.feeds, "items": args.items, "duration": round(load_seconds, 1), "group_wait": args.group_wait,
        "articles": after["articles"], "hits": after["hits"], "notifications": len(after["created"]),
        "sent_during_load": during["sent"] - sent_before_load, "created_during_load": len(during["created"]),
        "sent": after["sent"], "requests": len(arrivals), "repeated": sum(n - 1 for n in ids.values() if n > 1),
        "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies) if latencies else float("nan"),
        "mean_s": statistics.fmean(latencies) if latencies else float("nan"),
        "backlog": backlog, "created_per_s": created_per_s,
        "backlog_slope_per_s": slope(second_half), "backlog_at_end": during_load[-1][1] if during_load else None,
        "backlog_max": max((n for _, n in during_load), default=None),
        "drained_in": drained_in, "warnings": dict(warnings.counts),
        "ingest_per_s": during["articles"] / load_seconds if load_seconds else 0.0,
        "timings": timings.lines(),
    }


def report(result: dict) -> tuple[str, bool]:
    misses = []
    if not result["p99_s"] <= TARGET_P99_SECONDS:
        misses.append(f"p99 {result['p99_s']:.1f} s > {TARGET_P99_SECONDS:g} s")
    if result["repeated"]:
        misses.append(f"{result['repeated']} repeated webhook-ids without a crash")
    rate = result["created_per_s"]
    if result["backlog_slope_per_s"] is None or not rate:
        misses.append("too few backlog samples to judge growth (run a longer load)")
    else:
        if result["backlog_slope_per_s"] > 0.05 * rate and result["backlog_at_end"] > 2 * rate:
            misses.append(f"backlog grew by {result['backlog_slope_per_s']:.0f}/s over the second half of the load "
                          f"({result['backlog_slope_per_s'] / rate:.0%} of the {rate:.0f}/s created), "
                          f"{result['backlog_at_end']} waiting at its end")
        if result["backlog_max"] > TARGET_P99_SECONDS * rate:
            misses.append(f"backlog reached {result['backlog_max']}, over {TARGET_P99_SECONDS:g} s of ingest "
                          f"({TARGET_P99_SECONDS * rate:.0f})")
    if result["drained_in"] is None:
        misses.append("not drained in time")
    samples = ", ".join(f"{t:.0f}s:{n}" for t, n in result["backlog"][::4])
    lines = [
        f"{result['feeds']} feeds x {result['items']} items per 1-s poll for {result['duration']} s "
        f"(group_wait {result['group_wait']:g} s): {result['articles']} articles stored "
        f"({result['ingest_per_s']:.0f}/s), {result['hits']} hits, {result['notifications']} notifications",
        f"sent during the load: {result['sent_during_load']} of {result['created_during_load']} created; "
        f"all sent {result['sent']}, {result['requests']} requests, {result['repeated']} repeated webhook-ids",
        f"commit -> send: p50 {result['p50_s']:.2f} s, p99 {result['p99_s']:.2f} s, max {result['max_s']:.2f} s, "
        f"mean {result['mean_s']:.2f} s",
        f"backlog (waiting notifications; time since the load started): {samples}",
        f"backlog trend over the second half of the load: {result['backlog_slope_per_s'] or 0:+.0f}/s "
        f"against {result['created_per_s']:.0f} notifications/s created; max {result['backlog_max']}",
        f"drained {result['drained_in']:.1f} s after the load" if result["drained_in"] is not None else "NOT drained",
        f"warnings logged: {result['warnings'] or 'none'}",
        *result["timings"],
        "targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)),
    ]
    return "\n".join(lines), not misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 feeds, 40 s")
    parser.add_argument("--feeds", type=int, default=None, help="feeds (default 200)")
    parser.add_argument("--items", type=int, default=5, help="new items per feed per second (default 5)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load (default 120)")
    parser.add_argument("--drain", type=float, default=240.0, help="seconds allowed to drain after the load")
    parser.add_argument("--group-wait", type=float, default=0.0, help="[alerts] group_wait in seconds (default 0)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--report", action="store_true", help="append the result to docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (100 if args.quick else 200)
    args.duration = args.duration or (40.0 if args.quick else 120.0)
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.ERROR)  # print errors; count warnings (WarningCounter)
    result = asyncio.run(run(args))
    text, ok = report(result)
    print(text)
    if args.report:
        from report import append_section  # bench/report.py

        append_section("Delivery under load (bench_delivery.py)", " ".join(sys.argv[1:]), text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
