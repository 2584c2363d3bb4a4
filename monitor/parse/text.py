"""Feed HTML to plain text: tags removed, entities decoded, whitespace tidied."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "tr", "table", "blockquote", "section", "article", "header", "footer", "pre", "hr",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "title"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\s*\n\s*")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment (or of plain text with entities)."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    collector = _TextCollector()
    try:
        collector.feed(markup)
        collector.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        return _tidy(re.sub(r"<[^>]*>", " ", markup))
    return _tidy("".join(collector.parts))


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = _LINES.sub("\n", text)
    return text.strip()


def one_line(text: str) -> str:
    """Titles are one line: newlines and runs of spaces become one space."""
    return re.sub(r"\s+", " ", text).strip()
