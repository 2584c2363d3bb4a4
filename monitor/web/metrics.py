"""/metrics in the Prometheus text format.

Two sources, so that no file of the pipeline grows metric calls:
- the database, read at scrape time by a custom collector (articles stored, hits by rule,
  notifications by channel and status, outbox pending and dead, feeds failing, the age of
  the last successful poll): right in `serve` beside a running `run` too;
- the running monitor, when the console runs inside `run`: a poll observer counts polls by
  outcome, fetch errors by kind and poll durations, and the write thread's queue depth is
  read at scrape time.

Labels are bounded: outcomes and error kinds are fixed lists, rules and channels come from
the operator's files; no label carries a URL or a feed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.console import ArchiveCounts

PREFIX = "minerals_monitor"
POLL_OUTCOMES = ("ok", "not_modified", "error", "disabled")
FETCH_ERROR_KINDS = ("timeout", "dns", "refused", "tls", "http_4xx", "http_5xx", "too_large", "parse", "network", "other")
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAITING = ("pending", "failed")

_ERROR_PATTERNS = (
    ("timeout", re.compile(r"timed? ?out|timeout", re.I)),
    ("dns", re.compile(r"\bdns\b|name resolution|resolve|getaddrinfo|nodename", re.I)),
    ("refused", re.compile(r"refused", re.I)),
    ("tls", re.compile(r"\btls\b|\bssl\b|certificate", re.I)),
    ("too_large", re.compile(r"too (big|large)|larger than|exceeds", re.I)),
    ("parse", re.compile(r"pars|not a feed|xml|malformed|web page", re.I)),
    ("network", re.compile(r"reset|connect|network|unreachable|proxy", re.I)),
)


def poll_outcome(success: bool, http_status: int | None, skipped: bool) -> str:
    """One of POLL_OUTCOMES for a poll summary (pure)."""
    if skipped:
        return "disabled"
    if success:
        return "not_modified" if http_status == 304 else "ok"
    return "error"


def fetch_error_kind(http_status: int | None, error: str | None) -> str:
    """One of FETCH_ERROR_KINDS for a failed poll (pure): the status class, else the error's words."""
    if http_status is not None and 400 <= http_status < 500:
        return "http_4xx"
    if http_status is not None and http_status >= 500:
        return "http_5xx"
    for kind, pattern in _ERROR_PATTERNS:
        if error and pattern.search(error):
            return kind
    return "other"


class PollMetrics:
    """Counters fed by the running monitor's poll observer."""

    def __init__(self, registry: CollectorRegistry):
        self.polls = Counter(f"{PREFIX}_polls", "Feed polls by outcome.", ["outcome"], registry=registry)
        self.fetch_errors = Counter(f"{PREFIX}_fetch_errors", "Failed polls by kind of error.", ["kind"], registry=registry)
        self.duration = Histogram(f"{PREFIX}_poll_duration_seconds", "Time from a poll's start to its stored outcome.",
                                  buckets=POLL_BUCKETS, registry=registry)
        for outcome in POLL_OUTCOMES:  # every series exists from the start (rate() needs a zero)
            self.polls.labels(outcome)
        for kind in FETCH_ERROR_KINDS:
            self.fetch_errors.labels(kind)

    def observe(self, success: bool, http_status: int | None, error: str | None, skipped: bool, seconds: float) -> None:
        outcome = poll_outcome(success, http_status, skipped)
        self.polls.labels(outcome).inc()
        if outcome == "error":
            self.fetch_errors.labels(fetch_error_kind(http_status, error)).inc()
        if not skipped:
            self.duration.observe(seconds)


class ArchiveCollector(Collector):
    """The database's counts at scrape time: right whichever process polls."""

    def __init__(self, queue_depth: Callable[[], int | None], now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.queue_depth = queue_depth
        self.now = now
        # Set by the /metrics handler just before rendering: it reads them off the event loop.
        self.counts: ArchiveCounts | None = None

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        if counts is None:  # registry's describe pass at registration
            return
        yield _gauge("articles_stored", "Articles in the archive.", counts.articles)
        hits = CounterMetricFamily(f"{PREFIX}_hits", "Hits stored, by rule.", labels=["rule"])
        for rule, count in sorted(counts.hits_by_rule.items()):
            hits.add_metric([rule], count)
        yield hits
        notifications = GaugeMetricFamily(f"{PREFIX}_notifications", "Outbox rows by channel and status.",
                                          labels=["channel", "status"])
        for (channel, status), count in sorted(counts.deliveries_by_channel_status.items()):
            notifications.add_metric([channel, status], count)
        yield notifications
        by_status: dict[str, int] = {}
        for (_, status), count in counts.deliveries_by_channel_status.items():
            by_status[status] = by_status.get(status, 0) + count
        yield _gauge("outbox_pending", "Notifications waiting to be sent (pending or failed, to retry).",
                     sum(by_status.get(s, 0) for s in WAITING))
        yield _gauge("outbox_dead", "Notifications given up on (see the deliveries page).", by_status.get("dead", 0))
        yield _gauge("feeds_active", "Feeds being polled.", counts.feeds_active)
        yield _gauge("feeds_failing", "Feeds whose last poll failed or that are disabled.", counts.feeds_failing)
        if counts.last_success_at is not None:
            age = max(0.0, (self.now() - counts.last_success_at).total_seconds())
            yield _gauge("last_successful_poll_age_seconds", "Seconds since any feed was last polled successfully.", age)
        depth = self.queue_depth()
        if depth is not None:
            yield _gauge("write_queue_depth", "Jobs waiting for the write thread.", depth)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

