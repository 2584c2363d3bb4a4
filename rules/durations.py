"""The time values of a rule: `throttle` durations and `digest` schedules.

Pure parsing and validation; monitor/ and alerts/ decide what to do with them.

    parse_duration("90s") == timedelta(seconds=90)
    parse_duration("1h30m") == timedelta(minutes=90)
    digest_problem("daily") is None
    digest_problem("0 7 * * mon-fri") is None   # a 5-field cron expression
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_duration", "duration_problem", "digest_problem", "DIGEST_PERIODS"]

DIGEST_PERIODS = ("hourly", "daily")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?:\d+[smhd])+")
_PART = re.compile(r"(\d+)([smhd])")

# (name, lowest, highest, names for values)
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()
_CRON_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)


def duration_problem(text: str) -> str | None:
    """Why `text` is not a duration like "90s", "15m", "2h", "1d", "1h30m"; None if it is."""
    if not _DURATION.fullmatch(text.strip()):
        return f"invalid duration {text!r}: write a number and a unit s, m, h or d, e.g. 90s, 15m, 2h, 1d"
    if parse_duration(text) <= timedelta(0):
        return f"invalid duration {text!r}: it must be longer than zero"
    return None


def parse_duration(text: str) -> timedelta:
    """"90s" -> 90 seconds; raises ValueError for anything else."""
    text = text.strip()
    if not _DURATION.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))


def digest_problem(text: str) -> str | None:
    """Why `text` is not "hourly", "daily" or a 5-field cron expression; None if it is."""
    if text in DIGEST_PERIODS:
        return None
    parts = text.split()
    if len(parts) != 5:
        return (
            f"invalid digest {text!r}: use hourly, daily or a cron expression with 5 fields"
            " (minute hour day-of-month month day-of-week), e.g. '0 7 * * *'"
        )
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS):
        problem = _cron_field_problem(part.lower(), low, high, names)
        if problem:
            return f"invalid digest {text!r}: {name} field {part!r}: {problem}"
    return None


def _cron_field_problem(part: str, low: int, high: int, names: dict[str, int] | None) -> str | None:
    for item in part.split(","):
        body, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"step {step!r} must be a positive number"
        if body == "*":
            continue
        bounds = body.split("-")
        if len(bounds) > 2:
            return f"{body!r} is not a value or a range"
        values = []
        for bound in bounds:
            if bound.isdigit():
                value = int(bound)
            elif names and bound in names:
                value = names[bound]
            else:
                return f"{bound!r} is not a number" + (" or a name" if names else "")
            if not low <= value <= high:
                return f"{value} is outside {low}-{high}"
            values.append(value)
        if len(values) == 2 and values[0] > values[1]:
            return f"range {body!r} runs backwards"
    return None
