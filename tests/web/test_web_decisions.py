"""The console's pure decisions: metric labels, filters, page cursors, the feeds page's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.web.filters import FilterError, moment, story_query
from monitor.web.metrics import fetch_error_kind, poll_outcome
from monitor.web.security import safe_next
from monitor.web.views import failing_first
from storage.console import StoryCursor
from storage.types import Feed

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (404, "HTTP 404 Not Found", "http_4xx"),
        (503, "HTTP 503 Service Unavailable", "http_5xx"),
        (None, "timed out: no complete response within 30s", "timeout"),
        (None, "DNS lookup failed: Name or service not known", "dns"),
        (None, "connection refused by 127.0.0.1:9", "refused"),
        (None, "TLS certificate verify failed", "tls"),
        (200, "body larger than 15 MiB (the cap)", "too_large"),
        (200, "not a feed: XML syntax error at line 3", "parse"),
        (None, "connection reset by peer", "network"),
        (None, "something new", "other"),
    ],
)
def test_fetch_error_kinds_are_a_fixed_list(status, error, kind):
    assert fetch_error_kind(status, error) == kind


@pytest.mark.parametrize(
    ("success", "status", "skipped", "outcome"),
    [(True, 200, False, "ok"), (True, 304, False, "not_modified"), (False, 500, False, "error"), (False, None, True, "disabled")],
)
def test_poll_outcomes(success, status, skipped, outcome):
    assert poll_outcome(success, status, skipped) == outcome


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", NOW - timedelta(days=7)), ("90m", NOW - timedelta(minutes=90)),
     ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)), ("2026-11-20T08:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC))],
)
def test_time_filters(text, expected):
    assert moment(text, NOW, "since") == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [({"since": "lately"}, "since: expected a duration"), ({"feed": "dawn"}, "feed: expected a feed id"),
     ({"limit": "5000"}, "limit: expected 1 to 200"), ({"after": "garbage"}, "after: not a page cursor"),
     ({"severity": "urgent"}, "severity: expected one of")],
)
def test_bad_parameters_name_themselves(params, message):
    with pytest.raises(FilterError, match=message):
        story_query(params, NOW)


def test_cursor_round_trip():
    cursor = StoryCursor("2026-11-27T12:00:00.000000Z", 42)
    assert StoryCursor.decode(cursor.encode()) == cursor


def test_failing_feeds_come_first():
    feeds = [Feed(id=1, url="a", name="Alpha"), Feed(id=2, url="b", name="Beta", consecutive_failures=1),
             Feed(id=3, url="c", name="Gamma", consecutive_failures=5), Feed(id=4, url="d", name="Delta", disabled_reason="410 Gone")]
    assert [f.name for f in failing_first(feeds)] == ["Delta", "Gamma", "Beta", "Alpha"]


@pytest.mark.parametrize(("target", "expected"), [("/feeds", "/feeds"), ("//evil.example", "/"), ("https://evil.example", "/"),
                                                  ("/\\evil.example", "/"), (None, "/")])
def test_login_redirects_stay_on_the_console(target, expected):
    assert safe_next(target) == expected
