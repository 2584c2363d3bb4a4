"""Shared fixtures: real servers on 127.0.0.1, temporary databases, the feed corpus.

Everything a test reads lives in the repository (tests/data/): the real-world feed corpus
with its SOURCES.md and upstream licence texts (tests/data/corpus/), the seed story
(tests/data/seed/). A fresh clone runs every test with nothing skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.demo_server import FeedServer
from storage import open_database

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "corpus"
SEED = DATA / "seed" / "pakistan-us-critical-minerals-mou.txt"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def vm_steps(db, run):
    """(SQLite virtual-machine steps, result) of `run()` on `db`'s connection: a cost that does
    not move with the machine's load, for checking that a lookup does not grow with a table."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 1)
    try:
        found = run()
    finally:
        db.conn.set_progress_handler(None, 1)
    return steps[0], found


def corpus_files() -> list[Path]:
    """Every feed file of the vendored corpus (SOURCES.md and LICENSES/ left out)."""
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "SOURCES.md")


@pytest.fixture
def corpus() -> list[Path]:
    files = corpus_files()
    assert len(files) >= 70, f"the feed corpus in {CORPUS} is incomplete ({len(files)} files)"
    return files


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "test.db")
    yield database
    database.close()


@pytest.fixture
def feed_server():
    with FeedServer({}) as server:
        yield server
