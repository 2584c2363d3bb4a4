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
    moment = moment.astimezone(UTC)
    # The year by hand: strftime("%Y") does not zero-pad years before 1000 on glibc.
    return f"{moment.year:04d}" + moment.strftime(_FORMAT[2:])


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    # fromisoformat reads our format (Z included) in C; strptime was most of a feed row's read cost.
    return datetime.fromisoformat(text).astimezone(UTC)
