"""The CLI as a user times it: start-up of real commands, and what `run --once` spends printing.

    .venv/bin/python bench/bench_cli.py            # 20 runs per command; run --once at 1,000 feeds
    .venv/bin/python bench/bench_cli.py --quick    # 8 runs; 300 feeds
    .venv/bin/python bench/bench_cli.py --startup-only --runs 20   # start-up only

Our packages are byte-compiled first (`compileall`, into their __pycache__ folders), as any
first run leaves them: where PYTHONDONTWRITEBYTECODE is set (this machine's environment) no
run writes them, and every start would compile ~150 of our modules' sources (~60 ms).
`--as-is` times with whatever bytecode there is.

Start-up: each command is run as a whole process (the installed `minerals-monitor` script),
best and median wall time of N runs, hyperfine-style, beside the floors it cannot go under
(the interpreter; Typer with the pydantic it imports to parse every command's parameters) and
the peers' CLIs when installed: sqlite-utils (`sqlite-utils tables DB`, `--help`) and
lemon24/reader (`python -m reader --help`, needs `pip install 'reader[cli]'`).
Targets (issue 17.1): `--help`, `hits list` on an empty database and `rules check` of the
bundled pack each start in <= 0.3 s (best of N).

Printing (issue 17.2): `run --once` against the bench feed server (1,000 feeds, 100 ms latency,
16 hosts), cold then warm as whole processes; the warm run's own `--json` outcomes are then
rendered in this process as the default report and as the full `--verbose` table, to see what
printing costs against the run. Target: the default report under 5% of the warm run.

Exit status 1 when a command fails or a target is missed; a missing peer is reported, not fatal.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.feedserver import FeedServerProcess  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRIPT = BIN / "minerals-monitor"
PACK = REPO / "rules" / "packs" / "minerals-diplomacy.yaml"
STARTUP_TARGET = 0.3
PRINT_SHARE_TARGET = 0.05


def timed(command: list[str], cwd: Path, runs: int) -> tuple[float, float, float] | str:
    """(best, median) wall seconds and the median CPU seconds (user + system: less swayed
    by other work on a shared machine) of `runs` runs, or the failure's first line."""
    import resource

    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            return f"exit {done.returncode}: {(done.stderr or done.stdout).strip().splitlines()[:1]}"
    return min(times), statistics.median(times), statistics.median(cpu)


def byte_compile() -> None:
    """Our packages' bytecode, as a first run with bytecode writing on leaves it."""
    import compileall

    for package in ("monitor", "rules", "storage", "alerts"):
        compileall.compile_dir(REPO / package, quiet=1)


def startup(runs: int, folder: Path) -> bool:
    environment_config = folder / "minerals-monitor.toml"
    environment_config.write_text('feeds = []\n[storage]\npath = "empty.db"\n')
    made = subprocess.run([str(SCRIPT), "feeds", "add", "--no-check", "https://example.org/feed.xml"], cwd=folder,
                          capture_output=True, text=True)
    if made.returncode != 0:
        print(f"could not make the empty database: {made.stderr.strip()}")
        return False
    python = sys.executable
    ours = {
        "minerals-monitor --help": [str(SCRIPT), "--help"],
        "minerals-monitor hits list (empty database)": [str(SCRIPT), "hits", "list"],
        "minerals-monitor rules check (bundled pack)": [str(SCRIPT), "rules", "check", str(PACK)],
    }
    floors = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import typer'": [python, "-c", "import typer"],
        "python -c 'import typer + its pydantic adapters'": [python, "-c", "import typer, typer._adapters"],
    }
    peers = {}
    if (BIN / "sqlite-utils").exists():
        peers["sqlite-utils --help"] = [str(BIN / "sqlite-utils"), "--help"]
        peers["sqlite-utils tables (same database)"] = [str(BIN / "sqlite-utils"), "tables", str(folder / "empty.db")]
    reader_cli = subprocess.run([python, "-m", "reader", "--help"], capture_output=True, text=True)
    if reader_cli.returncode == 0:
        peers["python -m reader --help"] = [python, "-m", "reader", "--help"]
    else:
        print("lemon24/reader's CLI is not installed (pip install 'reader[cli]'): not compared")
    ok = True
    print(f"\nStart-up, {runs} runs each (wall best / median, CPU median; seconds):")
    print(f"{'command':56} {'best':>7} {'median':>7} {'cpu':>7}  target")
    for group, commands in (("ours", ours), ("floor", floors), ("peer", peers)):
        for name, command in commands.items():
            result = timed(command, folder, runs)
            if isinstance(result, str):
                print(f"{name:56} FAILED {result}")
                ok = False
                continue
            best, median, cpu = result
            verdict = ""
            if group == "ours":
                met = best <= STARTUP_TARGET
                ok &= met
                verdict = f"<= {STARTUP_TARGET} s {'met' if met else 'MISSED'}"
            print(f"{name:56} {best:7.3f} {median:7.3f} {cpu:7.3f}  {verdict}")
    return ok


