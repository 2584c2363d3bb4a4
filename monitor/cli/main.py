"""The `minerals-monitor` command line. Errors are one line and an exit code (see monitor/cli/context.py)."""

from __future__ import annotations

import logging
import shlex
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from monitor import heap
from monitor.cli import alerts as alerts_commands
from monitor.cli import coercion
from monitor.cli import feeds as feeds_commands
from monitor.cli import hits as hits_commands
from monitor.cli import lazy_commands
from monitor.cli import rules as rules_commands
from monitor.cli import stories as stories_commands
from monitor.cli.context import (
    EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_STORAGE, EXIT_USAGE, CliState, program_name, state, stderr, stdout,
)
from monitor.exceptions import PROJECT_ERRORS, ConfigError
from storage.exceptions import StorageError

# Typer (0.29) prints an argument's Python type after its name ("FILE <list[Path]>", "RULE <str>");
# the metavar and the help text already say what to give.
if hasattr(typer.core.TyperArgument, "display_type_rich"):
    typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

coercion.install()  # no pydantic for the values whose conversion is certain (~0.1 s of every start)

app = typer.Typer(
    name="minerals-monitor",
    help="Keyword news monitor: polls feeds, matches rules, stores hits in SQLite and sends alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=lazy_commands.LazyGroup,
)
app.add_typer(feeds_commands.app, name="feeds")
app.add_typer(hits_commands.app, name="hits")
app.add_typer(alerts_commands.app, name="alerts")
app.add_typer(rules_commands.app, name="rules")
app.add_typer(stories_commands.app, name="stories")


_root_state: CliState | None = None  # for main()'s error messages, after the command has run


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", metavar="FILE", help="Config file (TOML). Default: $MINERALS_MONITOR_CONFIG, "
                     "./minerals-monitor.toml, else the embedded defaults.", dir_okay=False),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each poll does.")] = False,
) -> None:
    """Keyword news monitor for minerals diplomacy."""
    global _root_state
    ctx.obj = _root_state = CliState(config_path=config, debug=debug)
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not debug:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Even with --debug: httpx logs full request URLs, and chat webhook URLs carry their token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Poll every feed once, deliver, and exit.")] = False,
    send_digests: Annotated[
        bool, typer.Option("--send-digests", help="With --once: also send every waiting digest (for cron use).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once: print every feed's outcome as JSON "
                                          "(console alerts then go to standard error).")] = False,
    every_feed: Annotated[bool, typer.Option("--verbose", "-v", help="With --once: a row for every feed "
                                             "(default: a summary and the feeds that failed or found hits).")] = False,
) -> None:
    """Poll feeds on schedule, match rules and send alerts until stopped (SIGINT/SIGTERM)."""
    if not once and (send_digests or as_json or every_feed):
        flag = "--send-digests" if send_digests else "--json" if as_json else "--verbose"
        raise typer.BadParameter(f"{flag} only works with --once", param_hint=flag)
    from monitor.cli.run_console import run_forever, run_once

    config = state(ctx).config()
    if once:
        raise typer.Exit(run_once(config, send_digests=send_digests, as_json=as_json, every_feed=every_feed))
    raise typer.Exit(run_forever(config))


