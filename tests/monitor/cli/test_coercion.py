"""The pydantic-free fast path (monitor/cli/coercion.py) converts every value exactly as
Typer's own converter does: the same value and type, or the same error and message.

Every parameter of every command is tried with values the fast path answers and values
it must pass on (bad numbers, odd paths, text that is not its own Path, undecodable argv).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer

from monitor.cli import coercion
from monitor.cli.main import app
from tests.conftest import REPO

PACK = "rules/packs/minerals-diplomacy.yaml"
TEXTS = [
    "", "ussm", "a b", " padded ", "ریکوڈک", "7d", "\udcff", "a\x00b",
    "0", "1", "5", "007", "-1", "+3", " 5", "1_000", "2.0", "1e3", "99999999999999999999", "abc",
    PACK, f"./{PACK}", f"{PACK}/", f"rules//packs/minerals-diplomacy.yaml", "rules", "rules/", "missing.yaml", "-",
    "\udcff.yaml",
]
VALUES = [*TEXTS, 0, 1, 50, 100, 200, True, 2.5, Path(PACK), (PACK,), (PACK, "rules/packs"), ("missing.yaml",),
          (f"./{PACK}",), (), ["5"], ("5", "x")]


def every_parameter():
    root = typer.main.get_command(app)

    def walk(command, path):
        for param in command.params:
            if hasattr(param, "type_descriptor"):
                yield path, command, param
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(root, ("minerals-monitor",)))


def outcome(runtime, value, param, ctx):
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(error).__name__, error.format_message() if hasattr(error, "format_message") else str(error))
    return ("value", type(result).__name__, [type(r).__name__ for r in result] if isinstance(result, list) else None,
            result)


PARAMETERS = every_parameter()


def test_the_fast_path_is_installed():
    assert coercion.install()
    assert getattr(typer.core.build_runtime_param, "_fast_path", False)


def test_every_command_has_parameters_to_compare():
    assert len(PARAMETERS) > 60
    assert {type(p.type_descriptor.annotation) for _, _, p in PARAMETERS} >= {type}


@pytest.mark.parametrize(("path", "command", "param"), PARAMETERS,
                         ids=[" ".join(path[1:]) + " " + param.name for path, _, param in PARAMETERS])
def test_fast_path_converts_as_typer_does(monkeypatch, path, command, param):
    from typer import _coercion

    monkeypatch.chdir(REPO)
    ctx = typer.Context(command, info_name=path[-1])
    descriptor = param.type_descriptor
    for value in VALUES:
        fast = typer.core.build_runtime_param(descriptor)
        typers = _coercion.build_runtime_param(descriptor)
        assert outcome(fast, value, param, ctx) == outcome(typers, value, param, ctx), (param.name, value)


def test_the_quick_commands_answer_without_typer_converters(monkeypatch):
    """The three start-up commands' values are all certain cases (else pydantic is back)."""
    from typer import _coercion

    monkeypatch.chdir(REPO)
    calls = []
    original = _coercion.build_runtime_param
    monkeypatch.setattr(_coercion, "build_runtime_param", lambda d: calls.append(d) or original(d))
    root = typer.main.get_command(app)
    for args in (["hits", "list"], ["hits", "list", "--limit", "5", "--rule", "ussm", "--since", "7d"],
                 ["rules", "check", PACK, "--json"], ["--config", os.devnull, "rules", "check", PACK]):
        command, ctx = root, typer.Context(root, info_name="minerals-monitor")
        rest = root.parse_args(ctx, list(args))
        while rest and rest[0] in getattr(command, "commands", {}):
            command = command.commands[rest[0]]
            ctx = typer.Context(command, info_name=rest[0], parent=ctx)
            rest = command.parse_args(ctx, rest[1:])
    assert calls == []
