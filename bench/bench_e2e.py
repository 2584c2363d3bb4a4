"""Benchmark: the real `minerals-monitor run --once`, timed as a whole process, against lemon24/reader.

    .venv/bin/python bench/bench_e2e.py                    # 1,000 feeds, three corpora
    .venv/bin/python bench/bench_e2e.py --only 16-hosts    # one corpus
    .venv/bin/python bench/bench_e2e.py --report           # also append a section to docs/benchmarks.md

What a user sees, not what the daemon does inside: for each corpus a feed server
(bench/feedserver.py, its own process) serves N feeds with 100 ms latency per request,
and then, one after the other against that server:
- ours cold:  `minerals-monitor --config bench.toml run --once` on a new database: the
              process start, imports, config, feeds synced, fetch-and-parse workers
              spawned, every feed polled, stored, grouped, matched, alerts delivered to
              the console channel, the report printed, exit. stdout and stderr go to a file,
              as under cron. Timed from spawn to exit.
- ours warm:  the same command again (every feed answers 304).
- reader:     lemon24/reader in a process of its own: make_reader, add_feed each URL
              (not timed), then `update_feeds(workers=20, scheduled=False)` timed alone,
              cold then warm. Its process start, imports and setup are NOT counted: ours
              pays for all of that, reader for its update only.
The config: `[polling] concurrency = 100, per_host = 100, host_gap = "0s"` (the
politeness limits raised as a local server allows), the bundled rules pack, the
console channel. Corpora:
- 16-hosts:     the bench news corpus, feed i on 127.0.0.(1 + i % 16);
- one-host:     the same corpus, every feed on 127.0.0.1 (a list of one site's searches);
- boilerplate:  templated price reports and market wraps ending in the same agency
                paragraphs (feedserver.py BoilerplateWriter), on 16 hosts; ours cold also
                runs with `[stories] enabled = false` on a new database, so the cost of
                story grouping shows, and the stories it formed are counted (every item of
                this corpus is a different report, so any story of two is a false merge).

Targets (exit status 1 if missed, or if any run failed or gave wrong counts):
- 16 hosts: ours cold >= 2x and warm >= 3x faster than reader's update alone;
- boilerplate: story grouping adds at most 25% to our cold run.
The one-host and boilerplate ratios against reader are printed as well.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from feedserver import FeedServerProcess, feed_url  # noqa: E402
from needs import require  # noqa: E402

TARGET_COLD = 2.0
TARGET_WARM = 3.0
MAX_GROUPING_SHARE = 0.25
READER_WORKERS = 20
ITEMS_PER_FEED = 20


@dataclass(frozen=True)
class Corpus:
    name: str
    writer: str  # feedserver corpus
    hosts: int
    with_stories_off: bool = False


CORPORA = {
    "16-hosts": Corpus("16-hosts", "news", 16),
    "one-host": Corpus("one-host", "news", 1),
    "boilerplate": Corpus("boilerplate", "boilerplate", 16, with_stories_off=True),
}


@dataclass
class Run:
    label: str
    seconds: float
    ok: bool
    detail: str = ""
    figures: dict = field(default_factory=dict)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# --- ours: the real command -----------------------------------------------------------


def write_config(folder: Path, base: str, feeds: int, hosts: int, stories: bool) -> Path:
    lines = [
        "[storage]", 'path = "bench.db"', "",
        "[polling]", "concurrency = 100", "per_host = 100", 'host_gap = "0s"', 'timeout = "120s"', "",
        "[stories]", f"enabled = {'true' if stories else 'false'}", "",
    ]
    for i in range(feeds):
        lines += ["[[feeds]]", f'url = "{feed_url(base, i, hosts)}"', f'name = "Bench News {i}"', ""]
    path = folder / "bench.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_ours(folder: Path, label: str, timeout: float) -> Run:
    """`minerals-monitor --config bench.toml run --once` in `folder`, output to a file."""
    command = [str(Path(sys.executable).parent / "minerals-monitor"), "--config", "bench.toml", "run", "--once"]
    log = folder / f"{label}.out"
    started = time.perf_counter()
    try:
        with log.open("wb") as out:
            done = subprocess.run(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(label, timeout, False, f"gave up after {timeout:.0f} s")
    seconds = time.perf_counter() - started
    output = log.read_bytes()
    figures = {"output_lines": output.count(b"\n"), "output_kb": len(output) / 1024, **database_counts(folder / "bench.db")}
    if done.returncode != 0:
        tail = output.decode("utf-8", "replace")[-2000:]
        return Run(label, seconds, False, f"exit status {done.returncode}:\n{tail}", figures)
    return Run(label, seconds, True, figures=figures)


def database_counts(path: Path) -> dict:
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        hits = db.execute("SELECT count(*) FROM hits").fetchone()[0]
        failing = db.execute("SELECT count(*) FROM feeds WHERE error IS NOT NULL").fetchone()[0]
        # Stories with more than one member (articles of one story share its story_id).
        grouped = db.execute(
            "SELECT count(*), coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM articles WHERE story_id IS NOT NULL "
            "GROUP BY story_id HAVING count(*) > 1)"
        ).fetchone()
    return {"articles": articles, "hits": hits, "failing_feeds": failing, "stories_of_several": grouped[0],
            "articles_in_them": grouped[1]}


# --- reader: its update alone, in a process of its own ------------------------------------


def reader_worker(base: str, feeds: int, hosts: int) -> int:
    from reader import make_reader

    folder = Path(tempfile.mkdtemp(prefix="bench-e2e-reader-"))
    try:
        reader = make_reader(str(folder / "reader.sqlite"))
        for i in range(feeds):
            reader.add_feed(feed_url(base, i, hosts))
        result = {}
        for phase in ("cold", "warm"):
            started = time.perf_counter()
            reader.update_feeds(workers=READER_WORKERS, scheduled=False)
            result[phase] = {"seconds": time.perf_counter() - started, "entries": reader.get_entry_counts().total,
                             "broken": reader.get_feed_counts(broken=True).total}
        reader.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_reader(base: str, feeds: int, hosts: int, timeout: float) -> tuple[Run, Run]:
    command = [sys.executable, str(Path(__file__).resolve()), "--reader-worker", "--base", base, "--feeds", str(feeds),
               "--hosts", str(hosts)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        failed = Run("reader", timeout, False, f"gave up after {timeout:.0f} s")
        return failed, failed
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            runs = []
            for phase in ("cold", "warm"):
                figures = result[phase]
                ok = figures["broken"] == 0 and figures["entries"] == feeds * ITEMS_PER_FEED
                detail = "" if ok else f"{figures['broken']} broken feeds, {figures['entries']} entries"
                runs.append(Run(f"reader {phase}", figures["seconds"], ok, detail, figures))
            return runs[0], runs[1]
    failed = Run("reader", 0.0, False, f"crashed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return failed, failed


# --- one corpus ---------------------------------------------------------------------------


def measure(corpus: Corpus, feeds: int, timeout: float) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    with FeedServerProcess(feeds, latency=0.1, corpus=corpus.writer) as server:
        print(f"{corpus.name}: {feeds} feeds served in {server.startup_seconds:.1f} s", file=sys.stderr, flush=True)
        folder = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{corpus.name}-"))
        try:
            write_config(folder, server.base, feeds, corpus.hosts, stories=True)
            for phase in ("cold", "warm"):
                runs[f"ours {phase}"] = run_ours(folder, f"ours-{phase}", timeout)
                print(f"  ours {phase}: {runs[f'ours {phase}'].seconds:.2f} s", file=sys.stderr, flush=True)
            if corpus.with_stories_off:
                plain = folder / "no-stories"
                plain.mkdir()
                write_config(plain, server.base, feeds, corpus.hosts, stories=False)
                runs["ours cold, stories off"] = run_ours(plain, "ours-cold-nostories", timeout)
                print(f"  ours cold, stories off: {runs['ours cold, stories off'].seconds:.2f} s", file=sys.stderr, flush=True)
            runs["reader cold"], runs["reader warm"] = run_reader(server.base, feeds, corpus.hosts, timeout * 3)
            print(f"  reader cold {runs['reader cold'].seconds:.2f} s, warm {runs['reader warm'].seconds:.2f} s",
                  file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    expected = feeds * ITEMS_PER_FEED
    for key in ("ours cold", "ours cold, stories off"):
        run = runs.get(key)
        if run and run.ok and (run.figures.get("articles") != expected or run.figures.get("failing_feeds")):
            run.ok = False
            run.detail = f"{run.figures.get('articles')} articles stored (expected {expected}), " \
                         f"{run.figures.get('failing_feeds')} failing feeds"
    return runs


def report(results: dict[str, dict[str, Run]], feeds: int) -> tuple[str, list[str]]:
    lines = ["| corpus | run | wall s | output | articles | hits | stories of 2+ (articles) | notes |",
             "|---|---|---|---|---|---|---|---|"]
    missed: list[str] = []
    for name, runs in results.items():
        for key, run in runs.items():
            f = run.figures
            output = f"{f['output_lines']:,} lines, {f['output_kb']:.0f} KB" if "output_lines" in f else "-"
            stories = f"{f['stories_of_several']:,} ({f['articles_in_them']:,})" if "stories_of_several" in f else "-"
            lines.append(f"| {name} | {key} | {run.seconds:.2f} | {output} | {f.get('articles', f.get('entries', '-')):,} "
                         f"| {f.get('hits', '-')} | {stories} | {'FAILED: ' + run.detail.splitlines()[0] if not run.ok else ''} |")
            if not run.ok:
                missed.append(f"{name}: {key} failed: {run.detail}")
    ratio_lines = []
    for name, runs in results.items():
        for phase, goal in (("cold", TARGET_COLD), ("warm", TARGET_WARM)):
            ours, theirs = runs.get(f"ours {phase}"), runs.get(f"reader {phase}")
            if not (ours and theirs and ours.ok and theirs.ok):
                continue
            ratio = theirs.seconds / ours.seconds
            line = (f"- {name}, {phase}: ours {ours.seconds:.2f} s (whole process); reader's update_feeds(workers={READER_WORKERS}) "
                    f"{theirs.seconds:.2f} s -> ours {ratio:.2f}x faster")
            if name == "16-hosts":
                line += f"; target >= {goal}x: {'met' if ratio >= goal else 'MISSED'}"
                if ratio < goal:
                    missed.append(f"16 hosts {phase}: ours {ratio:.2f}x reader (target {goal}x)")
            ratio_lines.append(line)
        grouped, plain = runs.get("ours cold"), runs.get("ours cold, stories off")
        if grouped and plain and grouped.ok and plain.ok:
            share = grouped.seconds / plain.seconds - 1
            merged = grouped.figures.get("articles_in_them", 0)
            ratio_lines.append(
                f"- {name}: story grouping adds {share:+.0%} to the cold run ({grouped.seconds:.2f} s against "
                f"{plain.seconds:.2f} s with [stories] enabled = false); target <= +{MAX_GROUPING_SHARE:.0%}: "
                f"{'met' if share <= MAX_GROUPING_SHARE else 'MISSED'}; {merged:,} of {grouped.figures.get('articles', 0):,} "
                f"articles grouped into stories of 2+ (every report of this corpus is a different one: false merges)")
            if share > MAX_GROUPING_SHARE:
                missed.append(f"{name}: story grouping adds {share:.0%} to the cold run (target <= {MAX_GROUPING_SHARE:.0%})")
    for name in ("16-hosts", "one-host"):
        if name in results and "16-hosts" in results and name != "16-hosts":
            a, b = results["16-hosts"].get("ours cold"), results[name].get("ours cold")
            if a and b and a.ok and b.ok:
                ratio_lines.append(f"- one host against 16 hosts, ours cold: {b.seconds:.2f} s against {a.seconds:.2f} s "
                                   f"({b.seconds / a.seconds:.2f}x)")
    return "\n".join(lines) + "\n\nRatios:\n\n" + "\n".join(ratio_lines), missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000, help="feeds per corpus (default 1,000)")
    parser.add_argument("--only", action="append", choices=sorted(CORPORA), help="run only this corpus (repeatable)")
    parser.add_argument("--quick", action="store_true", help="the same as the default (kept for `make bench`)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for each of our runs")
    parser.add_argument("--report", action="store_true", help="append a section to docs/benchmarks.md")
    parser.add_argument("--reader-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader_worker:
        return reader_worker(args.base, args.feeds, args.hosts)
    require("reader", "sgmllib", script="bench_e2e.py")
    if not (Path(sys.executable).parent / "minerals-monitor").exists():
        print("bench_e2e.py: no minerals-monitor script beside this Python (run `make install`)", file=sys.stderr)
        return 1

    load_before = load_average()
    started = time.monotonic()
    results = {name: measure(CORPORA[name], args.feeds, args.timeout) for name in (args.only or list(CORPORA))}
    took = time.monotonic() - started
    text, missed = report(results, args.feeds)
    load_after = load_average()
    print()
    print(text)
    print()
    print(f"load average (1/5/15 min) at start {load_before}, at end {load_after}; took {took:.0f} s")
    verdict = "All targets met." if not missed else "Targets MISSED:\n" + "\n".join(f"  - {m}" for m in missed)
    print(verdict)
    if args.report:
        from report import append_section

        params = {
            "feeds": f"{args.feeds:,} per corpus, 20 items each, 100 ms latency per request, gzip on the wire",
            "ours": "`minerals-monitor --config bench.toml run --once` as a whole process (spawn to exit), stdout and "
                    "stderr to a file; [polling] concurrency 100, per_host 100, host_gap 0s; bundled rules pack; "
                    "console channel; cold on a new database, then warm",
            "reader": f"lemon24/reader `update_feeds(workers={READER_WORKERS}, scheduled=False)` timed alone (its process "
                      "start, imports and add_feed not counted), cold then warm, in its own process",
            "corpora": "16-hosts (bench news), one-host (the same, every feed on 127.0.0.1), boilerplate (templated "
                       "price reports with shared agency paragraphs, 16 hosts; also cold with [stories] enabled = false)",
            "load average": f"{load_before} at start, {load_after} at end",
        }
        body = f"{text}\n\n{verdict.replace(chr(10) + '  - ', chr(10) + '- ')}\n\n_bench_e2e took {took:.0f} s._\n"
        append_section("End to end: `run --once` against reader (bench/bench_e2e.py)", params, body)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
