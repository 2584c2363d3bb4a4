"""Durations as operators write them: "90s", "15m", "2h", "1d" (or combined, "1h30m")."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SECONDS = 10 * 365 * 86400  # ten years: anything longer is a typo, and overflows datetime maths
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration written with its unit; raises ValueError with a readable message
    (a bare number, 15 or "15", is refused: minutes or seconds?)."""
    if isinstance(text, bool):
        raise ValueError("expected a duration like \"90s\", \"15m\", \"2h\" or \"1d\"")
    if isinstance(text, int | float):
        # `interval = 15` meant 15 minutes to whoever wrote it and 15 seconds to us: no unit, no guess.
        shown = f"{text:g}" if isinstance(text, float) and math.isfinite(text) else str(text)
        raise ValueError(f"a bare number is not a duration: write \"{shown}m\" (or \"{shown}s\", \"{shown}h\")")
    if not isinstance(text, str):
        raise ValueError("expected a duration like \"90s\", \"15m\", \"2h\" or \"1d\"")
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError("empty duration")
    position = 0
    total = 0.0
    for part in _PART.finditer(compact):
        if part.start() != position:
            break
        total += float(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if position != len(compact) or position == 0:
        if re.fullmatch(r"\d+(?:\.\d+)?", compact):
            raise ValueError(f"{text!r} has no unit: write \"{compact}m\" (or \"{compact}s\", \"{compact}h\")")
        raise ValueError(f"{text!r} is not a duration; write e.g. \"90s\", \"15m\", \"2h\" or \"1d\"")
    return _bounded(total, text)


def _bounded(seconds: float, text: object) -> float:
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than ten years")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: 90 -> "1m30s", 7200 -> "2h"."""
    seconds = int(round(seconds))
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])