def printing(feeds: int, folder: Path) -> bool:
    from monitor.cli import context
    from monitor.cli.run_report import print_once_report
    from monitor.pipeline import PollSummary

    print(f"\nrun --once at {feeds:,} feeds (100 ms latency, 16 hosts), whole processes:")
    with FeedServerProcess(feeds, latency=0.1) as server:
        entries = "".join(f'[[feeds]]\nurl = "{url}"\n' for url in server.urls())
        (folder / "minerals-monitor.toml").write_text(
            f'[storage]\npath = "poll.db"\n[polling]\nconcurrency = 100\nper_host = 8\nhost_gap = "0s"\n'
            f'[alerts]\nskip_older_than = "3650d"\n{entries}'
        )
        runs = {}
        for label, extra in (("cold", []), ("warm", []), ("warm --verbose", ["--verbose"]), ("warm --json", ["--json"])):
            start = time.perf_counter()
            done = subprocess.run([str(SCRIPT), "run", "--once", *extra], cwd=folder, capture_output=True, text=True)
            runs[label] = (time.perf_counter() - start, done)
            if done.returncode != 0:
                print(f"  {label}: FAILED exit {done.returncode}: {done.stderr.strip()[-300:]}")
                return False
            print(f"  {label:16} {runs[label][0]:6.2f} s, {len(done.stdout.splitlines()):5,} lines printed")
    outcomes = json.loads(runs["warm --json"][1].stdout)["feeds"]
    summaries = [PollSummary(o["feed_id"], o["feed"], o["url"], o["success"], o["http_status"], o["new_articles"],
                             o["updated_articles"], o["hits"], o["error"], o["warning"], o["skipped"]) for o in outcomes]

    class Counts:
        sent = failed = dead = 0

    class Monitor:
        dispatcher = type("Dispatcher", (), {"counts": Counts()})()

    original = context.stdout.file
    rendered = {}
    try:
        for label, every_feed in (("default report", False), ("--verbose table", True)):
            context.stdout.file = io.StringIO()
            start = time.perf_counter()
            print_once_report(summaries, Monitor(), every_feed=every_feed)
            rendered[label] = time.perf_counter() - start
    finally:
        context.stdout.file = original
    warm = runs["warm"][0]
    share = rendered["default report"] / warm
    met = share < PRINT_SHARE_TARGET
    print(f"  printing the default report: {rendered['default report'] * 1000:.1f} ms = {share:.1%} of the warm run "
          f"(target < {PRINT_SHARE_TARGET:.0%}: {'met' if met else 'MISSED'}); the full --verbose table: "
          f"{rendered['--verbose table'] * 1000:.0f} ms = {rendered['--verbose table'] / warm:.1%}")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 runs per command, 300 feeds")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--feeds", type=int)
    parser.add_argument("--startup-only", action="store_true", help="time the start-up commands only (no run --once)")
    parser.add_argument("--as-is", action="store_true",
                        help="do not byte-compile our packages first (time with whatever bytecode there is)")
    args = parser.parse_args(argv)
    runs = args.runs or (8 if args.quick else 20)
    feeds = args.feeds or (300 if args.quick else 1000)
    if not SCRIPT.exists():
        print(f"{SCRIPT} not found: run `make install` first")
        return 1
    if not args.as_is:
        byte_compile()
    print(f"bytecode of our packages: {'as found' if args.as_is else 'compiled first'}; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        ok = startup(runs, folder)
        if not args.startup_only:
            ok = printing(feeds, folder) and ok
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\nAll targets met." if ok else "\nSome targets were missed or a command failed.")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.pop("MINERALS_MONITOR_CONFIG", None)
    sys.exit(main())
