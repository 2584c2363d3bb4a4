"""Pure decisions about a poll: what to record on the feed and when to poll next.

No I/O here: values in, values out, so every branch is tested with a frozen clock.
"""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timedelta

from monitor.config import PollingConfig
from monitor.fetch.fetcher import FetchResult
from monitor.fetch.verdict import FetchVerdict
from monitor.parse.feed import ParsedFeed
from storage.types import Feed, PollRecord

# A feed is never disabled by errors alone; backoff tops out here instead.
MAX_BACKOFF_SECONDS = 24 * 3600


def base_interval(feed: Feed, polling: PollingConfig, hint_seconds: float | None = None) -> float:
    """The feed's interval: its own, else the adaptive one, else the default;
    never below min_interval or the feed's own hints (ttl, sy:updatePeriod)."""
    if feed.interval_seconds:
        interval = float(feed.interval_seconds)
    elif polling.adaptive and feed.adaptive and feed.adaptive_interval_seconds:
        interval = float(feed.adaptive_interval_seconds)
    else:
        interval = float(polling.interval)
    interval = max(interval, polling.min_interval)
    if hint_seconds:
        interval = max(interval, min(hint_seconds, polling.max_interval))
    return interval


def observed_interval(published: list[datetime], now: datetime, polling: PollingConfig) -> int | None:
    """Half the mean gap between the feed's recent entries, within [min_interval, adaptive_max].

    Half, so a new entry waits on average a quarter of its feed's publishing gap.
    None when the feed shows too few dated entries to tell.
    """
    recent = sorted(t for t in published if t <= now and (now - t).days <= 30)
    if len(recent) < 3:
        return None
    span = (recent[-1] - recent[0]).total_seconds()
    gap = max(span / (len(recent) - 1), 1.0)
    return int(min(max(gap / 2, polling.min_interval), polling.adaptive_max))


def jittered(seconds: float, fraction: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-fraction, fraction)) if fraction else seconds


def backoff_seconds(interval: float, failures: int) -> float:
    """Exponential backoff from the interval, doubling per consecutive failure, capped at 24 h."""
    return min(interval * (2 ** max(0, failures - 1)), MAX_BACKOFF_SECONDS) if failures else interval


def due_at(feed: Feed, polling: PollingConfig, now: datetime) -> datetime | None:
    """When the feed's stored next poll is due by this clock (None: never polled, due now).

    `next_poll_at` was written as the poll's time plus the delay chosen for it (interval,
    backoff, Retry-After, Cache-Control). A poll recorded after `now` means the wall clock
    has stepped back since: waiting for the stored time would stop polling for as long as
    the step (an hour: no request in 40 s, and none after a restart either), so the same
    delay counts from now instead. And no stored time is further ahead than the longest
    delay poll_record ever chooses (a year ahead is a clock that was wrong, not a plan)."""
    if feed.next_poll_at is None:
        return None
    due = feed.next_poll_at
    if feed.last_polled_at is not None and feed.last_polled_at > now:
        due = now + (feed.next_poll_at - feed.last_polled_at)
    return min(due, now + timedelta(seconds=MAX_BACKOFF_SECONDS * (1 + polling.jitter)))


def poll_record(
    feed: Feed,
    fetch: FetchResult,
    verdict: FetchVerdict,
    parsed: ParsedFeed | None,
    polling: PollingConfig,
    now: datetime,
    rng: random.Random,
    counts_as_failure: bool = True,
) -> PollRecord:
    """The row update for one poll, including when to poll next."""
    interval = base_interval(feed, polling, parsed.min_interval_hint if parsed else None)
    interval = max(interval, _cache_hint(fetch, now))
    error = fetch.error
    warning = parsed.warning if parsed else None
    if parsed is not None and parsed.error:
        error = parsed.error
    success = error is None and (fetch.ok or fetch.not_modified)
    if fetch.not_modified and feed.body_hash is None and feed.error:
        # The unchanged body is the one that failed to parse: still failing, same error,
        # but the same failure is not counted again.
        success, error, counts_as_failure = False, feed.error, False
    disabled_reason = None
    if fetch.status == 410:
        disabled_reason = "410 Gone: the publisher removed this feed; polling stopped (feeds add URL re-enables it)"
    failures = 0 if success else max(1, feed.consecutive_failures + (1 if counts_as_failure else 0))
    if success:
        delay = jittered(interval, polling.jitter, rng)
    else:
        delay = jittered(backoff_seconds(interval, max(failures, 1)), polling.jitter, rng)
    if fetch.retry_after is not None and fetch.status in (429, 503):
        delay = max(delay, min(fetch.retry_after, MAX_BACKOFF_SECONDS))
    adaptive = None
    # Only a whole parse shows the feed's publishing rhythm: a delta parse (monitor/parse/delta.py)
    # holds just the new items, and a burst of them would look like a feed publishing every minute.
    if parsed is not None and parsed.articles and not parsed.known_items:
        adaptive = observed_interval([a.published_at for a in parsed.articles if a.published_at], now, polling)
    return PollRecord(
        polled_at=now,
        adaptive_interval_seconds=adaptive,
        success=success,
        http_status=fetch.status,
        error=error,
        warning=warning,
        # Validators are saved as received on every 2xx and 304 (a broken body is not
        # re-downloaded; the 304 branch above keeps its error).
        etag=fetch.etag if (fetch.ok or fetch.not_modified) else None,
        last_modified=fetch.last_modified if (fetch.ok or fetch.not_modified) else None,
        next_poll_at=now + timedelta(seconds=delay),
        new_url=fetch.permanent_url,
        disabled_reason=disabled_reason,
        body_hash=verdict.body_hash if success else None,
        counts_as_failure=counts_as_failure,
        parsed=parsed is not None,
        item_digests=parsed.digests if parsed is not None and success else None,
    )


def _cache_hint(fetch: FetchResult, now: datetime) -> float:
    """Cache-Control max-age, else Expires, as a lower bound on the interval (0 when absent)."""
    control = fetch.headers.get("cache-control", "")
    for part in control.split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return min(float(value), MAX_BACKOFF_SECONDS)
    expires = fetch.headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return 0.0
        if when is not None and when.tzinfo is not None:
            return min(max(0.0, (when - now).total_seconds()), MAX_BACKOFF_SECONDS)
    return 0.0


def is_old_news(published_at: datetime | None, now: datetime, skip_older_than: float) -> bool:
    """An entry published long before we first saw it is stored and matched, not alerted."""
    return published_at is not None and (now - published_at).total_seconds() > skip_older_than
