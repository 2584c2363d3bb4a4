"""Benchmark: polling N feeds, this project against lemon24/reader and a naive feedparser loop.

    .venv/bin/python bench/bench_poll.py                 # N = 1,000 and 10,000 (peers at 10,000: reader's best W only)
    .venv/bin/python bench/bench_poll.py --quick         # N = 1,000 only, reader W=20 only
    .venv/bin/python bench/bench_poll.py --feeds 1000 --latency 0.05 --report

What is measured, for each N: three polls of every feed, one after the other:
- cold:   first poll, every feed answers 200 with a ~18 KB, 20-item RSS document
          (gzip-compressed on the wire), every item is new;
- warm:   second poll, nothing changed, every feed answers 304 Not Modified;
- steady: 10% of the feeds changed (one new item prepended, the oldest dropped,
          new ETag), the rest answer 304.
For each: wall time, feeds/s, CPU seconds (the measured process plus its child
processes, e.g. our fetch-and-parse workers), peak RSS (the process plus its children, read from
/proc every 100 ms; spawned workers share little, so the sum is fair), and the TCP
connections the server saw opened (a client that reuses keep-alive connections
opens about `concurrency` of them per poll).

The feeds come from bench/feedserver.py in ONE separate process (an asyncio
HTTP/1.1 keep-alive server; its CPU is not counted against the client; its CPU
use per phase is printed so it can be seen not to be the bottleneck). Every
feed request waits `--latency` seconds (default 100 ms) before its answer,
standing for the network and the remote server. The machine has 2 cores, shared
by the client, its workers and the server.

Contenders, each in a fresh process of its own:
- ours:   `Monitor(config, use_process_pool=True)` + `await monitor.poll_all()` with the
          bundled rules pack and a temporary SQLite file: fetch and parse (one worker
          process per core, monitor/fetch/pool.py), store (write thread), story grouping,
          match, hits and outbox rows; polling concurrency 100 in total. The feeds sit on
          16 loopback addresses (16 "hosts", ~63 feeds each at 1,000), so `per_host` is
          raised to the concurrency and `host_gap` to 0. A loop-lag
          probe (sleep 10 ms, record the overshoot) runs beside the polls; its maximum
          is the longest event-loop stall.
- reader W=10 / W=20: lemon24/reader: `make_reader(db)`, `add_feed` each URL,
          `update_feeds(workers=W, scheduled=False)` (scheduled=False, or reader would
          skip feeds updated less than an hour ago).
- naive:  `for url in urls: feedparser.parse(url, etag=..., modified=...)`, sequential,
          nothing stored. Run on a sample (default 50 feeds spread over the range, 10%
          of them changed for the steady poll) and EXTRAPOLATED to N (time x N / sample).
The limit column is N x latency / concurrency: the time the polls would take if
only the waiting counted (concurrency 100 for ours, W for reader, 1 for naive).

Time: `make bench` passes `--budget 400 --peers-at-10k none --sample 30` so the whole
`make bench` stays under 10 minutes on 2 cores: at 10,000 feeds only ours runs (the
cold poll alone takes minutes), a warm or steady poll that would start after 400 s
is skipped (and says so), and the naive loop reuses its 1,000-feed per-feed figures
(it is sequential and stores nothing, so its cost per feed does not depend on N).
`--peers-at-10k best` adds reader (its best W at 1,000) at 10,000 feeds.

What-if runs: `--experiment drain,sniffio` (repeatable) adds runs of ours with
patches from bench/whatif.py applied in the benchmark process, labelled
`ours+drain+sniffio`; they are not the shipped code, they show what a fix would buy.
`--profile PHASE` (cProfile) and `--spy PHASE` (py-spy, with the parser workers)
print where our time goes.

Targets (exit status 1 if missed; which one is printed):
- at 1,000 feeds, ours against reader's best W: warm >= 3.5x faster, cold >= 2x, steady >= 5x;
- at 10,000 feeds: the longest event-loop stall during the cold poll < 100 ms,
  and peak RSS (with the parser workers) < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedserver import FeedServerProcess, control, feed_url  # noqa: E402
from needs import require  # noqa: E402

PHASES = ("cold", "warm", "steady")
CHANGE_FRACTION = 0.1
TARGETS_AT_1000 = {"warm": 3.5, "cold": 2.0, "steady": 5.0}
MAX_STALL_MS = 100.0
MAX_RSS_MB = 300.0


# --- measuring ---------------------------------------------------------------------


class Meter:
    """CPU seconds and peak RSS of this process plus its children, per phase.

    RSS is read from /proc/<pid>/statm every 100 ms by a thread (cheap: the child
    list is refreshed every 2 s, not at every sample), so measuring costs the
    measured process little CPU and never holds its GIL for long.
    """

    def __init__(self, interval: float = 0.1):
        import psutil

        self.psutil = psutil
        self.proc = psutil.Process()
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.pids: list[int] = [os.getpid()]
        self._refreshed = 0.0
        self.peak = 0
        self.peak_main = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        self._begin: tuple[float, float, float] | None = None

    def _children(self):
        try:
            return self.proc.children(recursive=True)
        except self.psutil.Error:
            return []

    def _rss_of(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * self.page
        except (OSError, ValueError, IndexError):
            return 0

    def rss(self) -> int:
        now = time.monotonic()
        if now - self._refreshed > 2.0:
            self._refreshed = now
            self.pids = [os.getpid()] + [c.pid for c in self._children()]
        own = self._rss_of(self.pids[0])
        self.peak_main = max(self.peak_main, own)
        return own + sum(self._rss_of(pid) for pid in self.pids[1:])

    def cpu(self) -> tuple[float, float]:
        """(own CPU seconds, children's CPU seconds: live ones plus reaped ones)."""
        times = self.proc.cpu_times()
        children = times.children_user + times.children_system
        for child in self._children():
            try:
                ct = child.cpu_times()
                children += ct.user + ct.system
            except self.psutil.Error:
                pass
        return times.user + times.system, children

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def begin(self) -> None:
        self._refreshed = 0.0
        self.peak = self.rss()
        self.peak_main = 0
        own, children = self.cpu()
        self._begin = (time.perf_counter(), own, children)

    def end(self) -> dict:
        assert self._begin is not None
        wall = time.perf_counter() - self._begin[0]
        own, children = self.cpu()
        self._refreshed = 0.0
        self.peak = max(self.peak, self.rss())
        return {
            "wall": wall,
            "cpu": (own - self._begin[1]) + (children - self._begin[2]),
            "cpu_main": own - self._begin[1],
            "cpu_children": children - self._begin[2],
            "peak_rss_mb": self.peak / 1024 / 1024,
            "peak_rss_main_mb": self.peak_main / 1024 / 1024,
            "processes": len(self.pids),
            "maxrss_self_mb": _ru_maxrss_mb(),
        }

    def close(self) -> None:
        self._stop.set()


def _ru_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LagProbe:
    """Sleeps `period` again and again; the overshoot of each sleep is how long the loop was busy."""

    def __init__(self, period: float = 0.01):
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            self.samples.append(time.perf_counter() - started - self.period)

    def reset(self) -> None:
        self.samples = []

    def figures(self) -> dict:
        if not self.samples:
            return {"max_stall_ms": 0.0, "p99_stall_ms": 0.0, "stalls_over_100ms": 0}
        ordered = sorted(self.samples)
        return {
            "max_stall_ms": ordered[-1] * 1000,
            "p99_stall_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "stalls_over_100ms": sum(1 for s in ordered if s > 0.1),
        }

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


def server_delta(before: dict, after: dict) -> dict:
    return {
        "http_200": after["200"] - before["200"],
        "http_304": after["304"] - before["304"],
        "requests": after["requests"] - before["requests"],
        "server_cpu": after["cpu_seconds"] - before["cpu_seconds"],
        "wire_mb": (after["bytes"] - before["bytes"]) / 1024 / 1024,
        "new_connections": after["connections"] - before["connections"],
    }


# --- the contenders (each runs in its own process: `--worker NAME`) ---------------------


from whatif import EXPERIMENTS, apply_experiments, fastparse_init  # noqa: E402


def _start_phase(phase: str, base: str, args: argparse.Namespace, result: dict) -> list[int] | None:
    """The feeds changed for this phase (steady: 10%), or None when it is skipped (over the deadline)."""
    if phase != "cold" and args.deadline and time.time() > args.deadline:
        result.setdefault("skipped", []).append(phase)
        return None
    if phase == "steady":
        return control(base, "/_change", {"fraction": CHANGE_FRACTION, "seed": args.seed})["changed"]
    return []


async def _ours(base: str, n: int, args: argparse.Namespace) -> dict:
    from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig, StoriesConfig, bundled_rules_pack
    from monitor.daemon import Monitor
    from storage.types import FeedSpec

    experiments = [e for spec in (args.experiment or []) for e in spec.split(",") if e]
    apply_experiments(experiments)
    executor = None
    if "fastparse" in experiments:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=max(1, os.cpu_count() or 1), mp_context=multiprocessing.get_context("spawn"),
                                       initializer=fastparse_init)
    workdir = Path(tempfile.mkdtemp(prefix="bench-poll-ours-"))
    config = Config(
        stories=StoriesConfig(enabled="nostories" not in experiments),
        storage_path=workdir / "bench.db",
        polling=PollingConfig(concurrency=args.concurrency, per_host=args.concurrency, host_gap=0.0, timeout=120.0, adaptive=False),
        feeds=tuple(FeedSpec(url=feed_url(base, i), name=f"Bench News {i}") for i in range(n)),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(default_channels=("console",)),
        channels={"console": ChannelConfig("console", "console")},
    )
    meter = Meter()
    label = "ours" + "".join(f"+{e}" for e in experiments)
    result: dict = {"contender": label, "feeds": n, "concurrency": args.concurrency, "phases": {}, "experiments": experiments}
    started = time.perf_counter()
    async with Monitor(config, use_process_pool=True, executor=executor, console_stream=io.StringIO()) as monitor:
        result["setup_seconds"] = time.perf_counter() - started  # open DB, sync N feeds, clients (not in the polls)
        result["setup_rss_mb"] = meter.rss() / 1024 / 1024
        probe = LagProbe()
        probe.start()
        for phase in PHASES:
            changed = _start_phase(phase, base, args, result)
            if changed is None:
                continue
            before = control(base, "/_stats")
            await asyncio.sleep(0.05)
            profiler = None
            if args.profile == phase:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            spy = _start_py_spy(phase) if args.spy == phase else None
            probe.reset()
            meter.begin()
            summaries = await monitor.poll_all()
            figures = meter.end()
            if spy is not None:
                _stop_py_spy(spy, phase)
            if profiler is not None:
                profiler.disable()
                _print_profile(profiler, phase)
            figures.update(probe.figures())
            figures.update(server_delta(before, control(base, "/_stats")))
            figures["status_200"] = sum(1 for s in summaries if s.http_status == 200)
            figures["status_304"] = sum(1 for s in summaries if s.http_status == 304)
            figures["errors"] = sum(1 for s in summaries if s.error)
            figures["first_error"] = next((s.error for s in summaries if s.error), None)
            figures["new_articles"] = sum(s.new_articles for s in summaries)
            figures["hits"] = sum(s.hits for s in summaries)
            figures["changed"] = len(changed)
            result["phases"][phase] = figures
        probe.stop()
    if executor is not None:
        executor.shutdown(cancel_futures=True)
    meter.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _start_py_spy(phase: str):
    """py-spy sampling this process and its parser workers (collapsed stacks), if py-spy is installed."""
    import shutil

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    path = Path(tempfile.gettempdir()) / f"bench-poll-ours-{phase}.folded"
    process = subprocess.Popen([exe, "record", "--pid", str(os.getpid()), "--subprocesses", "--rate", "100",
                                "--format", "raw", "--nonblocking", "-o", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach
    return process, path


def _stop_py_spy(spy, phase: str) -> None:
    import signal

    process, path = spy
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    print(f"--- py-spy samples of the {phase} poll (ours + parser workers): {path} ---", file=sys.stderr)
    try:
        print(summarise_folded(path), file=sys.stderr)
    except OSError as error:
        print(f"(no py-spy output: {error})", file=sys.stderr)


def summarise_folded(path: Path, top: int = 30) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"{total} samples"]
    lines.append("self:")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    lines.append("inclusive:")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top * 2]:
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)


