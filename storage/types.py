"""Domain values shared across packages: one frozen dataclass per concept.

This module is a leaf: it imports nothing of ours, so `rules/`-free packages
(`alerts/`, `monitor/`) can all depend on it. All datetimes are UTC-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SEVERITIES = ("info", "low", "medium", "high", "critical")

# pending/failed: waiting to be sent (a pending notification may still be collecting its story's
# hits, see `Delivery.closed_at`); digest: waiting for its digest; sent; dead: given up;
# muted: the rule was muted; skipped: old news when first seen (stored, never sent).
DELIVERY_STATUSES = ("pending", "sent", "failed", "dead", "digest", "muted", "skipped")

# How a notification's severity compares: the story's severity is its highest hit's.
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Feed:
    """A feed as stored: what to poll and how the last polls went."""

    id: int
    url: str
    name: str
    interval_seconds: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    consecutive_failures: int = 0
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None
    body_hash: str | None = None
    full_text: bool = False
    articles_stored: int = 0
    new_per_day: float | None = 0.0  # None: less than a day of history
    adaptive_interval_seconds: int | None = None
    adaptive: bool = True
    item_digests: bytes | None = None  # of the last parsed body (monitor/parse/delta.py)
    moved_from: tuple[str, ...] = ()  # URLs that moved permanently to this one (feeds list only)

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0 or self.disabled_reason is not None


@dataclass(frozen=True)
class Article:
    """One entry of a feed, normalised to plain text.

    `url` is the canonical link (tracking parameters and fragment dropped);
    `link` is the link as the feed gave it. `entry_key` identifies the entry
    within its feed (guid, else canonical link, else a hash of title+text).
    """

    feed_id: int
    entry_key: str
    url: str
    title: str
    summary: str
    link: str = ""
    guid: str | None = None
    content: str = ""
    published_at: datetime | None = None
    id: int | None = None
    feed_name: str = ""
    first_seen_at: datetime | None = None
    content_hash: str = ""
    story_id: int | None = None
    # MinHash signature of the text, computed by the parse workers so the poll's
    # transaction only looks it up (monitor/stories.py); not stored on the article row.
    story_signature: bytes | None = None
    # Its LSH band keys, computed beside the signature (deriving them again in the poll's
    # transaction cost the write thread ~15 us an article).
    story_band_keys: tuple[int, ...] = ()
    # The outlet an aggregator item (Google News, Bing News) comes from: its `<source>` or its
    # title's " - Outlet" suffix (removed from `title`); "" for an outlet's own feed.
    outlet: str = ""

    @property
    def source_name(self) -> str:
        """Who published it: the outlet an aggregator named, else the feed."""
        return self.outlet or self.feed_name

    @property
    def title_only(self) -> bool:
        """No text but the title (an aggregator item): grouped into stories by title."""
        return not (self.summary or self.content)


@dataclass(frozen=True)
class MatchedTerm:
    """One query term found in one field of an article, with its span."""

    term: str
    field: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """One rule matched one article (or story)."""

    rule_id: str
    article_id: int
    severity: str
    terms: tuple[MatchedTerm, ...] = ()
    rule_name: str = ""
    id: int | None = None
    created_at: datetime | None = None
    story_id: int | None = None


@dataclass(frozen=True)
class HitListing:
    """A hit with its article, for `hits list`, digests and the hits of a notification."""

    hit: Hit
    article: Article
    story_size: int = 1


@dataclass(frozen=True)
class Delivery:
    """One outbox row: one notification to be sent over one channel.

    With `[alerts] group_by = "story"` a notification carries every hit of one story routed
    to the channel (`hit_id` is the hit that opened it); with "rule", and for digest, muted
    and skipped rows, it carries one hit. `update_number` > 0: an update sent because a later
    hit raised the story's severity (from `raised_from`). `closed_at` None: hits of the story
    may still join (the group is collecting, `next_attempt_at` is when it leaves).
    """

    id: int
    hit_id: int
    channel: str
    status: str
    attempts: int
    idempotency_key: str
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    digest: str | None = None
    story_id: int | None = None
    update_number: int = 0
    severity: str = ""
    raised_from: str | None = None
    closed_at: datetime | None = None

    @property
    def is_update(self) -> bool:
        return self.update_number > 0


@dataclass(frozen=True)
class StoryMember:
    """Another outlet's copy of the story an alert is about."""

    article_id: int
    url: str
    title: str
    feed_name: str
    published_at: datetime | None = None


@dataclass(frozen=True)
class Alert:
    """Everything a channel needs to render one notification.

    `hit` is its primary hit (the highest severity: the webhook's `data.rule`), `article`
    the article it shows (the one that opened it); `matched` every hit it carries, each with
    its own article (the terms of a hit index that article's text), highest severity first.
    Built by hand with only `hit` and `article` (a sample alert), it carries that one hit.
    """

    delivery: Delivery
    hit: Hit
    article: Article
    also_reported_by: tuple[StoryMember, ...] = field(default_factory=tuple)
    matched: tuple[HitListing, ...] = field(default_factory=tuple)

    @property
    def rule_hits(self) -> tuple[HitListing, ...]:
        """Every hit with its article, highest severity first (at least the primary one)."""
        return self.matched or (HitListing(hit=self.hit, article=self.article),)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The distinct rules that fired, primary first."""
        return tuple(dict.fromkeys(listing.hit.rule_id for listing in self.rule_hits))


@dataclass(frozen=True)
class FeedSpec:
    """A feed as configured: what an operator wrote in the config or feeds add."""

    url: str
    name: str = ""
    interval_seconds: int | None = None
    full_text: bool = False
    adaptive: bool = True


@dataclass(frozen=True)
class PollRecord:
    """What one poll of one feed found out, to be written on the feed row.

    `etag`/`last_modified` None means "keep the stored value" (a 304 need not
    repeat them). `counts_as_failure` is False when the failure is ours (our
    network is down) rather than the feed's.
    """

    polled_at: datetime
    success: bool
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    next_poll_at: datetime | None = None
    new_url: str | None = None
    disabled_reason: str | None = None
    body_hash: str | None = None
    counts_as_failure: bool = True
    adaptive_interval_seconds: int | None = None  # None: keep the stored value
    parsed: bool = False  # a body was parsed: item_digests replaces the stored ones (None clears them)
    item_digests: bytes | None = None


@dataclass(frozen=True)
class IngestResult:
    """What storing one poll's entries did."""

    new: tuple[Article, ...] = ()
    updated: tuple[Article, ...] = ()
    unchanged: int = 0
    also_seen: int = 0  # entries already stored from another feed (same canonical URL)
