"""Pure poll decisions: parse or not, what to record, when to poll next."""

from __future__ import annotations

import random

import pytest
from datetime import timedelta

from monitor.config import PollingConfig
from monitor.decide import MAX_BACKOFF_SECONDS, backoff_seconds, due_at, poll_record
from monitor.fetch.verdict import body_fingerprint, judge_fetch
from monitor.fetch.fetcher import FetchResult
from monitor.parse.feed import ParsedFeed
from storage.types import Feed
from tests.conftest import NOW

POLLING = PollingConfig(interval=600, min_interval=60, jitter=0.0)
FEED = Feed(id=1, url="http://127.0.0.1/f.xml", name="f")


def test_unchanged_body_is_not_parsed_even_when_etag_changed():
    fetch = FetchResult(url=FEED.url, status=200, body=b"<rss/>", etag='"new"')
    feed = Feed(id=1, url=FEED.url, name="f", body_hash=body_fingerprint(b"<rss/>"), etag='"old"')
    verdict = judge_fetch(feed, fetch)
    assert not verdict.parse and verdict.reason == "body unchanged"
    record = poll_record(feed, fetch, verdict, None, POLLING, NOW, random.Random(1))
    assert record.success and record.etag == '"new"'


def test_success_schedules_the_interval_and_resets_failures():
    fetch = FetchResult(url=FEED.url, status=200, body=b"x")
    record = poll_record(FEED, fetch, judge_fetch(FEED, fetch), ParsedFeed(), POLLING, NOW, random.Random(1))
    assert record.success and record.next_poll_at == NOW + timedelta(seconds=600)


def test_failures_back_off_exponentially_up_to_a_day_and_never_disable():
    assert [backoff_seconds(600, n) for n in (1, 2, 3, 4)] == [600, 1200, 2400, 4800]
    assert backoff_seconds(600, 30) == 86400
    feed = Feed(id=1, url=FEED.url, name="f", consecutive_failures=3)
    fetch = FetchResult(url=FEED.url, status=500, error="HTTP 500 Internal Server Error")
    record = poll_record(feed, fetch, judge_fetch(feed, fetch), None, POLLING, NOW, random.Random(1))
    assert not record.success and record.disabled_reason is None
    assert record.next_poll_at == NOW + timedelta(seconds=600 * 8)


def test_retry_after_is_honoured_on_429():
    fetch = FetchResult(url=FEED.url, status=429, error="HTTP 429", retry_after=7200)
    record = poll_record(FEED, fetch, judge_fetch(FEED, fetch), None, POLLING, NOW, random.Random(1))
    assert record.next_poll_at == NOW + timedelta(seconds=7200)


def test_410_disables_and_says_why():
    fetch = FetchResult(url=FEED.url, status=410, error="HTTP 410 Gone")
    record = poll_record(FEED, fetch, judge_fetch(FEED, fetch), None, POLLING, NOW, random.Random(1))
    assert "410 Gone" in record.disabled_reason


def test_parse_error_is_recorded_as_the_feed_error():
    fetch = FetchResult(url=FEED.url, status=200, body=b"garbage")
    parsed = ParsedFeed(error="not a feed")
    record = poll_record(FEED, fetch, judge_fetch(FEED, fetch), parsed, POLLING, NOW, random.Random(1))
    assert not record.success and record.error == "not a feed" and record.body_hash is None


def test_feed_hints_and_min_interval_raise_the_interval():
    fast = Feed(id=1, url=FEED.url, name="f", interval_seconds=10)
    fetch = FetchResult(url=FEED.url, status=200, body=b"x", headers={"cache-control": "public, max-age=1800"})
    record = poll_record(fast, fetch, judge_fetch(fast, fetch), ParsedFeed(min_interval_hint=900), POLLING, NOW, random.Random(1))
    assert record.next_poll_at == NOW + timedelta(seconds=1800)


def test_adaptive_interval_comes_from_whole_parses_not_from_a_burst_of_new_items():
    from storage.types import Article

    fetch = FetchResult(url=FEED.url, status=200, body=b"x")
    hourly = tuple(Article(feed_id=1, entry_key=f"k{i}", url="", title="t", summary="s", published_at=NOW - timedelta(hours=i)) for i in range(5))
    burst = tuple(Article(feed_id=1, entry_key=f"b{i}", url="", title="t", summary="s", published_at=NOW - timedelta(minutes=i)) for i in range(3))
    adaptive = lambda parsed: poll_record(FEED, fetch, judge_fetch(FEED, fetch), parsed, POLLING, NOW,
                                          random.Random(1)).adaptive_interval_seconds
    assert adaptive(ParsedFeed(articles=hourly)) == 1800  # half the hourly gap
    assert adaptive(ParsedFeed(articles=burst, known_items=17)) is None  # delta parse: keep the stored one


HOUR = timedelta(hours=1)


@pytest.mark.parametrize("polled, planned, due", [
    # (last_polled_at, next_poll_at, when it is due), relative to NOW
    (-timedelta(seconds=30), timedelta(seconds=570), timedelta(seconds=570)),  # an ordinary wait
    (-HOUR, 3 * HOUR, 3 * HOUR),  # a backoff (or Retry-After) of 4 h is kept
    # Polled by a clock an hour (a year) ahead: the planned 10 minutes count from now.
    (HOUR, HOUR + timedelta(seconds=600), timedelta(seconds=600)),
    (timedelta(days=365), timedelta(days=365, seconds=600), timedelta(seconds=600)),
    # Nothing is waited for longer than the longest delay a poll ever plans.
    (-timedelta(seconds=30), timedelta(days=365), timedelta(seconds=MAX_BACKOFF_SECONDS)),
    (None, timedelta(days=365), timedelta(seconds=MAX_BACKOFF_SECONDS)),
])
def test_a_next_poll_planned_by_a_clock_that_was_ahead_is_not_waited_for(polled, planned, due):
    feed = Feed(id=1, url=FEED.url, name="f", next_poll_at=NOW + planned,
                last_polled_at=None if polled is None else NOW + polled)
    assert due_at(feed, POLLING, NOW) == NOW + due
    assert due_at(FEED, POLLING, NOW) is None  # never polled: due now
