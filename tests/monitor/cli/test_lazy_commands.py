"""Building only the command that runs (monitor/cli/lazy_commands.py) changes no output:
every help page and usage error is the same as from the tree Typer builds whole."""

from __future__ import annotations

import pytest
import typer

from monitor.cli import lazy_commands
from monitor.cli.main import app
from tests.monitor.cli.test_cli import all_commands

GROUPS = sorted({command[:1] for command in all_commands() if len(command) > 1})
ARGVS = [
    [], ["--help"], ["--debug", "--help"],
    *([*group] for group in GROUPS), *([*group, "--help"] for group in GROUPS),
    *([*command, "--help"] for command in all_commands()),
    ["hits", "lst"], ["nosuch"], ["rules", "check"], ["hits", "list", "--limit", "0"], ["hits", "list", "--nope"],
    ["rules", "check", "missing.yaml"], ["feeds", "remove"], ["run", "--once", "--bogus"], ["--config"],
]


def outcome(command, argv, capsys):
    capsys.readouterr()
    try:
        result = command(argv, prog_name="minerals-monitor", standalone_mode=False)
        error = None
    except Exception as raised:  # noqa: BLE001 - compared below, as main() would print it
        result, error = None, raised
        if hasattr(raised, "show"):
            raised.show()
    out, err = capsys.readouterr()
    return result, type(error).__name__ if error else None, out, err


def test_the_groups_are_lazy():
    built = lazy_commands.click_command(app)
    assert isinstance(built, lazy_commands.LazyGroup)
    pending = [name for group in GROUPS for name, command in built.commands[group[0]].commands.items()
               if isinstance(command, lazy_commands.PendingCommand)]
    assert len(pending) == sum(1 for command in all_commands() if len(command) > 1)


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_same_output_as_the_whole_tree(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINERALS_MONITOR_CONFIG", raising=False)
    whole = outcome(typer.main.get_command(app), argv, capsys)
    lazy = outcome(lazy_commands.click_command(app), argv, capsys)
    assert lazy == whole
    assert whole[2] or whole[3]  # something was printed: the comparison compared something


def test_a_group_that_cannot_build_later_gets_the_whole_tree():
    eager_only = typer.Typer()  # a plain TyperGroup
    sub = typer.Typer()

    @sub.command("x")
    def x(name: str) -> None:
        """X."""

    @sub.command("y")
    def y() -> None:
        """Y."""

    eager_only.add_typer(sub, name="sub")
    built = lazy_commands.click_command(eager_only)
    assert not any(isinstance(c, lazy_commands.PendingCommand) for c in built.commands["sub"].commands.values())
