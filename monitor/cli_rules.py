"""`rules check|test|explain|backtest`: try a rules change before it goes live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli_context import EXIT_PROBLEMS, print_json, state, stdout
from monitor.exceptions import ConfigError
from monitor.rulesource import read_sources
from rules import load_rules

app = typer.Typer(help="Check and test rules files.", no_args_is_help=True)


def _known_channels(ctx: typer.Context) -> set[str] | None:
    """Channel names from the config, to catch typos; None when there is no usable config."""
    try:
        return set(state(ctx).config().channels)
    except ConfigError:
        return None


@app.command("check")
def check(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Rules files (YAML).", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Validate rules files and run their examples; prints FILE:LINE:COL: message per problem."""
    ruleset = load_rules(read_sources(tuple(files)), known_channels=_known_channels(ctx))
    if as_json:
        print_json(
            {
                "ok": ruleset.ok,
                "rules": len(ruleset.rules),
                "problems": [
                    {"file": p.location.file, "line": p.location.line, "column": p.location.column, "message": p.message}
                    for p in ruleset.problems
                ],
            }
        )
    else:
        for problem in ruleset.problems:
            print(str(problem))
        if ruleset.ok:
            examples = sum(len(rule.tests) for rule in ruleset.rules)
            stdout.print(f"OK: {len(ruleset.rules)} rules in {len(files)} file(s), {examples} examples pass")
    if not ruleset.ok:
        raise typer.Exit(EXIT_PROBLEMS)
