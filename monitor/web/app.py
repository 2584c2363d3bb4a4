"""The console's ASGI application: routes, middleware and the services handlers share.

    app = create_app(console)     # console: Console (database access, rules, access keys, ...)
    Gate -> Session -> SecurityHeaders -> routes (pages.py: HTML; api.py: JSON, Atom, ops)

`Console.standalone(config)` serves a database beside a running `run` (or alone);
`Console.inside(monitor)` shares the running monitor's rules, write thread and counters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from alerts.render import format_utc, severity_label
from monitor.config import Config
from monitor.daemon import Monitor
from monitor.rulesource import RulesHolder
from monitor.web import api, pages
from monitor.web.access import AnswerCache, OwnWriter, ReadPool, Writer
from monitor.web.metrics import ArchiveCollector, PollMetrics, render
from monitor.web.security import SESSION_COOKIE, Access, Gate, SecurityHeaders, csrf_token, logged_in
from monitor.webconfig import ListenAddress
from storage import transaction
from storage.console import archive_counts

SESSION_DAYS = 14


@dataclass
class Console:
    """What every handler needs, passed in (tests build one over a temporary database)."""

    config: Config
    access: Access
    reads: ReadPool
    write_on: Writer  # runs fn(db) where writes belong (the monitor's write thread, or our own)
    rules: RulesHolder
    registry: CollectorRegistry
    monitor: Monitor | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    cache: AnswerCache = field(default_factory=AnswerCache)
    archive: ArchiveCollector | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def standalone(cls, config: Config, listen: ListenAddress, **options: Any) -> Console:
        writer = OwnWriter(config.storage_path)
        console = cls._build(config, listen, writer, RulesHolder(config.rules_files, set(config.channels)), None, **options)
        console._closers.append(writer.close)
        return console

    @classmethod
    def inside(cls, monitor: Monitor, listen: ListenAddress, **options: Any) -> Console:
        async def write_on(work):
            if monitor.writer is None:
                return work(monitor.db)
            return await monitor.writer.call(work, urgent=True)

        console = cls._build(monitor.config, listen, write_on, monitor.rules, monitor, now=monitor.now, **options)
        metrics = PollMetrics(console.registry)
        monitor.poll_observers.append(
            lambda summary, seconds: metrics.observe(summary.success, summary.http_status, summary.error, summary.skipped, seconds)
        )
        return console

    @classmethod
    def _build(cls, config: Config, listen: ListenAddress, write_on: Writer, rules: RulesHolder,
               monitor: Monitor | None, **options: Any) -> Console:
        reads = ReadPool(config.storage_path)
        registry = CollectorRegistry()
        console = cls(config=config, access=Access.for_password(config.web.password, listen.loopback), reads=reads,
                      write_on=write_on, rules=rules, registry=registry, monitor=monitor, **options)
        console._closers.append(reads.close)
        writer = monitor.writer if monitor is not None else None
        console.archive = ArchiveCollector((lambda: writer.queue_depth) if writer is not None else (lambda: None),
                                           now=console.now)
        registry.register(console.archive)
        return console

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition: the database counts are read off the loop, then rendered."""
        self.archive.counts = await self.read(archive_counts)
        return render(self.registry)

    async def read(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(db, ...) on a reader thread: never on the event loop the monitor polls on."""
        return await self.reads.run(work, *args, **kwargs)

    async def write(self, work: Callable[..., Any], *args: Any) -> Any:
        """fn(db, *args) inside one transaction where writes belong; clears the answer cache and
        wakes the dispatcher (a retried delivery leaves now, not on its next look)."""

        def in_transaction(db):
            with transaction(db):
                return work(db, *args)

        try:
            return await self.write_on(in_transaction)
        finally:
            self.cache.clear()
            if self.monitor is not None:
                self.monitor.dispatcher.wake()

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.web", "templates"),
        autoescape=True,  # article text is untrusted: everything is escaped unless built as Markup by us
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_utc
    env.filters["severity_label"] = severity_label
    return Jinja2Templates(env=env)


def create_app(console: Console) -> Starlette:
    templates = _templates()

    def page_context(request: Request) -> dict[str, Any]:
        return {
            "csrf": csrf_token(request),
            "password_set": bool(console.access.password),
            "logged_in": logged_in(request),
            "path": request.url.path,
        }

    templates.context_processors.append(page_context)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if request.url.path.startswith(("/api/", "/metrics", "/feeds/")) or "text/html" not in request.headers.get("accept", ""):
            return PlainTextResponse(f"{error.detail}\n", error.status_code, headers=error.headers)
        return templates.TemplateResponse(request, "error.html.j2", {"status": error.status_code, "message": error.detail},
                                          status_code=error.status_code)

    routes = [
        *pages.routes(console, templates),
        *api.routes(console),
        Mount("/static", StaticFiles(packages=[("monitor.web", "static")]), name="static"),
    ]
    middleware = [
        # Outermost first: every answer gets the headers; the gate reads the session.
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=console.access.session_key, session_cookie=SESSION_COOKIE,
                   max_age=SESSION_DAYS * 86400, same_site="strict"),
        Middleware(Gate, access=console.access),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error})
    app.state.console = console
    return app

