"""Every command against a missing, a read-only and a corrupt database: the documented exit
code (3) with the file and the cause named, nothing created by commands that only read, and
never an internal error."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import pytest

from storage import open_database
from tests.monitor.cli.test_cli import all_commands

FEED = "https://example.org/feed.xml"
OPML = f'<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" text="x" xmlUrl="{FEED}"/></body></opml>'

# Commands that read the database, with the arguments they need, and what they exit with on an
# empty database (1: the story or article asked for is not there).
READERS = {
    ("feeds", "list"): 0, ("feeds", "export"): 0, ("hits", "list"): 0, ("hits", "search", "antimony"): 0,
    ("stories", "list"): 0, ("stories", "show", "1"): 1, ("alerts", "list"): 0,
    ("rules", "test", "--article", "1"): 1, ("rules", "test", "--stored"): 0,
    ("rules", "explain", "ussm", "--article", "1"): 1, ("rules", "backtest", "r.yaml"): 0,
}
# Commands that write: the first three create a missing database, the others need one.
CREATORS = [("run", "--once"), ("feeds", "add", "--no-check", FEED), ("feeds", "import", "subs.opml")]
UPDATERS = [("feeds", "remove", FEED), ("alerts", "retry", "--dead"), ("alerts", "mute", "ussm"), ("alerts", "unmute", "ussm")]
# Serves until stopped: checked against a missing and a corrupt database only (it refuses to start).
SERVERS = [("serve", "--listen", "127.0.0.1:9")]
# Commands that never open the configured database.
NO_DATABASE = {("demo",), ("init",), ("rules", "check"), ("alerts", "test"), ("feeds", "check")}


def command_name(args: tuple[str, ...]) -> tuple[str, ...]:
    return args[:1] if args[0] in ("run", "demo", "init", "serve") else args[:2]


def test_every_command_is_in_one_of_the_lists():
    listed = {command_name(c) for c in [*READERS, *CREATORS, *UPDATERS, *SERVERS]} | NO_DATABASE
    assert listed == set(all_commands())


def desk(tmp_path, storage_path: str):
    (tmp_path / "r.yaml").write_text("rules:\n  - id: ussm\n    query: USSM\n    severity: high\n")
    (tmp_path / "subs.opml").write_text(OPML)
    (tmp_path / "minerals-monitor.toml").write_text(
        f'feeds = []\n[storage]\npath = "{storage_path}"\n[rules]\nfiles = ["r.yaml"]\n'
    )
    return tmp_path / storage_path


def assert_one_clear_line(result, *fragments: str) -> None:
    assert result.code == 3, (result.code, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_a_missing_database_is_never_created_by_a_reading_command(tmp_path, run_main):
    path = desk(tmp_path, "nodir/sub/x.db")
    for args in [*READERS, *UPDATERS, *SERVERS]:
        result = run_main(*args, cwd=tmp_path)
        assert_one_clear_line(result, f"no database at {path} (run `minerals-monitor run --once` first)")
    assert not (tmp_path / "nodir").exists()
    for args in CREATORS[1:]:  # run --once creates it too: tests/monitor/cli/test_cli.py
        assert run_main(*args, cwd=tmp_path).code == 0
        assert path.exists()
        shutil.rmtree(tmp_path / "nodir")


@pytest.fixture
def read_only_database(tmp_path):
    """A database the process cannot write: immutable for root (who ignores modes), 0444 otherwise."""
    path = desk(tmp_path, "x.db")
    open_database(path).close()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root on a filesystem without immutable files: nothing is read-only to root")
        yield path
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        yield path
        path.chmod(0o644)


def test_a_read_only_database_is_read_and_never_written(read_only_database, run_main):
    folder = read_only_database.parent
    for args, expected in READERS.items():
        result = run_main(*args, cwd=folder)
        assert result.code == expected, (args, result.stdout, result.stderr)
        assert "internal error" not in result.stderr
    for args in [*CREATORS, *UPDATERS]:
        assert_one_clear_line(run_main(*args, cwd=folder), f"{read_only_database}: the database file is read-only")


@pytest.mark.parametrize("damage", ["not a database", "damaged pages"])
def test_a_corrupt_database_is_exit_3_from_every_command(tmp_path, run_main, damage):
    path = desk(tmp_path, "x.db")
    if damage == "not a database":
        path.write_bytes(b"this is not SQLite\n" * 500)
    else:
        db = open_database(path)
        db.execute("CREATE TABLE filler (x)")
        db.conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 400)
        db.close()
        with path.open("r+b") as handle:  # keep the header, wreck the pages behind it
            handle.seek(4096)
            handle.write(b"\xff" * (path.stat().st_size - 4096))
    # `serve` checks the opening only (a page that reads damage answers 500): not given damaged pages.
    servers = SERVERS if damage == "not a database" else []
    for args in [*READERS, *CREATORS, *UPDATERS, *servers]:
        result = run_main(*args, cwd=tmp_path)
        assert_one_clear_line(result, str(path))
        assert "Traceback" not in result.stderr


def test_damage_found_while_reading_names_the_file(tmp_path, run_main):
    """Damage that only a query meets (not the opening) still gives exit 3 with the file."""
    path = desk(tmp_path, "x.db")
    open_database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET rootpage = 9999 WHERE name = 'hits'")  # points at no page
    conn.commit()
    conn.close()
    result = run_main("hits", "list", cwd=tmp_path)
    assert_one_clear_line(result, f"error: {path}: the database is unusable")


def test_a_writing_command_closes_its_database_before_the_process_ends(tmp_path):
    """The heap is frozen at exit (monitor/cli/main.py: a quicker exit), so no collection at
    exit closes a connection: the command's own close must fold the -wal file back into the
    database, as SQLite does at the last close (a copy of the .db file alone is then whole)."""
    from tests.monitor.cli.test_cli import cli

    path = desk(tmp_path, "x.db")
    for args in [*CREATORS[1:], *UPDATERS]:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert path.exists()
        assert not (tmp_path / "x.db-wal").exists(), args