def _print_profile(profiler, phase: str) -> None:
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    path = Path(tempfile.gettempdir()) / f"bench-poll-ours-{phase}.prof"
    stats.dump_stats(str(path))
    print(f"--- cProfile of the main process, {phase} poll (dumped to {path}) ---", file=sys.stderr)
    print(out.getvalue(), file=sys.stderr)


def _reader(base: str, n: int, args: argparse.Namespace) -> dict:
    from reader import make_reader

    workdir = Path(tempfile.mkdtemp(prefix="bench-poll-reader-"))
    meter = Meter()
    result: dict = {"contender": f"reader W={args.workers}", "feeds": n, "concurrency": args.workers, "phases": {}}
    started = time.perf_counter()
    reader = make_reader(str(workdir / "reader.sqlite"))
    for i in range(n):
        reader.add_feed(feed_url(base, i))
    result["setup_seconds"] = time.perf_counter() - started
    for phase in PHASES:
        changed = _start_phase(phase, base, args, result)
        if changed is None:
            continue
        entries_before = reader.get_entry_counts().total
        before = control(base, "/_stats")
        meter.begin()
        reader.update_feeds(workers=args.workers, scheduled=False)
        figures = meter.end()
        figures.update(server_delta(before, control(base, "/_stats")))
        figures["status_200"] = figures["http_200"]
        figures["status_304"] = figures["http_304"]
        figures["errors"] = reader.get_feed_counts(broken=True).total
        figures["new_articles"] = reader.get_entry_counts().total - entries_before
        figures["changed"] = len(changed)
        result["phases"][phase] = figures
    reader.close()
    meter.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _naive(base: str, n: int, args: argparse.Namespace) -> dict:
    import feedparser

    sample = sorted({round(k * n / args.sample) for k in range(args.sample)})
    sample = [i for i in sample if i < n]
    meter = Meter()
    result: dict = {"contender": "naive", "feeds": n, "sample": len(sample), "concurrency": 1, "phases": {},
                    "setup_seconds": 0.0}
    cache: dict[int, tuple[str | None, str | None]] = {}
    for phase in PHASES:
        changed: list[int] = []
        if phase == "steady":
            changed = sample[:: round(1 / CHANGE_FRACTION)]
            control(base, "/_change", {"ids": changed})
        before = control(base, "/_stats")
        new = 0
        statuses = {200: 0, 304: 0}
        meter.begin()
        for i in sample:
            etag, modified = cache.get(i, (None, None))
            parsed = feedparser.parse(feed_url(base, i), etag=etag, modified=modified)
            status = parsed.get("status")
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                new += len(parsed.entries)
            cache[i] = (parsed.get("etag"), parsed.get("modified"))
        figures = meter.end()
        figures.update(server_delta(before, control(base, "/_stats")))
        scale = n / len(sample)
        figures["measured_wall"] = figures["wall"]
        for key in ("wall", "cpu", "cpu_main", "cpu_children", "server_cpu"):
            figures[key] *= scale
        figures["status_200"] = statuses.get(200, 0)
        figures["status_304"] = statuses.get(304, 0)
        figures["errors"] = sum(v for k, v in statuses.items() if k not in (200, 304))
        figures["new_articles"] = new
        figures["changed"] = len(changed)
        figures["extrapolated_from"] = len(sample)
        result["phases"][phase] = figures
    meter.close()
    return result


