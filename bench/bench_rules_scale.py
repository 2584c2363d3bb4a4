"""Large rules files as a user meets them (issue 16.11): real commands, whole processes.

    .venv/bin/python bench/bench_rules_scale.py            # 20,000 rules, best of 3 runs per command
    .venv/bin/python bench/bench_rules_scale.py --quick    # 20,000 rules, one run per command

A rules file of 20,000 rules (~6 MB, written by bench/make_big_rules.py: aliases with
Urdu entries, phrases, wildcards, NEAR/ONEAR, field scopes, two examples a rule) is given to
`rules check FILE`, `rules test --rules FILE --title ...` and `run --once` (a config with
that file and one feed served on 127.0.0.1, so the run is start-up, one poll and exit).
Each is timed as a whole process (the installed `minerals-monitor` script) with its peak
RSS (os.wait4). `run --once` is also timed with the bundled pack alone: a run's own floor
(interpreter, database, fetch workers, one poll: ~2-4 s) is no part of what the rules cost,
so its start-up target is on the difference. Targets: `rules check` and `rules test` <= 5 s,
`run --once` start-up for the rules (20,000 rules minus the bundled pack) <= 5 s, peak RSS
<= 300 MB.

Exit status 1 when a command fails or a target is missed.
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_big_rules import rules_yaml  # noqa: E402

BIN = Path(sys.executable).parent
SCRIPT = BIN / "minerals-monitor"
RULES = 20_000
SECONDS_TARGET = 5.0
RSS_TARGET_MB = 300.0
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>http://127.0.0.1/</link>
<item><title>Copper exports from Chile rise</title><link>http://127.0.0.1/a</link><guid>a</guid>
<description>Chile copper exports rose in November.</description></item></channel></rss>"""


def measured(command: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MB, exit status, first line of stderr) of one run."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    errors = child.stderr.read()  # never full: the commands write little to stderr
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    first = next((line for line in errors.splitlines() if line.strip()), "")
    return wall, usage.ru_maxrss / 1024, child.returncode, first


def serve_feed(folder: Path) -> http.server.ThreadingHTTPServer:
    (folder / "feed.xml").write_text(FEED, encoding="utf-8")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per command instead of the best of 3")
    parser.add_argument("--rules", type=int, default=RULES, help=f"rules in the file (default {RULES:,})")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else 3
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-rules-scale-") as tmp:
        folder = Path(tmp)
        text = rules_yaml(args.rules)
        rules_file = folder / "big.yaml"
        rules_file.write_text(text, encoding="utf-8")
        served = folder / "served"
        served.mkdir()
        server = serve_feed(served)
        config = folder / "config.toml"
        config.write_text(
            f'[storage]\npath = "mm.db"\n\n[[feeds]]\nurl = "http://127.0.0.1:{server.server_address[1]}/feed.xml"\n'
            f'name = "local"\n\n[rules]\nfiles = ["{rules_file}"]\n', encoding="utf-8")
        floor_config = folder / "floor.toml"
        floor_config.write_text(config.read_text(encoding="utf-8").split("[rules]")[0], encoding="utf-8")
        commands = {
            "rules check FILE": [str(SCRIPT), "rules", "check", str(rules_file)],
            "rules test --rules FILE": [str(SCRIPT), "rules", "test", "--rules", str(rules_file), "--title",
                                        "Copper exports from Chile"],
            "run --once (start-up, 1 feed)": [str(SCRIPT), "--config", str(config), "run", "--once"],
            "run --once, bundled pack (its floor)": [str(SCRIPT), "--config", str(floor_config), "run", "--once"],
        }
        print(f"# Large rules files: {args.rules:,} rules, {len(text.encode()) / 1e6:.1f} MB, best of {runs} run(s)")
        print()
        print(f"| command | wall s (target <= {SECONDS_TARGET:g}) | peak RSS MB (target <= {RSS_TARGET_MB:g}) |")
        print("|---|---:|---:|")
        walls: dict[str, float] = {}
        for label, command in commands.items():
            results = []
            for _ in range(runs):
                for leftover in folder.glob("mm.db*"):
                    leftover.unlink()  # each run --once starts from no database, as a first run does
                results.append(measured(command, folder))
            failed = [r for r in results if r[2] != 0]
            if failed:
                missed.append(f"{label} failed: exit {failed[0][2]}: {failed[0][3]}")
                print(f"| {label} | failed | failed |")
                continue
            wall = walls[label] = min(r[0] for r in results)
            rss = max(r[1] for r in results)
            print(f"| {label} | {wall:.2f} | {rss:.0f} |")
            if wall > SECONDS_TARGET and label.startswith("rules"):
                missed.append(f"{label}: {wall:.2f} s > {SECONDS_TARGET:g} s")
            if rss > RSS_TARGET_MB:
                missed.append(f"{label}: {rss:.0f} MB > {RSS_TARGET_MB:g} MB")
        server.shutdown()
    run, floor = walls.get("run --once (start-up, 1 feed)"), walls.get("run --once, bundled pack (its floor)")
    if run is not None and floor is not None:
        startup = run - floor
        print(f"| run --once start-up for {args.rules:,} rules (difference) | {startup:.2f} | |")
        if startup > SECONDS_TARGET:
            missed.append(f"run --once start-up for the rules: {startup:.2f} s > {SECONDS_TARGET:g} s")
    print()
    if missed:
        print("Targets missed:")
        for line in missed:
            print(f"- {line}")
        return 1
    print("All targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
