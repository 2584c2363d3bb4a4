"""Shared fixtures: real servers on 127.0.0.1, temporary databases, the shared feed corpus."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.demo_server import FeedServer
from storage import open_database

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
DATA = Path(__file__).resolve().parent / "data"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def corpus_files() -> list[Path]:
    """Every feed file of the shared corpus (SOURCES.md and LICENSES/ skipped)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "SOURCES.md")


@pytest.fixture
def corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip(f"shared feed corpus not found at {CORPUS}")
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
