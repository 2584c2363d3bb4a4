"""The console's HTML pages and the actions their forms post (htmx swaps the answers in).

Every handler reads through `console.read` (a reader thread) and writes through
`console.write` (the write thread), so no query ever runs on the monitor's event loop.
Every POST passes `checked_form`: the session's CSRF token or a 403.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from monitor.durations import format_duration, parse_duration
from monitor.routing import routes_for
from monitor.web import playground
from monitor.web.filters import FilterError, story_query
from monitor.web.security import csrf_token, logged_in, safe_next
from monitor.web.views import failing_first, link, story_reasons, title_segments
from rules import check_examples
from storage import deliveries, feeds
from storage.console import feed_names, story_detail, story_page
from storage.exceptions import StorageError
from storage.types import DELIVERY_STATUSES, SEVERITIES, FeedSpec

if TYPE_CHECKING:
    from monitor.web.app import Console

MUTE_CHOICES = ("1h", "6h", "1d", "7d")


async def checked_form(request: Request) -> FormData:
    """The form of a state-changing request, once its CSRF token matches the session's."""
    form = await request.form()
    given = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
    expected = request.session.get("csrf") or ""
    if not given or not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
    return form


# Stands for the session's CSRF token in a page cached for every session; each answer gets
# its own token put in. Random per process, so no article text can carry it.
CSRF_STAND_IN = f"csrf-stand-in-{secrets.token_hex(16)}"