def worker_main(args: argparse.Namespace) -> int:
    if args.worker == "ours":
        result = asyncio.run(_ours(args.base, args.n, args))
    elif args.worker == "reader":
        result = _reader(args.base, args.n, args)
    else:
        result = _naive(args.base, args.n, args)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --- orchestration --------------------------------------------------------------------


def run_worker(kind: str, base: str, n: int, args: argparse.Namespace, *, workers: int = 0, timeout: float = 900.0,
               experiment: str = "") -> dict | None:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--base", base, "--n", str(n),
               "--concurrency", str(args.concurrency), "--workers", str(workers), "--sample", str(args.sample),
               "--seed", str(args.seed), "--deadline", str(args.deadline or 0)]
    if args.profile and kind == "ours":
        command += ["--profile", args.profile]
    if args.spy and kind == "ours":
        command += ["--spy", args.spy]
    if experiment:
        command += ["--experiment", experiment]
    label = kind if kind != "reader" else f"reader W={workers}"
    label += "".join(f"+{e}" for e in experiment.split(",") if e)
    print(f"  running {label} on {n} feeds ...", flush=True, file=sys.stderr)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {label}: gave up after {timeout:.0f}s", file=sys.stderr)
        return None
    if (args.profile or args.spy) and done.stderr:
        print(done.stderr, file=sys.stderr)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            print(f"  {label}: done in {time.monotonic() - started:.1f}s", file=sys.stderr)
            return result
    print(f"  {label} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}", file=sys.stderr)
    return None


