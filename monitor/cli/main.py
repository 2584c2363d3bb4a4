"""The `minerals-monitor` command line. Errors are one line and an exit code (see monitor/cli/context.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli import alerts as alerts_commands
from monitor.cli import feeds as feeds_commands
from monitor.cli import hits as hits_commands
from monitor.cli import rules as rules_commands
from monitor.cli import stories as stories_commands
from monitor.cli.context import EXIT_PROBLEMS, EXIT_STORAGE, EXIT_USAGE, CliState, state, stderr, stdout
from monitor.exceptions import PROJECT_ERRORS, ConfigError
from storage.exceptions import StorageError

app = typer.Typer(
    name="minerals-monitor",
    help="Keyword news monitor: polls feeds, matches rules, stores hits in SQLite and sends alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(feeds_commands.app, name="feeds")
app.add_typer(hits_commands.app, name="hits")
app.add_typer(alerts_commands.app, name="alerts")
app.add_typer(rules_commands.app, name="rules")
app.add_typer(stories_commands.app, name="stories")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (TOML). Default: $MINERALS_MONITOR_CONFIG, "
                     "./minerals-monitor.toml, else the embedded defaults.", dir_okay=False),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each poll does.")] = False,
) -> None:
    """Keyword news monitor for minerals diplomacy."""
    ctx.obj = CliState(config_path=config, debug=debug)
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
) -> None:
    """Poll feeds on schedule, match rules and send alerts until stopped (SIGINT/SIGTERM)."""
    from monitor.daemon import Monitor
    from monitor.cli.run_report import print_once_report

    config = state(ctx).config()

    async def main() -> int:
        async with Monitor(config) as monitor:
            if once:
                summaries = await monitor.run_once(send_digests=send_digests)
                print_once_report(summaries, monitor)
                return 0 if any(s.success for s in summaries) else EXIT_PROBLEMS
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            stderr.print(
                f"minerals-monitor: {len(config.feeds)} configured feeds, database {config.storage_path}; "
                "Ctrl-C to stop", style="dim"
            )
            async with _web_console(monitor, config):
                await monitor.run_forever(stop)
            stderr.print(f"minerals-monitor: {monitor.stop_message()}", style="dim", markup=False)
            return 0

    raise typer.Exit(asyncio.run(main()))


@contextlib.asynccontextmanager
async def _web_console(monitor, config):
    """The console inside `run` when [web] listen is set (the embedded defaults set it); the web
    stack is imported only then. A busy port stops a configured console, not the defaults' one."""
    if config.web.listen is None:
        yield
        return
    from monitor.web.server import WebListenError, console_inside

    try:
        async with console_inside(monitor, config.web.listen) as url:
            stderr.print(f"minerals-monitor: web console at {url}", style="bold")
            yield
    except WebListenError as error:
        if config.source is not None:
            raise
        stderr.print(f"{error}; monitoring without it", markup=False)
        yield


@app.command()
def serve(
    ctx: typer.Context,
    listen: Annotated[str | None, typer.Option("--listen", help="HOST:PORT to listen on (default: [web] listen, "
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
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the demo database at this path.")] = None,
) -> None:
    """Show the whole pipeline offline: bundled sample feeds served on 127.0.0.1, default rules, alerts."""
    from monitor.cli.demo import run_demo

    raise typer.Exit(run_demo(keep))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the starter config and rules.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a starter config (minerals-monitor.toml) and rules folder into DIRECTORY."""
    from monitor.cli.starter import write_starter

    written = write_starter(directory, force=force)
    for path in written:
        stdout.print(f"wrote {path}")
    stdout.print(f"next: cd {directory} && minerals-monitor rules check rules/*.yaml && minerals-monitor run --once")


def main() -> None:
    """Console-script entry point: our errors become one line and an exit code."""
    debug = "--debug" in sys.argv
    try:
        app()  # standalone: usage errors print and exit 2 themselves; our errors come through here
    except ConfigError as error:
        for problem in error.problems:
            stderr.print(f"{error.kind}: {problem}", markup=False)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except PROJECT_ERRORS as error:
        if debug:
            traceback.print_exc()
        stderr.print(f"error: {error}", markup=False)
        sys.exit(EXIT_STORAGE if isinstance(error, StorageError) else EXIT_PROBLEMS)
    except Exception as error:  # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            stderr.print(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)", markup=False)
        sys.exit(70)