def _for_session(request: Request, page: str) -> Response:
    response = Response(page.replace(CSRF_STAND_IN, csrf_token(request)), media_type="text/html")
    response.headers["cache-control"] = "no-store"  # it carries the session's CSRF token
    return response


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def routes(console: Console, templates: Jinja2Templates) -> list[Route]:
    def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
        response.headers["cache-control"] = "no-store"  # pages carry the session's CSRF token
        return response

    # --- stories ---------------------------------------------------------------

    async def story_list(request: Request) -> Response:
        params = request.query_params
        error = None
        try:
            query = story_query(params, console.now())
            if not _htmx(request):
                # The whole page, cached for every session alike: rendering its filters (a
                # <select> of every feed) took 8 ms of the event loop per request at 1,000 feeds,
                # and 50 watchers' refreshes took that from the polls (bench/bench_web.py).
                key = ("stories-page", str(request.url.query), logged_in(request))
                page = await console.cache.get(key, lambda: console.read(_story_list_page, request, query, params))
                return _for_session(request, page)
            results = await console.cache.get(("stories", str(request.url.query)),
                                              lambda: console.read(_story_rows, query, params))
        except (FilterError, StorageError) as problem:
            error, results = str(problem), Markup("")
        if _htmx(request) and request.headers.get("hx-target") == "stories":
            return render(request, "_stories.html.j2", {"results": results, "error": error}, 400 if error else 200)
        feed_list = await console.cache.get("feed-names", lambda: console.read(feed_names))
        context = {
            "results": results, "error": error, "params": params, "rules": sorted(console.rules.current.by_id),
            "feeds": feed_list, "severities": SEVERITIES,
        }
        return render(request, "stories.html.j2", context, 400 if error else 200)

    def _story_rows(db, query, params) -> Markup:
        # Rendered on the reader thread too: 50 stories' snippets are ~10 ms of Python that
        # would otherwise hold the event loop the polls and the other requests run on.
        kept = {k: v for k, v in params.items() if k != "after" and v}
        page = story_page(db, query.filters, after=query.after, limit=query.limit)
        return Markup(templates.get_template("_story_rows.html.j2").render(
            stories=[(s, story_reasons(s, every=False), title_segments(s), link(s.lead)) for s in page.stories],
            next_query=urlencode({**kept, "after": page.next_cursor.encode()}) if page.next_cursor else None,
            first_page=query.after is None,
        ))

    def _story_list_page(db, request: Request, query, params) -> str:
        """The stories page for any session (its CSRF token a stand-in), on the reader thread."""
        return templates.get_template("stories.html.j2").render(
            request=request, csrf=CSRF_STAND_IN, password_set=bool(console.access.password),
            logged_in=logged_in(request), path=request.url.path, results=_story_rows(db, query, params), error=None,
            params=params, rules=sorted(console.rules.current.by_id), feeds=feed_names(db), severities=SEVERITIES,
        )

    async def story(request: Request) -> Response:
        story_id = request.path_params["story_id"]
        detail = await console.read(story_detail, story_id)
        if detail is None:
            raise HTTPException(404, f"no story with id {story_id}")
        summary = detail.summary
        context = {
            "detail": detail, "story": summary, "reasons": story_reasons(summary), "title": title_segments(summary),
            "lead_link": link(summary.lead), "members": [(m, link(m.article)) for m in detail.members],
        }
        return render(request, "story.html.j2", context)

    # --- feeds -----------------------------------------------------------------

    async def feed_list(request: Request, notice: str | None = None, status_code: int = 200) -> Response:
        rows = failing_first(await console.read(feeds.feeds_with_health, console.now()))
        context = {"feeds": rows, "failing": sum(1 for f in rows if f.failing), "notice": notice, "now": console.now()}
        return render(request, "feeds.html.j2", context, status_code)

    async def feed_add(request: Request) -> Response:
        form = await checked_form(request)
        url = str(form.get("url") or "").strip()
        name = str(form.get("name") or "").strip()
        if not url.startswith(("http://", "https://")):
            return await feed_list(request, f"not added: expected an http(s) URL, got {url!r}", 400)
        from monitor.fetch.check import resolve_feed_url  # fetches: only when someone adds a feed

        resolution = await asyncio.to_thread(resolve_feed_url, url, console.config.polling)
        spec = FeedSpec(url=resolution.url, name=name or resolution.name)
        feed, created = await console.write(feeds.upsert_feed, spec, console.now())
        notice = f"{'added' if created else 'already present, updated'}: {feed.name} <{feed.url}>"
        if resolution.note:
            notice += f" ({resolution.note})"
        if console.monitor is None:
            notice += "; the running monitor polls it after its next start"
        return await feed_list(request, notice)

    async def feed_remove(request: Request) -> Response:
        form = await checked_form(request)
        url = str(form.get("url") or "")
        removed = await console.write(feeds.deactivate_feed, url)
        notice = f"removed {url} (its articles stay)" if removed else f"no active feed with URL {url}"
        if removed and any(spec.url == url for spec in console.config.feeds):
            notice += f"; it is also in {console.config.source or 'the bundled feeds list'}, so it comes back on the next start"
        return await feed_list(request, notice, 200 if removed else 404)

    async def feed_check(request: Request) -> Response:
        form = await checked_form(request)
        url = str(form.get("url") or "").strip()
        if not url.startswith(("http://", "https://")):
            return render(request, "_feed_check.html.j2", {"report": None, "url": url,
                                                            "error": "expected an http(s) URL"}, 400)
        from monitor.fetch.check import check_feed_async

        report = await check_feed_async(url, console.config.polling)
        return render(request, "_feed_check.html.j2", {"report": report, "url": url, "error": None})

    # --- deliveries ------------------------------------------------------------

    async def delivery_list(request: Request, notice: str | None = None, status_code: int = 200) -> Response:
        status = request.query_params.get("status") or None
        if status and status not in DELIVERY_STATUSES:
            raise HTTPException(400, f"status: expected one of {', '.join(DELIVERY_STATUSES)}")
        rows = await console.read(deliveries.list_deliveries, status, 200)
        mutes = await console.read(deliveries.active_mutes, console.now())
        context = {
            "deliveries": rows, "status": status, "statuses": DELIVERY_STATUSES, "mutes": sorted(mutes.items()),
            "notice": notice, "rules": sorted(console.rules.current.by_id), "mute_choices": MUTE_CHOICES,
            "dead": sum(1 for a in rows if a.delivery.status == "dead"),
        }
        return render(request, "deliveries.html.j2", context, status_code)

    async def delivery_retry(request: Request) -> Response:
        await checked_form(request)
        delivery_id = request.path_params["delivery_id"]
        count = await console.write(deliveries.retry, console.now(), delivery_id)
        if not count:
            return await delivery_list(request, f"delivery {delivery_id} is not failed or dead: nothing to retry", 409)
        return await delivery_list(request, f"delivery {delivery_id} is due now")

    async def delivery_retry_dead(request: Request) -> Response:
        await checked_form(request)
        count = await console.write(deliveries.retry, console.now(), None, True)
        return await delivery_list(request, f"{count} dead deliveries due now" if count else "no dead delivery to retry")

    async def mute(request: Request) -> Response:
        form = await checked_form(request)
        rule = str(form.get("rule") or "").strip()
        duration = str(form.get("for") or "1h")
        try:
            seconds = parse_duration(duration)
        except ValueError as error:
            return await delivery_list(request, f"not muted: for: {error}", 400)
        if not rule:
            return await delivery_list(request, "not muted: choose a rule", 400)
        now = console.now()
        await console.write(deliveries.set_mute, rule, now + timedelta(seconds=seconds), now)
        return await delivery_list(request, f"rule {rule} muted for {format_duration(seconds)}")

    async def unmute(request: Request) -> Response:
        await checked_form(request)
        rule = request.path_params["rule"]
        removed = await console.write(deliveries.remove_mute, rule)
        return await delivery_list(request, f"rule {rule} unmuted" if removed else f"rule {rule} was not muted")

    # --- rules -----------------------------------------------------------------

    async def rule_list(request: Request) -> Response:
        console.rules.reload_if_changed()
        loaded = console.rules.current
        def failing_examples(rule):
            return [str(p) for p in check_examples(replace(loaded.ruleset, rules=(rule,)), loaded.matcher)]

        rows = [
            (rule, [r.channel + (f" ({r.digest} digest)" if r.digest else "") for r in routes_for(rule, console.config.alerts)],
             failing_examples(rule))
            for rule in loaded.ruleset.rules
        ]
        context = {"rules": rows, "problems": [str(p) for p in loaded.ruleset.problems], "files": loaded.files,
                   "max_days": playground.MAX_BACKTEST_DAYS}
        return render(request, "rules.html.j2", context)

    async def rule_playground(request: Request) -> Response:
        form = await checked_form(request)
        result = playground.try_query(console.rules.current, str(form.get("query") or ""), str(form.get("title") or ""),
                                      str(form.get("text") or ""))
        return render(request, "_playground.html.j2", {"result": result})

    async def rule_backtest(request: Request) -> Response:
        form = await checked_form(request)
        days_text = str(form.get("days") or "7")
        if not days_text.isdigit():
            return render(request, "_backtest.html.j2",
                          {"result": playground.BacktestResult(error=f"days: expected a whole number, got {days_text!r}")}, 400)
        result = await console.read(
            playground.backtest_query, console.rules.current, str(form.get("query") or ""),
            str(form.get("replaces") or "") or None, int(days_text), console.now(),
        )
        return render(request, "_backtest.html.j2", {"result": result}, 400 if result.error else 200)

    # --- login -----------------------------------------------------------------

    async def login(request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return render(request, "login.html.j2", {"next": target, "error": None})
        form = await checked_form(request)
        target = safe_next(str(form.get("next") or "/"))
        if not console.access.password_ok(str(form.get("password") or "")):
            return render(request, "login.html.j2", {"next": target, "error": "wrong password"}, 401)
        request.session["user"] = True
        return RedirectResponse(target, 303)

    async def logout(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return RedirectResponse("/login" if console.access.password else "/", 303)

    return [
        Route("/", story_list, name="stories"),
        Route("/stories/{story_id:int}", story, name="story"),
        Route("/feeds", feed_list, name="feeds"),
        Route("/feeds/add", feed_add, methods=["POST"]),
        Route("/feeds/remove", feed_remove, methods=["POST"]),
        Route("/feeds/check", feed_check, methods=["POST"]),
        Route("/deliveries", delivery_list, name="deliveries"),
        Route("/deliveries/{delivery_id:int}/retry", delivery_retry, methods=["POST"]),
        Route("/deliveries/retry-dead", delivery_retry_dead, methods=["POST"]),
        Route("/mutes", mute, methods=["POST"]),
        Route("/mutes/{rule}/delete", unmute, methods=["POST"]),
        Route("/rules", rule_list, name="rules"),
        Route("/rules/playground", rule_playground, methods=["POST"]),
        Route("/rules/backtest", rule_backtest, methods=["POST"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]