def rescale_naive(result: dict, n: int) -> dict:
    """The naive loop's figures for n feeds from a run on fewer: it is sequential and stores
    nothing, so its cost per feed does not depend on N."""
    scaled = json.loads(json.dumps(result))
    scale = n / result["feeds"]
    scaled["feeds"] = n
    for figures in scaled["phases"].values():
        for key in ("wall", "cpu", "cpu_main", "cpu_children", "server_cpu"):
            figures[key] *= scale
        figures["reused_from"] = result["feeds"]
    return scaled


def limit_seconds(n: int, latency: float, concurrency: int) -> float:
    return n * latency / max(1, concurrency)


def table(results: list[dict], latency: float) -> str:
    header = ("| feeds | contender | poll | wall s | feeds/s | CPU s (main + children) | peak RSS MB | limit s "
              "| answers 200/304 | new items | server CPU s | notes |")
    lines = [header, "|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|"]
    for result in results:
        n = result["feeds"]
        for phase in PHASES:
            f = result["phases"].get(phase)
            if not f:
                if phase in result.get("skipped", []):
                    lines.append(f"| {n:,} | {result['contender']} | {phase} | skipped (over the --budget time) |"
                                 + " |" * 8)
                continue
            notes = []
            if result["contender"].startswith("ours"):
                notes.append(f"max loop stall {f['max_stall_ms']:.0f} ms (p99 {f['p99_stall_ms']:.0f})")
                if f.get("peak_rss_main_mb"):
                    notes.append(f"main process {f['peak_rss_main_mb']:.0f} MB of {f.get('processes', 0)} processes")
                if f.get("hits"):
                    notes.append(f"{f['hits']} hits")
            if result["contender"] == "naive":
                if f.get("reused_from"):
                    notes.append(f"extrapolated from the {f['reused_from']:,}-feed run's {f['extrapolated_from']}-feed sample")
                else:
                    notes.append(f"extrapolated from {f['extrapolated_from']} feeds ({f['measured_wall']:.1f} s measured)")
            if f.get("errors"):
                notes.append(f"{f['errors']} errors")
            if "new_connections" in f and result["contender"] != "naive":
                notes.append(f"{f['new_connections']} new TCP connections")
            lines.append(
                f"| {n:,} | {result['contender']} | {phase} | {f['wall']:.2f} | {n / f['wall']:,.0f} "
                f"| {f['cpu']:.1f} ({f['cpu_main']:.1f} + {f['cpu_children']:.1f}) | {f['peak_rss_mb']:.0f} "
                f"| {limit_seconds(n, latency, result['concurrency']):.1f} | {f['status_200']}/{f['status_304']} "
                f"| {f['new_articles']:,} | {f['server_cpu']:.1f} | {'; '.join(notes)} |"
            )
    return "\n".join(lines)


