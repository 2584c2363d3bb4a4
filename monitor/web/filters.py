"""Query parameters to a `StoryFilter`, shared by the stories page, /api/stories and the
Atom feeds. Pure: a mapping and the clock in, a filter or a one-line error out.

    rule=ussm  severity=high (high and above)  feed=12  q=antimony OR tungsten (FTS5)
    since=7d | 2026-11-20 | 2026-11-20T08:00Z   until=... (same forms)   after=<cursor>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.durations import parse_duration
from storage.console import StoryCursor, StoryFilter
from storage.types import SEVERITIES

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class FilterError(ValueError):
    """A query parameter that cannot be read; the message names it."""


@dataclass(frozen=True)
class StoryQuery:
    filters: StoryFilter
    after: StoryCursor | None = None
    limit: int = DEFAULT_LIMIT


def story_query(params: Mapping[str, str], now: datetime) -> StoryQuery:
    def text(name: str) -> str | None:
        value = (params.get(name) or "").strip()
        return value or None

    severity = text("severity")
    if severity is not None and severity not in SEVERITIES:
        raise FilterError(f"severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    feed = text("feed")
    if feed is not None and not feed.isdigit():
        raise FilterError(f"feed: expected a feed id (a number), got {feed!r}")
    after = None
    if text("after"):
        try:
            after = StoryCursor.decode(text("after") or "")
        except ValueError as error:
            raise FilterError(f"after: {error}") from error
    limit = DEFAULT_LIMIT
    if text("limit"):
        raw = text("limit") or ""
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise FilterError(f"limit: expected 1 to {MAX_LIMIT}, got {raw!r}")
        limit = int(raw)
    filters = StoryFilter(
        rule=text("rule"),
        min_severity=severity,
        feed_id=int(feed) if feed else None,
        since=moment(text("since"), now, "since"),
        until=moment(text("until"), now, "until"),
        text=text("q"),
    )
    return StoryQuery(filters=filters, after=after, limit=limit)


def moment(value: str | None, now: datetime, name: str) -> datetime | None:
    """"7d" (that long ago), "2026-11-20" (midnight UTC) or an ISO time."""
    if value is None:
        return None
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f'{name}: expected a duration such as "7d" or a date such as "2026-11-20", got {value!r}') from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
