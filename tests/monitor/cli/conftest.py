"""The CLI's entry point run in this process: the same `main()` as the console script,
with argv, working folder and environment set, for tests that run many commands."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.cli import context
from monitor.cli.main import main


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_main(capsys, monkeypatch):
    """run_main(*args, cwd=PATH) -> Ran(code, stdout, stderr), as `minerals-monitor ARGS` would."""
    monkeypatch.delenv("MINERALS_MONITOR_CONFIG", raising=False)
    monkeypatch.setattr(context.stdout, "width", 400)  # no folded table cells to search through

    def run(*args: str, cwd: Path) -> Ran:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["minerals-monitor", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory):
    """A database filled by the offline demo (`demo --keep`), and a config that points at it."""
    from tests.monitor.cli.test_cli import cli

    folder = tmp_path_factory.mktemp("archive")
    result = cli("demo", "--keep", str(folder / "archive.db"), cwd=folder, timeout=120)
    assert result.returncode == 0, result.stderr
    (folder / "demo-output.txt").write_text(result.stdout)
    (folder / "minerals-monitor.toml").write_text('[storage]\npath = "archive.db"\n')
    return folder