def ratios(results: list[dict]) -> tuple[str, list[str]]:
    """Markdown ratio lines and the list of missed targets."""
    lines: list[str] = []
    missed: list[str] = []
    by_n: dict[int, list[dict]] = {}
    for result in results:
        by_n.setdefault(result["feeds"], []).append(result)
    for n, group in sorted(by_n.items()):
        ours = next((r for r in group if r["contender"] == "ours"), None)
        if ours is None:
            missed.append(f"{n} feeds: our run failed")
            continue
        readers = [r for r in group if r["contender"].startswith("reader")]
        naive = next((r for r in group if r["contender"] == "naive"), None)
        for phase in PHASES:
            if phase not in ours["phases"]:
                lines.append(f"- {n:,} feeds, {phase}: ours skipped (time budget)")
                if n == 1000 and phase in TARGETS_AT_1000:
                    missed.append(f"1,000 feeds {phase}: not measured (time budget)")
                continue
            mine = ours["phases"][phase]["wall"]
            parts = [f"- {n:,} feeds, {phase}: ours {mine:.2f} s"]
            peers = [r for r in readers if phase in r["phases"]]
            if peers:
                best = min(peers, key=lambda r: r["phases"][phase]["wall"])
                ratio = best["phases"][phase]["wall"] / mine
                parts.append(f"reader's best ({best['contender']}) {best['phases'][phase]['wall']:.2f} s -> ours {ratio:.1f}x faster")
                if n == 1000 and phase in TARGETS_AT_1000:
                    goal = TARGETS_AT_1000[phase]
                    verdict = "met" if ratio >= goal else "MISSED"
                    parts.append(f"target >= {goal}x: {verdict}")
                    if ratio < goal:
                        missed.append(f"1,000 feeds {phase}: ours only {ratio:.2f}x faster than {best['contender']} (target {goal}x)")
            if naive and phase in naive["phases"]:
                ratio = naive["phases"][phase]["wall"] / mine
                parts.append(f"naive (extrapolated) {naive['phases'][phase]['wall']:.1f} s -> ours {ratio:.0f}x faster")
            lines.append("; ".join(parts))
            for variant in (r for r in group if r["contender"].startswith("ours+") and phase in r["phases"]):
                theirs = variant["phases"][phase]["wall"]
                extra = f"- {n:,} feeds, {phase}: what-if {variant['contender']} {theirs:.2f} s ({mine / theirs:.1f}x ours)"
                if peers:
                    extra += f", {best['phases'][phase]['wall'] / theirs:.1f}x faster than {best['contender']}"
                lines.append(extra)
        if n == 1000 and not readers:
            missed.append("1,000 feeds: reader did not run, so the ratio targets could not be checked")
        if n >= 10000:
            cold = ours["phases"]["cold"]
            stall = cold["max_stall_ms"]
            peak = max(f["peak_rss_mb"] for f in ours["phases"].values())
            lines.append(f"- {n:,} feeds: longest event-loop stall during the cold poll {stall:.0f} ms "
                         f"(target < {MAX_STALL_MS:.0f} ms: {'met' if stall < MAX_STALL_MS else 'MISSED'}); "
                         f"peak RSS with parser workers {peak:.0f} MB (target < {MAX_RSS_MB:.0f} MB: "
                         f"{'met' if peak < MAX_RSS_MB else 'MISSED'})")
            if stall >= MAX_STALL_MS:
                missed.append(f"{n:,} feeds: longest event-loop stall {stall:.0f} ms (target < {MAX_STALL_MS:.0f} ms)")
            if peak >= MAX_RSS_MB:
                missed.append(f"{n:,} feeds: peak RSS {peak:.0f} MB (target < {MAX_RSS_MB:.0f} MB)")
        for result in group:
            for phase, f in result["phases"].items():
                expected_200 = n if phase == "cold" else (f["changed"] if phase == "steady" else 0)
                if result["contender"] == "naive":
                    continue
                if f["status_200"] != expected_200 or f.get("errors"):
                    # A poll that failed is fast: its time must not count as a result.
                    problem = (f"{result['contender']} {n:,} feeds {phase}: {f['status_200']} answers 200 "
                               f"(expected {expected_200}), {f.get('errors', 0)} errors {f.get('first_error') or ''}")
                    lines.append(f"- WARNING {problem}")
                    missed.append(problem.strip())
    return "\n".join(lines), missed


