"""What every CLI command shares: the loaded config, the database, output helpers.

Imports only what every command needs (Typer, a Rich console): the config, storage and
the rest load when a command uses them, so `--help` and the quick commands start fast.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from monitor.cli.safe_text import json_safe
from monitor.durations import parse_duration

if TYPE_CHECKING:
    import sqlite_utils

    from monitor.config import Config

CONFIG_ENV = "MINERALS_MONITOR_CONFIG"
DISCOVERED_CONFIG = "minerals-monitor.toml"

# Exit codes: 0 ok; 1 the command ran and found problems; 2 bad usage or config;
# 3 storage unusable (locked, corrupt, newer schema); 130 interrupted.
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3
EXIT_INTERRUPTED = 130


@dataclass
class CliState:
    config_path: Path | None = None
    debug: bool = False
    _config: Config | None = None
    _opened: list[Any] = field(default_factory=list)  # closed by close_databases()

    def config(self) -> Config:
        if self._config is None:
            from monitor.config import load_config

            self._config = load_config(self.resolved_config_path())
        return self._config

    def configured_rule_ids(self) -> set[str]:
        """Ids of the valid rules in the configured rules files (to catch typos)."""
        from monitor.rulesource import load_rule_set

        return {rule.id for rule in load_rule_set(self.config().rules_files).rules}

    def resolved_config_path(self) -> Path | None:
        """--config, else $MINERALS_MONITOR_CONFIG, else ./minerals-monitor.toml, else embedded defaults."""
        if self.config_path is not None:
            return self.config_path
        if os.environ.get(CONFIG_ENV):
            return Path(os.environ[CONFIG_ENV])
        local = Path.cwd() / DISCOVERED_CONFIG
        return local if local.exists() else None

    def database(self, *, write: bool = False, create: bool = False) -> sqlite_utils.Database:
        """The configured database: read-only unless `write`; a missing one is an error
        (exit 3) unless `create`, so a mistyped path never looks like an empty archive."""
        from storage import open_database

        path = self.config().storage_path
        if write or create:
            db = open_database(path, create=create)
        else:
            db = open_database(path, read_only=True)
        self._opened.append(db)
        return db

    def close_databases(self) -> None:
        """Close what database() opened (main() does when the command ends): the last close of
        a written database folds its -wal file back in, as it always does, and not only when a
        garbage collection at exit gets round to the connection (the heap is frozen then)."""
        if not self._opened:
            return
        import sqlite3

        while self._opened:
            try:
                self._opened.pop().close()
            except sqlite3.Error:  # as at exit: a failed close changes neither output nor exit code
                continue


def program_name() -> str:
    """How to run this program again in a printed hint: `minerals-monitor` when that is on
    PATH, else the script's full path (`make run` does not put .venv/bin on PATH)."""
    script = Path(sys.argv[0])
    if script.name != "minerals-monitor":
        return f"{shlex.quote(sys.executable)} -m monitor"
    on_path = shutil.which("minerals-monitor")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "minerals-monitor"
    return shlex.quote(str(script.resolve()))


def did_you_mean(word: str, known: set[str] | list[str]) -> str:
    """`; did you mean 'ussm'?`, or `; known: a, b, c` when nothing is close, or ``."""
    import difflib

    close = difflib.get_close_matches(word, sorted(known), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(name) for name in close) + "?"
    if known and len(known) <= 30:
        return "; known: " + ", ".join(sorted(known))
    return ""


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 hit`, `2 hits`, `1,000 new articles`."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = CliState()
    return root.obj


# Piped output (no terminal) would default to 80 columns and fold every URL; give tables room
# (COLUMNS, when set, still decides).
stdout = Console(soft_wrap=False, highlight=False,
                 width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # one problem, one line: never wrapped


def print_json(value: Any) -> None:
    sys.stdout.write(json_safe(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def iso(moment: datetime | None) -> str | None:
    return _json_default(moment) if moment else None


def since_option(text: str | None) -> datetime | None:
    """`--since 7d` -> the moment 7 days ago."""
    if not text:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from error


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        text = f"{int(seconds)}s"
    return f"in {text}" if future else f"{text} ago"


class LoadProgressBar:
    """Rules-loading progress on stderr (a rules.types.LoadProgress), shown only once
    loading has taken a second (a 20,000-rule file takes a few) and only on a terminal,
    like every progress bar here."""

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._started = self._clock()
        self._bar = None
        self._task = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            if not stderr.is_terminal or self._clock() - self._started < 1.0 or done >= total:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 console=stderr, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(stage, total=total)
        self._bar.update(self._task, description=stage, completed=done, total=total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def load_progress() -> Iterator[LoadProgressBar]:
    progress = LoadProgressBar()
    try:
        yield progress
    finally:
        progress.close()


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr (hidden when not a terminal); yields advance(n)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, transient=True, disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
