"""How datetimes are written to SQLite: one fixed-width UTC text format.

Fixed width keeps string comparison equal to time comparison, so indexes on
time columns serve range queries, and Datasette shows readable values.
"""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to storage; all datetimes must be UTC-aware")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