@app.command()
def serve(
    ctx: typer.Context,
    listen: Annotated[str | None, typer.Option("--listen", metavar="HOST:PORT", help="HOST:PORT to listen on (default: [web] listen, "
                                               "else 127.0.0.1:8765). Any address but loopback needs [web] password.")] = None,
) -> None:
    """Serve the web console over the database (beside a running `run`, or alone) until Ctrl-C."""
    from monitor.web.server import serve_alone
    from monitor.webconfig import DEFAULT_LISTEN, open_listen_problem, parse_listen

    config = state(ctx).config()
    try:
        address = parse_listen(listen) if listen else config.web.listen or parse_listen(DEFAULT_LISTEN)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--listen") from error
    if problem := open_listen_problem(address, config.web.password):
        raise typer.BadParameter(problem, param_hint="--listen")
    state(ctx).database().close()  # missing, corrupt or too new: exit 3 now, not on the first page

    import asyncio
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        def announce(url: str) -> None:
            stderr.print(f"minerals-monitor: web console at {url} over {config.storage_path}; Ctrl-C to stop", markup=False)

        await serve_alone(config, address, stop, announce)

    asyncio.run(main())


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option("--keep", metavar="FILE", help="Keep the demo database at this path.")] = None,
) -> None:
    """Show the whole pipeline offline: bundled sample feeds served on 127.0.0.1, default rules, alerts."""
    from monitor.cli.demo import run_demo

    raise typer.Exit(run_demo(keep))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the starter config and rules.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a starter config (minerals-monitor.toml) and rules folder into DIRECTORY."""
    from monitor.cli.starter import write_starter

    written = write_starter(directory, force=force)
    for path in written:
        stdout.print(f"wrote {path}", markup=False)
    program = program_name()
    stdout.print(f"next: cd {shlex.quote(str(directory))} && {program} rules check rules/*.yaml && {program} run --once",
                 markup=False, soft_wrap=True)  # one line to copy, never folded


# Options of the root command: given after a command name, click only says "No such option".
GLOBAL_OPTIONS = ("--config", "-c", "--debug")


def main() -> None:
    """Console-script entry point: our errors become one line and an exit code."""
    heap.freeze_at_exit()  # a quick exit (monitor/heap.py)
    # click's exceptions, wherever this Typer takes click from (0.29 vendors it as typer._click).
    click = sys.modules[typer.BadParameter.__module__]

    debug = "--debug" in sys.argv
    try:
        try:
            # Not standalone: usage errors come back here, to add the hint about global options.
            # Builds only the command that runs (app() would build all of them first).
            code = lazy_commands.click_command(app)(standalone_mode=False)
        finally:
            if _root_state is not None:
                _root_state.close_databases()
    except click.NoSuchOption as error:
        error.show()
        if error.option_name in GLOBAL_OPTIONS:
            stderr.print(f"hint: {error.option_name} goes before the command name: {_corrected_command()}", markup=False)
        sys.exit(EXIT_USAGE)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (getattr(click, "Abort", typer.Abort), typer.Abort):
        stderr.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as error:
        for problem in error.problems:
            stderr.print(f"{error.kind}: {problem}", markup=False)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except PROJECT_ERRORS as error:
        if debug:
            traceback.print_exc()
        stderr.print(f"error: {error}", markup=False)
        sys.exit(EXIT_STORAGE if isinstance(error, StorageError) else EXIT_PROBLEMS)
    except Exception as error:
        if _is_database_error(error):  # damage found while reading (a page, an index), not at open
            if debug:
                traceback.print_exc()
            stderr.print(f"error: {_database_path()}: the database is unusable: {error}", markup=False)
            sys.exit(EXIT_STORAGE)
        # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            stderr.print(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)", markup=False)
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


def _is_database_error(error: Exception) -> bool:
    """A sqlite3.DatabaseError, without importing sqlite3 for commands that never open one."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(error, sqlite3.DatabaseError)


def _corrected_command() -> str:
    """The command as typed with the global options moved before the command name."""
    globals_, rest, words = [], [], iter(sys.argv[1:])
    for word in words:
        if word in ("--config", "-c"):
            globals_ += [word, next(words, "FILE")]
        elif word == "--debug" or word.startswith("--config="):
            globals_.append(word)
        else:
            rest.append(word)
    return " ".join(shlex.quote(word) for word in ["minerals-monitor", *globals_, *rest])


def _database_path() -> str:
    try:
        return str(_root_state.config().storage_path) if _root_state else "database"
    except Exception:  # the config itself is the problem: name no path rather than a wrong one
        return "database"
