"""Turn an `Alert` into the values every channel shows: highlighted text, dates, links.

Pure functions over `storage.types` values; no I/O. Email templates, chat
payloads and the JSON webhook all use these helpers so that an alert reads the
same everywhere and the escaping rules live in one place per output format.

A `MatchedTerm`'s `start`/`end` index the ORIGINAL text of its field
(`title`, `summary` or `content`), so highlighting works on the text the
watcher reads, not on the normalised text the matcher saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Iterable, NamedTuple, Sequence
from urllib.parse import urlsplit

from storage.types import Alert, Article, Hit, MatchedTerm, StoryMember

ELLIPSIS = "…"
UNTITLED = "(untitled)"

# How much of a long summary an alert shows, and how much text a snippet keeps
# on each side of a matched term.
SUMMARY_LIMIT = 1500
SNIPPET_RADIUS = 70


class Segment(NamedTuple):
    """A run of text, `marked` when it is (part of) a matched term."""

    text: str
    marked: bool = False


Segments = tuple[Segment, ...]


@dataclass(frozen=True)
class MatchReason:
    """Why a rule fired, one entry per distinct term: where and in what words."""

    term: str
    count: int
    fields: tuple[str, ...]
    snippet: Segments  # context around the first occurrence (title, then summary, then content)
    field: str  # the field the snippet comes from


@dataclass(frozen=True)
class StoryLink:
    """Another outlet's copy of the story, ready to show."""

    title: str
    url: str | None  # None when the link is not http(s) and must not be clickable
    feed: str
    published: str


@dataclass(frozen=True)
class AlertView:
    """Everything a template or payload builder shows for one alert."""

    rule_name: str
    rule_id: str
    severity: str
    severity_label: str
    title: str
    title_segments: Segments
    summary_segments: Segments
    url: str | None
    feed: str
    published: str
    published_at: datetime | None
    reasons: tuple[MatchReason, ...]
    also_reported_by: tuple[StoryLink, ...]
    idempotency_key: str


# --- small text helpers -------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (CR, LF, tabs, U+2028...) into one space."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis if cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def rule_display_name(hit: Hit) -> str:
    """The name a watcher knows the rule by: its `name`, else its id."""
    return one_line(hit.rule_name) or hit.rule_id


def severity_label(severity: str) -> str:
    return (severity or "info").upper()


def to_utc(moment: datetime | None) -> datetime | None:
    """UTC-aware copy of `moment`; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_utc(moment: datetime | None) -> str:
    """A readable UTC time such as 'Mon 8 Sep 2025, 10:15 UTC' ('unknown' if None)."""
    utc = to_utc(moment)
    if utc is None:
        return "unknown"
    return f"{utc:%a} {utc.day} {utc:%b %Y, %H:%M} UTC"


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a 'Z' suffix, whole seconds (None stays None)."""
    utc = to_utc(moment)
    if utc is None:
        return None
    return utc.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL that may be made clickable, else None.

    Feeds are untrusted: a `javascript:` or `data:` link must never become a
    link in an email or a chat message.
    """
    if not url:
        return None
    url = url.strip()
    if any(ch in url for ch in "\r\n\t ") or any(ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def display_host(url: str) -> str:
    """scheme://host[:port] of `url`, for error messages.

    Chat webhook URLs carry their token in the path (Slack, Discord, Teams),
    so the path and query are never shown.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}"


# --- highlighting -------------------------------------------------------------


def field_text(article: Article, field: str) -> str:
    """The original text of one matchable field of `article` ('' if unknown)."""
    if field == "title":
        return article.title
    if field == "summary":
        return article.summary
    if field == "content":
        return article.content
    return ""


