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

from dataclasses import replace

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
class RuleView:
    """One rule that fired for a notification, with why (its terms on its own article)."""

    rule_name: str
    rule_id: str
    severity: str
    severity_label: str
    reasons: tuple[MatchReason, ...]
    article_title: str  # the copy of the story this rule matched
    feed: str


@dataclass(frozen=True)
class AlertView:
    """Everything a template or payload builder shows for one notification.

    `rule_name`, `rule_id`, `severity` and `reasons` are the primary (highest-severity) rule's;
    `rules` lists every rule that fired, primary first.
    """

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
    rules: tuple[RuleView, ...] = ()
    is_update: bool = False
    raised_from_label: str = ""  # an update: the severity notified before
    story_id: int | None = None

    @property
    def more_rules(self) -> int:
        return max(0, len(self.rules) - 1)


# --- small text helpers -------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (CR, LF, tabs, U+2028...) into one space."""
    return _WHITESPACE.sub(" ", text).strip()


# C0 controls but tab and newline, DEL, C1 controls; and the bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069) with which "\u202egnp.exe" reads as "exe.png".
# Marks that only set the direction of neutral characters (LRM, RLM, ALM) stay: Urdu needs them.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Text from a feed made safe to show: controls and bidi overrides become spaces.

    One character for one, so the spans of matched terms still index the text."""
    return _UNSAFE.sub(" ", text) if text else text


def clean_article(article: Article) -> Article:
    """The article with every shown field cleaned (clean_text); spans stay valid."""
    return replace(article, title=clean_text(article.title), summary=clean_text(article.summary),
                   content=clean_text(article.content), feed_name=clean_text(article.feed_name),
                   url=clean_text(article.url), link=clean_text(article.link), outlet=clean_text(article.outlet))


def source_label(article: Article) -> str:
    """Who published it: `Dawn`, or `Dawn (via Google News: USSM)` for an aggregator's item."""
    if article.outlet and article.outlet != article.feed_name:
        return one_line(f"{article.outlet} (via {article.feed_name})" if article.feed_name else article.outlet)
    return one_line(article.feed_name)


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
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in parts.netloc:
        return None
    # A space in the path or query is no part of a URL: percent-encoded (as browsers do), not dropped.
    return url.replace(" ", "%20")


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
            title=one_line(clean_text(member.title)) or UNTITLED,
            url=safe_url(clean_text(member.url)),
            feed=one_line(clean_text(member.feed_name)),
            published=format_utc(member.published_at),
        )
        for member in members
    )


def rule_views(alert: Alert) -> tuple[RuleView, ...]:
    """One view per rule that fired, highest severity first; a rule that matched several copies
    of the story shows the terms of its first copy (the one the notification shows, if any)."""
    by_rule: dict[str, tuple[Hit, Article]] = {}
    for listing in alert.rule_hits:
        current = by_rule.get(listing.hit.rule_id)
        if current is None or (current[1].id != alert.article.id and listing.article.id == alert.article.id):
            by_rule[listing.hit.rule_id] = (listing.hit, clean_article(listing.article))
    return tuple(
        RuleView(
            rule_name=rule_display_name(hit),
            rule_id=hit.rule_id,
            severity=hit.severity,
            severity_label=severity_label(hit.severity),
            reasons=match_reasons(article, hit.terms),
            article_title=one_line(article.title) or UNTITLED,
            feed=source_label(article),
        )
        for hit, article in by_rule.values()
    )


def alert_view(alert: Alert, *, summary_limit: int = SUMMARY_LIMIT) -> AlertView:
    """Everything a channel shows for `alert`, computed once (text cleaned: clean_text)."""
    hit, article = alert.hit, clean_article(alert.article)
    # Highlight every rule's terms found in the article shown (other copies' spans index other texts).
    shown_terms = tuple(t for listing in alert.rule_hits if listing.article.id == alert.article.id for t in listing.hit.terms)
    primary_terms = hit.terms if hit.article_id == alert.article.id else shown_terms
    title_segments = field_segments(article, shown_terms, "title") or (Segment(UNTITLED),)
    rules = rule_views(alert)
    primary_article = next((clean_article(m.article) for m in alert.rule_hits if m.hit.id == hit.id), article)
    return AlertView(
        rule_name=rule_display_name(hit),
        rule_id=hit.rule_id,
        severity=hit.severity,
        severity_label=severity_label(hit.severity),
        title=one_line(article.title) or UNTITLED,
        title_segments=title_segments,
        summary_segments=truncate_segments(field_segments(article, shown_terms, "summary"), summary_limit),
        url=safe_url(article.url) or safe_url(article.link),
        feed=source_label(article),
        published=format_utc(article.published_at),
        published_at=to_utc(article.published_at),
        reasons=match_reasons(primary_article, hit.terms) if primary_terms else (),
        also_reported_by=story_links(alert.also_reported_by),
        idempotency_key=alert.delivery.idempotency_key,
        rules=rules,
        is_update=alert.delivery.is_update,
        raised_from_label=severity_label(alert.delivery.raised_from) if alert.delivery.raised_from else "",
        story_id=alert.delivery.story_id if alert.delivery.story_id is not None else article.story_id,
    )


