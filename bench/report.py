"""Writing benchmark results into docs/benchmarks.md.

    .venv/bin/python bench/report.py --init                 # start the file anew (header + machine)
    cmd | .venv/bin/python bench/report.py --append-output "bench_match.py" --status 0

Each benchmark appends one section: the machine (cores, CPU model, Python,
package versions), its parameters, this project's figures, the peers' figures
and the ratios. `make bench` calls `--init` first, then every script.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PACKAGES = ("minerals-monitor", "httpx", "aiohttp", "httpcore", "feedparser", "sqlite-utils", "APScheduler", "pyahocorasick",
            "reader", "requests", "psutil")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    try:
        return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, ValueError, subprocess.CalledProcessError):
        return os.cpu_count() or 0


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def git_revision() -> str:
    """The commit measured, and whether the work tree had changes on top of it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with uncommitted changes" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    return {
        "commit": git_revision(),
        "load average at start (1/5/15 min)": load_average(),
        "cores (nproc)": str(nproc()),
        "CPU": cpu_model(),
        "memory": memory_total(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "SQLite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in package_versions().items()),
    }


def machine_markdown() -> str:
    return "\n".join(f"- **{key}**: {value}" for key, value in machine().items())


def params_markdown(params: dict[str, object]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in params.items())


def section(title: str, params: dict[str, object], body: str, *, with_machine: bool = True) -> str:
    parts = [f"## {title}", "", f"_Run {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on commit {git_revision()}, "
                                f"load average {load_average()}._", ""]
    if with_machine:
        parts += ["Machine:", "", machine_markdown(), ""]
    if params:
        parts += ["Parameters:", "", params_markdown(params), ""]
    parts += [body.rstrip(), ""]
    return "\n".join(parts) + "\n"


def init(path: Path = DOC) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Benchmarks\n\n"
        "Written by `make bench` (bench/*.py): each section is one script's latest run on the machine it names.\n"
        "All traffic stays on 127.0.0.1; feed servers and webhook receivers are local processes.\n\n"
        "Machine of this run:\n\n" + machine_markdown() + "\n\n",
        encoding="utf-8",
    )


def append(text: str, path: Path = DOC) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        init(path)
    with path.open("a", encoding="utf-8") as out:
        out.write(text)


def append_section(title: str, params: dict[str, object], body: str, path: Path = DOC, *, with_machine: bool = False) -> None:
    append(section(title, params, body, with_machine=with_machine), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", action="store_true", help="start docs/benchmarks.md anew")
    parser.add_argument("--append-output", metavar="TITLE", help="append stdin as a section titled TITLE")
    parser.add_argument("--status", type=int, default=0, help="the script's exit status, shown in the section")
    parser.add_argument("--seconds", type=float, default=None, help="how long the script ran")
    args = parser.parse_args(argv)
    if args.init:
        init()
    if args.append_output:
        output = sys.stdin.read()
        verdict = "all targets met" if args.status == 0 else f"exit status {args.status}: a target was missed or it failed"
        took = f", {args.seconds:.0f} s" if args.seconds is not None else ""
        body = f"Output of `bench/{args.append_output}` ({verdict}{took}):\n\n```\n{output.rstrip()}\n```\n"
        append_section(args.append_output, {}, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