def _valid_spans(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans clipped to `text`, empty ones dropped, overlapping ones merged, sorted."""
    clipped = sorted(
        (max(0, start), min(len(text), end)) for start, end in spans if min(len(text), end) > max(0, start)
    )
    merged: list[tuple[int, int]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, spans: Iterable[tuple[int, int]]) -> Segments:
    """Split `text` into segments, marking the given (start, end) spans.

    Out-of-range spans are clipped and overlapping ones merged, so a stale or
    odd span can never raise or duplicate text.
    """
    segments: list[Segment] = []
    position = 0
    for start, end in _valid_spans(text, spans):
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(text[start:end], True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return tuple(segments)


def plain(segments: Sequence[Segment]) -> str:
    return "".join(segment.text for segment in segments)


def marked(segments: Sequence[Segment], left: str = "«", right: str = "»") -> str:
    """Segments as plain text with the marked runs wrapped in `left`/`right`."""
    return "".join(f"{left}{s.text}{right}" if s.marked else s.text for s in segments)


def truncate_segments(segments: Sequence[Segment], limit: int) -> Segments:
    """Keep at most `limit` characters of `segments`, ending with an ellipsis if cut."""
    if sum(len(s.text) for s in segments) <= limit:
        return tuple(segments)
    kept: list[Segment] = []
    budget = max(0, limit - 1)
    for segment in segments:
        if budget <= 0:
            break
        piece = segment.text[:budget]
        kept.append(Segment(piece, segment.marked))
        budget -= len(piece)
    if kept and not kept[-1].marked:
        kept[-1] = Segment(kept[-1].text.rstrip(), False)
    kept.append(Segment(ELLIPSIS))
    return tuple(kept)


def _squash(segments: Iterable[Segment]) -> Segments:
    """Whitespace runs collapsed to one space, across segment boundaries; empties dropped."""
    out: list[Segment] = []
    previous_space = True  # also strips leading whitespace
    for segment in segments:
        text = _WHITESPACE.sub(" ", segment.text)
        if previous_space and text.startswith(" "):
            text = text[1:]
        if not text:
            continue
        previous_space = text.endswith(" ")
        out.append(Segment(text, segment.marked))
    if out and not out[-1].marked:
        last = out[-1].text.rstrip()
        out[-1] = Segment(last, False)
        if not last:
            out.pop()
    return tuple(out)


def _first_space(text: str, low: int, high: int) -> int:
    """Index of the first whitespace character in text[low:high], or -1."""
    for index in range(low, high):
        if text[index].isspace():
            return index
    return -1


def _last_space(text: str, low: int, high: int) -> int:
    """Index of the last whitespace character in text[low:high], or -1."""
    for index in range(high - 1, low - 1, -1):
        if text[index].isspace():
            return index
    return -1


def snippet(
    text: str, start: int, end: int, spans: Iterable[tuple[int, int]], radius: int = SNIPPET_RADIUS
) -> Segments:
    """The words around text[start:end], with every span inside the window marked.

    The window is widened to whole words and shows an ellipsis where it cuts.
    """
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    left = max(0, start - radius)
    right = min(len(text), end + radius)
    if left > 0:  # start at a word: just after the first whitespace in the window
        cut = _first_space(text, left, start)
        left = cut + 1 if cut != -1 else left
    if right < len(text):  # end at a word: at the last whitespace after the term
        cut = _last_space(text, end, right)
        right = cut if cut > end else right
    window = [(s - left, e - left) for s, e in spans if s < right and e > left]
    segments = list(highlight(text[left:right], window))
    if left > 0:
        segments.insert(0, Segment(ELLIPSIS))
    if right < len(text):
        segments.append(Segment(ELLIPSIS))
    return _squash(segments)


_FIELD_ORDER = {"title": 0, "summary": 1, "content": 2}


def match_reasons(article: Article, terms: Sequence[MatchedTerm]) -> tuple[MatchReason, ...]:
    """One `MatchReason` per distinct term, in the order the terms first matched."""
    spans_by_field: dict[str, list[tuple[int, int]]] = {}
    for term in terms:
        spans_by_field.setdefault(term.field, []).append((term.start, term.end))

    by_term: dict[str, list[MatchedTerm]] = {}
    for term in terms:
        by_term.setdefault(term.term, []).append(term)

    reasons = []
    for name, found in by_term.items():
        first = min(found, key=lambda t: (_FIELD_ORDER.get(t.field, 9), t.start))
        text = field_text(article, first.field)
        fields = tuple(sorted({t.field for t in found}, key=lambda f: _FIELD_ORDER.get(f, 9)))
        if 0 <= first.start < first.end <= len(text):
            segments = snippet(text, first.start, first.end, spans_by_field.get(first.field, ()))
        else:  # the span does not fit the stored text: show the matched words alone
            segments = (Segment(one_line(first.text), True),)
        reasons.append(MatchReason(term=name, count=len(found), fields=fields, snippet=segments, field=first.field))
    return tuple(reasons)


def field_segments(article: Article, terms: Sequence[MatchedTerm], field: str) -> Segments:
    """The whole of one field, whitespace collapsed, with its matched spans marked."""
    text = field_text(article, field)
    return _squash(highlight(text, [(t.start, t.end) for t in terms if t.field == field]))


def story_links(members: Iterable[StoryMember]) -> tuple[StoryLink, ...]:
    return tuple(
        StoryLink(
            title=one_line(member.title) or UNTITLED,
            url=safe_url(member.url),
            feed=one_line(member.feed_name),
            published=format_utc(member.published_at),
        )
        for member in members
    )


def alert_view(alert: Alert, *, summary_limit: int = SUMMARY_LIMIT) -> AlertView:
    """Everything a channel shows for `alert`, computed once."""
    hit, article = alert.hit, alert.article
    title_segments = field_segments(article, hit.terms, "title") or (Segment(UNTITLED),)
    return AlertView(
        rule_name=rule_display_name(hit),
        rule_id=hit.rule_id,
        severity=hit.severity,
        severity_label=severity_label(hit.severity),
        title=one_line(article.title) or UNTITLED,
        title_segments=title_segments,
        summary_segments=truncate_segments(field_segments(article, hit.terms, "summary"), summary_limit),
        url=safe_url(article.url) or safe_url(article.link),
        feed=one_line(article.feed_name),
        published=format_utc(article.published_at),
        published_at=to_utc(article.published_at),
        reasons=match_reasons(article, hit.terms),
        also_reported_by=story_links(alert.also_reported_by),
        idempotency_key=alert.delivery.idempotency_key,
    )


def subject_line(alert: Alert, limit: int = 200) -> str:
    """`[HIGH] USSM: <article title>` on one line, at most `limit` characters."""
    view_title = one_line(alert.article.title) or UNTITLED
    prefix = f"[{severity_label(alert.hit.severity)}] {rule_display_name(alert.hit)}: "
    return truncate(one_line(prefix + view_title), limit)


# --- grouping for digests -----------------------------------------------------

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@dataclass(frozen=True)
class RuleGroup:
    """The alerts of one rule inside a digest."""

    rule_name: str
    rule_id: str
    severity: str
    severity_label: str
    alerts: tuple[AlertView, ...]


def group_by_rule(alerts: Iterable[Alert]) -> tuple[RuleGroup, ...]:
    """Alerts grouped by rule: most severe rules first, then by name; newest article first."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.hit.rule_id, []).append(alert)

    def newest_first(alert: Alert) -> float:
        published = to_utc(alert.article.published_at)
        return -published.timestamp() if published else float("inf")

    result = []
    for rule_id, members in groups.items():
        members.sort(key=newest_first)
        # The most severe hit of a rule decides its place (severities of one rule rarely differ).
        severity = min((m.hit.severity for m in members), key=lambda s: SEVERITY_RANK.get(s, 9))
        result.append(
            RuleGroup(
                rule_name=rule_display_name(members[0].hit),
                rule_id=rule_id,
                severity=severity,
                severity_label=severity_label(severity),
                alerts=tuple(alert_view(m, summary_limit=300) for m in members),
            )
        )
    result.sort(key=lambda g: (SEVERITY_RANK.get(g.severity, 9), g.rule_name.casefold()))
    return tuple(result)