def run_problems(results: list[dict], failed: list[str]) -> list[str]:
    """What makes the run a failure whatever the ratios say: crashed contenders, an empty table."""
    problems = [f"{label} crashed or timed out (its error is printed above)" for label in failed]
    if not results:
        problems.append("no contender produced a result: the table is empty")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="comma-separated feed counts (default 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="1,000 feeds only, reader W=20 only")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per feed request at the server (default 0.1)")
    parser.add_argument("--concurrency", type=int, default=100, help="our polling concurrency (default 100)")
    parser.add_argument("--reader-workers", type=lambda s: [int(x) for x in s.split(",") if x], default=None,
                        help="reader's update_feeds(workers=W) values (default 10,20)")
    parser.add_argument("--peers-at-10k", choices=("best", "all", "none"), default="best",
                        help="reader at N >= 10,000: only the W that was best at the smaller N (default), all, none")
    parser.add_argument("--sample", type=int, default=50, help="feeds the naive loop really polls (default 50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=PHASES, help="cProfile our main process during this poll (stderr)")
    parser.add_argument("--spy", choices=PHASES, help="py-spy our process and parser workers during this poll (stderr)")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    parser.add_argument("--experiment", action="append", default=None, metavar="NAMES",
                        help="also run ours with these what-if patches, comma-separated: " + ", ".join(EXPERIMENTS)
                             + " (repeatable; each is an extra run, labelled ours+NAME)")
    parser.add_argument("--report", action="store_true", help="append a section to docs/benchmarks.md")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for each of our runs (default 600)")
    parser.add_argument("--budget", type=float, default=0.0,
                        help="seconds: no warm/steady poll and no further peer starts after this (default: no limit)")
    parser.add_argument("--naive-at-10k", choices=("reuse", "sample"), default="reuse",
                        help="naive loop at N >= 10,000: reuse the smaller N's per-feed figures (default) or sample again")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    # worker mode (internal)
    parser.add_argument("--worker", choices=("ours", "reader", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)

    require("psutil", *(() if args.only_ours else ("reader", "sgmllib")), script="bench_poll.py")
    counts = args.feeds or ([1000] if args.quick else [1000, 10000])
    args.deadline = time.time() + args.budget if args.budget else 0.0
    reader_workers = args.reader_workers or ([20] if args.quick else [10, 20])
    started = time.monotonic()
    results: list[dict] = []
    failed: list[str] = []  # contenders that crashed or gave up: the run fails
    best_w: int | None = None
    for n in counts:
        with FeedServerProcess(n, latency=args.latency, seed=args.seed) as server:
            print(f"{n} feeds: server ready in {server.startup_seconds:.1f}s (pid {server.pid})", file=sys.stderr)
            ours = run_worker("ours", server.base, n, args, timeout=args.timeout)
            if ours:
                results.append(ours)
            else:
                failed.append(f"ours on {n:,} feeds")
            for spec in args.experiment or []:
                variant = run_worker("ours", server.base, n, args, timeout=args.timeout, experiment=spec)
                if variant:
                    results.append(variant)
                else:
                    failed.append(f"ours+{spec} on {n:,} feeds")
            if args.only_ours:
                continue
            ws = reader_workers
            if n >= 10000 and args.peers_at_10k != "all":
                ws = [] if args.peers_at_10k == "none" else [best_w or max(reader_workers)]
            group = []
            for w in ws:
                if args.deadline and time.time() > args.deadline:
                    print(f"  reader W={w} on {n} feeds: skipped (time budget)", file=sys.stderr)
                    continue
                peer = run_worker("reader", server.base, n, args, workers=w, timeout=900)
                if peer:
                    group.append(peer)
                else:
                    failed.append(f"reader W={w} on {n:,} feeds")
            results.extend(group)
            if group and best_w is None:
                best_w = min(group, key=lambda r: sum(f["wall"] for f in r["phases"].values()) / len(r["phases"]))["concurrency"]
            earlier = next((r for r in results if r["contender"] == "naive" and r["feeds"] < n), None)
            if n >= 10000 and earlier and args.naive_at_10k == "reuse":
                results.append(rescale_naive(earlier, n))
                continue
            if args.deadline and time.time() > args.deadline:
                print(f"  naive on {n} feeds: skipped (time budget)", file=sys.stderr)
                continue
            naive = run_worker("naive", server.base, n, args, timeout=300)
            if naive:
                results.append(naive)
            else:
                failed.append(f"naive on {n:,} feeds")

    text_table = table(results, args.latency)
    text_ratios, missed = ratios(results)
    missed = run_problems(results, failed) + missed
    took = time.monotonic() - started
    print()
    print(text_table)
    print()
    print(text_ratios)
    print()
    if missed:
        print("Targets MISSED:")
        for line in missed:
            print(f"  - {line}")
    else:
        print("All targets met.")
    print(f"(bench_poll took {took:.0f}s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.report:
        from report import append_section

        params = {
            "feeds": ", ".join(f"{n:,}" for n in counts),
            "server latency per request": f"{args.latency * 1000:.0f} ms (asyncio.sleep in the feed server)",
            "documents": "RSS 2.0, 20 items, ~18.8 KB (~4.9 KB gzip on the wire), stable ETag/Last-Modified",
            "steady poll": f"{CHANGE_FRACTION:.0%} of the feeds changed, one new item each",
            "ours": f"Monitor(use_process_pool=True).poll_all(), concurrency {args.concurrency}, per_host {args.concurrency}, "
                    "host_gap 0 (feeds on 16 loopback hosts), fetch+parse in one worker process per core, "
                    "bundled rules pack, temporary SQLite file",
            "reader": f"lemon24/reader update_feeds(workers=W, scheduled=False), W in {reader_workers}"
                      + {"best": "; at 10,000 feeds only the best W of 1,000",
                         "none": "; not run at 10,000 feeds (--peers-at-10k none keeps `make bench` under 10 minutes; "
                                 "`bench/bench_poll.py --feeds 10000 --peers-at-10k best` runs it)"}.get(args.peers_at_10k, ""),
            "naive": f"sequential feedparser.parse(url, etag, modified) on {args.sample} feeds, extrapolated to N",
            "server": "bench/feedserver.py, one asyncio process on the same 2 cores (its CPU is the 'server CPU' column)",
            "CPU": "user+system of the contender's process and its child processes (our fetch-and-parse workers)",
            "peak RSS": "sum over the process and its children, sampled every 100 ms",
            "limit": "N x latency / concurrency",
        }
        verdict = "All targets met." if not missed else "Targets missed:\n\n" + "\n".join(f"- {m}" for m in missed)
        body = f"{text_table}\n\nRatios (wall time):\n\n{text_ratios}\n\n{verdict}\n\n_bench_poll took {took:.0f} s._\n"
        append_section("Polling: ours vs lemon24/reader vs a naive loop (bench/bench_poll.py)", params, body)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