def view_heading(view: AlertView, *, label: bool = True) -> str:
    """`[HIGH] USSM`, `[CRITICAL] US deal +9 rules`, `[CRITICAL] Update (was HIGH): US deal +2 rules`."""
    extra = view.more_rules
    name = view.rule_name + (f" +{extra} rule{'s' if extra > 1 else ''}" if extra else "")
    update = f"Update (was {view.raised_from_label or 'INFO'}): " if view.is_update else ""
    return (f"[{view.severity_label}] " if label else "") + update + name


def headline(alert: Alert) -> str:
    """`[HIGH] USSM`, `[CRITICAL] US-Pakistan deal +9 rules`, `[CRITICAL] Update (was HIGH): ...`."""
    extra = len(alert.rule_ids) - 1
    name = rule_display_name(alert.hit) + (f" +{extra} rule{'s' if extra > 1 else ''}" if extra else "")
    update = ""
    if alert.delivery.is_update:
        update = f"Update (was {severity_label(alert.delivery.raised_from or 'info')}): "
    return f"[{severity_label(alert.hit.severity)}] {update}{name}"


def subject_line(alert: Alert, limit: int = 200) -> str:
    """`[HIGH] USSM: <article title>` (`[CRITICAL] US deal +9 rules: ...`) on one line, at most `limit` characters."""
    view_title = one_line(clean_text(alert.article.title)) or UNTITLED
    return truncate(one_line(f"{headline(alert)}: {view_title}"), limit)


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


@dataclass(frozen=True)
class StoryGroup:
    """One story inside a digest: its first alert's article, and every rule that fired on it."""

    title: str
    title_segments: Segments
    url: str | None
    feed: str
    published: str
    severity: str
    severity_label: str
    rules: tuple[RuleView, ...]
    outlets: int  # other outlets that carried it
    snippet: Segments
    keys: tuple[str, ...]  # the idempotency keys of its deliveries
    delivery_ids: tuple[int, ...] = ()
    story_id: int | None = None
    newest: datetime | None = None  # when its newest delivery was queued


def group_by_story(alerts: Iterable[Alert]) -> tuple[StoryGroup, ...]:
    """Digest entries, one per story: most severe first, then newest."""
    stories: dict[int, list[Alert]] = {}
    for alert in alerts:
        story = alert.delivery.story_id or alert.article.story_id or alert.article.id or 0
        stories.setdefault(story, []).append(alert)
    groups = []
    for members in stories.values():
        members.sort(key=lambda a: a.delivery.id)
        first = members[0]
        view = alert_view(first, summary_limit=300)
        seen: dict[str, RuleView] = {}
        for member in members:
            for rule in rule_views(member):
                current = seen.get(rule.rule_id)
                if current is None or SEVERITY_RANK.get(rule.severity, 9) < SEVERITY_RANK.get(current.severity, 9):
                    seen[rule.rule_id] = rule
        rules = tuple(sorted(seen.values(), key=lambda r: (SEVERITY_RANK.get(r.severity, 9), r.rule_name.casefold())))
        severity = rules[0].severity if rules else first.hit.severity
        outlets = {m.article_id for member in members for m in member.also_reported_by}
        outlets |= {member.article.id for member in members if member.article.id != first.article.id}
        reasons = rules[0].reasons if rules else ()
        groups.append(StoryGroup(
            title=view.title, title_segments=view.title_segments, url=view.url, feed=view.feed,
            published=view.published, severity=severity, severity_label=severity_label(severity), rules=rules,
            outlets=len(outlets - {first.article.id}), snippet=reasons[0].snippet if reasons else (),
            keys=tuple(member.delivery.idempotency_key for member in members),
            delivery_ids=tuple(member.delivery.id for member in members),
            story_id=first.delivery.story_id or first.article.story_id,
            newest=max((to_utc(member.delivery.created_at) for member in members if member.delivery.created_at), default=None),
        ))

    def order(group: StoryGroup) -> tuple:
        return (SEVERITY_RANK.get(group.severity, 9), group.title.casefold())

    groups.sort(key=order)
    return tuple(groups)
