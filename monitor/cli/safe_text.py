"""Feed text on a terminal: printed literally, never as markup or control sequences.

A title is whatever a publisher (or an attacker) wrote: `[/]` must not make Rich raise,
`[red]supply[/red]` must print as written, and an ESC sequence must not move the cursor,
retitle the window or hide the rest of the line. Control characters are shown as the
Unicode "control pictures" (ESC as ␛), C1 controls as `\\x9b`; nothing else changes.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from rich.text import Text

# C0 controls and DEL (\n and \t kept where a text may span lines), C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_AND_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ .. ␟ (ESC: ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"


def visible(text: str | None, *, keep_lines: bool = False) -> str:
    """`text` with every control character shown visibly (one line unless `keep_lines`)."""
    if not text:
        return ""
    pattern = _CONTROLS if keep_lines else _CONTROLS_AND_BREAKS
    return pattern.sub(_picture, text)


def literal(text: str | None, style: str = "", *, keep_lines: bool = False) -> Text:
    """A Rich `Text` that prints `text` exactly (no markup), control characters visible."""
    return Text(visible(text, keep_lines=keep_lines), style=style)


def titled_link(title: str | None, link: str | None) -> Text:
    """A table cell: the title, and the link dimmed under it, both printed literally."""
    cell = literal(title)
    cell.append("\n")
    cell.append_text(literal(link, "dim"))
    return cell


def json_safe(text: str) -> str:
    """JSON output with C1 controls escaped too (json.dumps escapes C0 but, without
    ensure_ascii, writes U+0080..U+009F raw, and some terminals obey them)."""
    return re.sub(r"[\x80-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


class VisibleStream:
    """sys.stdout or sys.stderr, with control characters made visible before they reach the
    terminal (the console channel writes alert lines with feed titles in them). Looked up at
    each write, so a progress bar that redirects the stream still sees these lines."""

    def __init__(self, name: str = "stdout"):
        self._name = name

    @property
    def _stream(self) -> TextIO:
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        return self._stream.write(visible(text, keep_lines=True))

    def flush(self) -> None:
        self._stream.flush()
