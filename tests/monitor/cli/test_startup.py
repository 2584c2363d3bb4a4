"""A fast start: the CLI imports heavy modules only in the commands that use them.

Timings are in bench/bench_cli.py; here, which modules a fresh interpreter has loaded after
importing the CLI, and after running the quick commands (a deterministic guard: a heavy
import creeping back into the start of every command fails this test on any machine).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = {"aiohttp", "numpy", "trafilatura", "httpx", "sqlite_utils", "jinja2", "yaml", "ahocorasick", "feedparser",
         "apscheduler", "standardwebhooks", "listparser",
         # Typer 0.29 converts values through pydantic; monitor/cli/coercion.py spares the quick commands it
         "pydantic", "pydantic_core"}

PROBE = """
import json, sys
sys.argv = ["minerals-monitor", *json.loads(sys.argv[1])]
try:
    if len(sys.argv) > 1:
        from monitor.cli.main import main
        main()
    else:
        import monitor.cli.main
except SystemExit:
    pass
print("\\nLOADED " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

# Lighter, but kept off where they are not needed (issue 17.1): importlib.resources with its zip
# readers (the bundled files' folders are found without it); sqlite3 until a database is opened.
KEPT_OFF = {"importlib.resources", "zipfile", "sqlite3"}


def loaded_after(args: list[str], cwd, watched: set[str] = HEAVY) -> set[str]:
    """Which of `watched` (packages or exact module names) are loaded after the command."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    loaded = set(json.loads(done.stderr.rsplit("LOADED ", 1)[-1]))
    return ({m.split(".")[0] for m in loaded} | loaded) & watched


def test_importing_the_cli_loads_no_heavy_module(tmp_path):
    assert loaded_after([], tmp_path) == set()


@pytest.fixture
def empty_archive(tmp_path):
    from storage import open_database

    (tmp_path / "minerals-monitor.toml").write_text('feeds = []\n[storage]\npath = "empty.db"\n')
    open_database(tmp_path / "empty.db").close()
    return tmp_path


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--help"], set()),
        (["hits", "list"], set()),  # read-only opening: no sqlite_utils, hence no numpy
        (["rules", "check", str(REPO / "rules" / "packs" / "minerals-diplomacy.yaml")], {"yaml", "ahocorasick"}),
    ],
    ids=["--help", "hits list", "rules check"],
)
def test_quick_commands_load_only_what_they_use(empty_archive, args, allowed):
    assert loaded_after(args, empty_archive) <= allowed


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--help"], set()),
        (["hits", "list"], {"sqlite3"}),
        (["rules", "check", str(REPO / "rules" / "packs" / "minerals-diplomacy.yaml")], set()),
    ],
    ids=["--help", "hits list", "rules check"],
)
def test_quick_commands_leave_lighter_modules_out(empty_archive, args, allowed):
    assert loaded_after(args, empty_archive, KEPT_OFF) <= allowed
