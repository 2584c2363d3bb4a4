"""Throttle durations and digest schedules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import digest_problem, duration_problem, parse_duration


@pytest.mark.parametrize(
    "text, expected",
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
     ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), (" 5m ", timedelta(minutes=5))],
)  # fmt: skip
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert duration_problem(text) is None


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1.5h", "-1h", "1 h"])
def test_bad_durations(text: str) -> None:
    assert duration_problem(text)
    with pytest.raises(ValueError):
        parse_duration(text)


def test_zero_duration() -> None:
    assert duration_problem("0s") == "invalid duration '0s': it must be longer than zero"


@pytest.mark.parametrize(
    "text", ["hourly", "daily", "0 7 * * *", "*/15 * * * *", "0 7 * * mon-fri", "0 8 1,15 jan-jun 0", "30 6-18/2 * * 7"]
)
def test_good_digests(text: str) -> None:
    assert digest_problem(text) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("weekly", "use hourly, daily or a cron expression with 5 fields"),
        ("0 7 * *", "with 5 fields"),
        ("60 * * * *", "minute field '60': 60 is outside 0-59"),
        ("0 24 * * *", "hour field '24': 24 is outside 0-23"),
        ("0 0 0 * *", "day of month field '0': 0 is outside 1-31"),
        ("0 0 * foo *", "month field 'foo': 'foo' is not a number or a name"),
        ("0 0 * * 8", "day of week field '8': 8 is outside 0-7"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("0 9-5 * * *", "range '9-5' runs backwards"),
        ("0 1-2-3 * * *", "'1-2-3' is not a value or a range"),
    ],
)
def test_bad_digests(text: str, message: str) -> None:
    problem = digest_problem(text)
    assert problem is not None and message in problem
