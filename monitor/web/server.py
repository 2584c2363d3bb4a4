"""Serving the console with uvicorn in the caller's event loop: alone (`serve`) or inside
`run`, beside the monitor's polls, without a thread or process of its own.

    async with console_server(console, listen) as address:   # bound when this returns
        ...                                                   # serves until the block ends

The socket is bound before uvicorn starts, so a port in use is one clear error
(`WebListenError`), not a log line and a `sys.exit` from inside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn

from monitor.exceptions import MonitorError
from monitor.web.app import Console, create_app
from monitor.webconfig import ListenAddress


class WebListenError(MonitorError):
    """The console cannot listen where it was asked to."""


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The monitor owns SIGINT/SIGTERM and stops us through should_exit.
        yield


def bind(listen: ListenAddress) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as error:
        sock.close()
        reason = "address already in use (another console or program)" if error.errno == errno.EADDRINUSE else (
            error.strerror or str(error))
        raise WebListenError(f"web console: cannot listen on {listen}: {reason}; change [web] listen or use --listen") from error
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def console_server(console: Console, listen: ListenAddress) -> AsyncIterator[str]:
    """Serve `console` on `listen` until the block ends; yields the address to open."""
    sock = bind(listen)
    host, port = sock.getsockname()[:2]
    address = ListenAddress(listen.host, port)
    config = uvicorn.Config(
        create_app(console), log_config=None, access_log=False, lifespan="off", loop="none",
        timeout_graceful_shutdown=5, server_header=False,
    )
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="web-console")
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()  # raises what stopped it
        yield address.url()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
        console.close()


def console_inside(monitor, listen: ListenAddress):
    """The console of a running monitor (`run` with [web] listen): its rules, write thread and counters."""
    return console_server(Console.inside(monitor, listen), listen)


async def serve_alone(config, listen: ListenAddress, stop: asyncio.Event, announce) -> None:
    """`serve`: the console over the configured database until `stop` is set."""
    async with console_server(Console.standalone(config, listen), listen) as url:
        announce(url)
        await stop.wait()
