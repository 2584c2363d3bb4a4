"""What scripts, feed readers and operations read: the JSON API (documented by
monitor/web/openapi.yaml), the Atom feeds of stories, /metrics, /healthz and /readyz."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import yaml
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.web import atom
from monitor.web.filters import FilterError, StoryQuery, story_query
from monitor.web.views import delivery_api_json, feed_json, story_detail_json, story_json
from storage import deliveries, feeds
from storage.console import StoryFilter, last_success_at, story_detail, story_page, write_problem
from storage.exceptions import StorageError
from storage.types import DELIVERY_STATUSES, SEVERITIES

if TYPE_CHECKING:
    from monitor.web.app import Console

ATOM_TYPE = "application/atom+xml; charset=utf-8"
ATOM_ENTRIES = 50
# /readyz: a poll must have succeeded within this many polling intervals (at least 30 minutes).
READY_POLL_INTERVALS = 3
READY_MIN_SECONDS = 30 * 60
READY_WRITE_TIMEOUT_MS = 2000


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False).encode(), status_code, media_type="application/json")


def _problem(status_code: int, message: str) -> Response:
    return _json({"error": message}, status_code)


def routes(console: Console) -> list[Route]:
    async def api_stories(request: Request) -> Response:
        try:
            query = story_query(request.query_params, console.now())
            body = await console.cache.get(("api-stories", str(request.url.query)), lambda: _stories_body(request, query))
        except (FilterError, StorageError) as error:
            return _problem(400, str(error))
        return Response(body, media_type="application/json")

    async def _stories_body(request: Request, query: StoryQuery) -> bytes:
        kept = {k: v for k, v in request.query_params.items() if k != "after" and v}
        path = request.url.path

        def query_and_encode(db) -> bytes:  # off the event loop, as the query (see pages.py)
            page = story_page(db, query.filters, after=query.after, limit=query.limit)
            next_url = f"{path}?{urlencode({**kept, 'after': page.next_cursor.encode()})}" if page.next_cursor else None
            return json.dumps({"stories": [story_json(s) for s in page.stories], "next": next_url}, ensure_ascii=False).encode()

        return await console.read(query_and_encode)

    async def api_story(request: Request) -> Response:
        detail = await console.read(story_detail, request.path_params["story_id"])
        if detail is None:
            return _problem(404, f"no story with id {request.path_params['story_id']}")
        return _json(story_detail_json(detail))

    async def api_feeds(request: Request) -> Response:
        rows = await console.read(feeds.feeds_with_health, console.now())
        if request.query_params.get("failing") in ("1", "true", "yes"):
            rows = [f for f in rows if f.failing]
        configured = {spec.url for spec in console.config.feeds}
        return _json([feed_json(f, configured) for f in rows])

    async def api_deliveries(request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status and status not in DELIVERY_STATUSES:
            return _problem(400, f"status: expected one of {', '.join(DELIVERY_STATUSES)}, got {status!r}")
        limit_text = request.query_params.get("limit") or "200"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return _problem(400, f"limit: expected 1 to 1000, got {limit_text!r}")
        rows = await console.read(deliveries.list_deliveries, status, int(limit_text))
        return _json([delivery_api_json(a) for a in rows])

    async def openapi(request: Request) -> Response:
        text = (resources.files("monitor.web") / "openapi.yaml").read_text(encoding="utf-8")
        if request.url.path.endswith(".json"):
            return _json(yaml.safe_load(text))
        return Response(text, media_type="application/yaml")

    # --- Atom ------------------------------------------------------------------

    async def atom_feed(request: Request, filters: StoryFilter, title: str, feed_id: str) -> Response:
        base = str(request.base_url).rstrip("/")
        self_url = str(request.url)

        def query_and_render(db) -> bytes:  # off the event loop, as the query (see pages.py)
            page = story_page(db, filters, limit=ATOM_ENTRIES)
            return atom.render_feed(page.stories, title=title, feed_id=feed_id, self_url=self_url, console_url=f"{base}/",
                                    story_url=base + "/stories/{story_id}")

        async def build() -> bytes:
            return await console.read(query_and_render)

        body = await console.cache.get(("atom", request.url.path, str(request.url.query)), build)
        etag = atom.etag_of(body)
        headers = {"etag": etag, "cache-control": "no-cache"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=ATOM_TYPE, headers=headers)

    async def atom_stories(request: Request) -> Response:
        return await atom_feed(request, StoryFilter(), "minerals-monitor: stories", "stories")

    async def atom_rule(request: Request) -> Response:
        rule = request.path_params["rule"]
        return await atom_feed(request, StoryFilter(rule=rule), f"minerals-monitor: rule {rule}", f"rule/{rule}")

    async def atom_severity(request: Request) -> Response:
        severity = request.path_params["severity"]
        if severity not in SEVERITIES:
            raise HTTPException(404, f"no severity {severity!r} (expected one of {', '.join(SEVERITIES)})")
        return await atom_feed(request, StoryFilter(min_severity=severity),
                               f"minerals-monitor: {severity} and above", f"severity/{severity}")

    # --- operations ------------------------------------------------------------

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(await console.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await _readiness(console)
        ready = all(check["ok"] for check in checks.values())
        return _json({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    return [
        Route("/api/stories", api_stories),
        Route("/api/stories/{story_id:int}", api_story),
        Route("/api/feeds", api_feeds),
        Route("/api/deliveries", api_deliveries),
        Route("/api/openapi.yaml", openapi),
        Route("/api/openapi.json", openapi),
        Route("/feeds/stories.atom", atom_stories, name="atom_stories"),
        Route("/feeds/rules/{rule}.atom", atom_rule, name="atom_rule"),
        Route("/feeds/severity/{severity}.atom", atom_severity, name="atom_severity"),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]


async def _readiness(console: Console) -> dict[str, dict]:
    """Database writable, scheduler running, a poll succeeded recently; each with its reason."""
    checks: dict[str, dict] = {}
    problem = await console.read(write_problem, READY_WRITE_TIMEOUT_MS)
    checks["database"] = {"ok": True} if problem is None else {"ok": False, "reason": f"not writable: {problem}"}
    monitor = console.monitor
    if monitor is not None:
        checks["scheduler"] = {"ok": monitor.scheduling} if monitor.scheduling else {"ok": False, "reason": "not running"}
    else:
        from storage.lock import running_pid

        pid = running_pid(console.config.storage_path)
        checks["scheduler"] = ({"ok": True, "pid": pid} if pid else
                               {"ok": False, "reason": "no minerals-monitor run holds this database"})
    newest = await console.read(last_success_at)
    limit = max(READY_MIN_SECONDS, READY_POLL_INTERVALS * console.config.polling.interval)
    if newest is None:
        checks["polling"] = {"ok": False, "reason": "no poll has succeeded yet"}
    else:
        age = (console.now() - newest).total_seconds()
        checks["polling"] = {"ok": age <= limit, "last_success_age_seconds": round(age, 1)}
        if age > limit:
            checks["polling"]["reason"] = f"no poll succeeded in the last {timedelta(seconds=int(limit))}"
    return checks
