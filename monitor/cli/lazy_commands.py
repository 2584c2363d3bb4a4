"""Build only the command that runs (issue 17.1).

Typer turns every command function into a click command before running any: it reads
each one's signature and evaluates its annotations (~30 functions, ~20 ms of every start).
`click_command(app)` builds the groups as Typer does but leaves each command pending
until its group looks it up: a run builds the command it runs; a group's help page
builds the commands it lists. Every group must be a `LazyGroup` (`typer.Typer(cls=LazyGroup)`);
when one is not, the whole tree is built at once, as Typer does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup


class PendingCommand:
    """A command not built yet: its name, and how to build it."""

    def __init__(self, name: str, build: Callable[[], Any]) -> None:
        self.name = name
        self.build = build


class LazyGroup(TyperGroup):
    """A Typer group whose commands may still be pending: built when looked up."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, PendingCommand):
            command = self.commands[cmd_name] = command.build()
        return command


def click_command(app: typer.Typer) -> Any:
    """`typer.main.get_command(app)` with every command left pending (see the module doc)."""
    with _pending_commands() as built:
        root = typer.main.get_command(app)
    if not built or isinstance(root, PendingCommand) or not _all_lazy(root):
        return typer.main.get_command(app)
    return root


@contextmanager
def _pending_commands() -> Iterator[list[bool]]:
    """While building: Typer's command builder hands back PendingCommands. Yields [True]
    when that builder exists in this Typer, [] otherwise (nothing was changed)."""
    main = typer.main
    build = getattr(main, "get_command_from_info", None)
    naming = getattr(main, "get_command_name", None)
    if build is None or naming is None:
        yield []
        return

    def pending(command_info: Any, **options: Any) -> Any:
        # the name exactly as Typer's builder gives it
        name = command_info.name or naming(command_info.callback.__name__)
        return PendingCommand(name, lambda: build(command_info, **options))

    main.get_command_from_info = pending
    try:
        yield [True]
    finally:
        main.get_command_from_info = build


def _all_lazy(command: Any) -> bool:
    """Every group holding a pending command can build it."""
    commands = getattr(command, "commands", None)
    if commands is None:
        return True
    if any(isinstance(c, PendingCommand) for c in commands.values()) and not isinstance(command, LazyGroup):
        return False
    return all(_all_lazy(c) for c in commands.values() if not isinstance(c, PendingCommand))
