"""The shared rendering helpers: highlighting, snippets, dates, links, grouping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.render import (
    Segment,
    alert_view,
    format_utc,
    group_by_rule,
    highlight,
    iso_utc,
    marked,
    match_reasons,
    plain,
    safe_url,
    snippet,
    subject_line,
    truncate_segments,
)
from storage.types import MatchedTerm


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], "rare earth elements"),
        ([(0, 4)], "«rare» earth elements"),
        ([(0, 4), (5, 10)], "«rare» «earth» elements"),
        ([(0, 10), (5, 19)], "«rare earth elements»"),  # overlapping spans merge
        ([(5, 10), (0, 4)], "«rare» «earth» elements"),  # order does not matter
        ([(-3, 4), (11, 99)], "«rare» earth «elements»"),  # clipped to the text
        ([(7, 7), (30, 40)], "rare earth elements"),  # empty or outside: ignored
    ],
)
def test_highlight(spans, expected):
    assert marked(highlight("rare earth elements", spans)) == expected


@given(st.text(max_size=60), st.lists(st.tuples(st.integers(-5, 70), st.integers(-5, 70)), max_size=6))
def test_highlight_keeps_the_text(text, spans):
    assert plain(highlight(text, spans)) == text


def test_snippet_shows_whole_words_around_the_term():
    text = "Officials said the deal covers exports of antimony, copper, gold and tungsten from the mines of Balochistan."
    start = text.index("antimony")
    segments = snippet(text, start, start + 8, [(start, start + 8)], radius=20)
    assert marked(segments) == "…covers exports of «antimony», copper, gold and…"


def test_snippet_at_the_edges_has_no_ellipsis():
    assert marked(snippet("USSM signs", 0, 4, [(0, 4)])) == "«USSM» signs"


def test_match_reasons_count_fields_and_prefer_the_title(make_alert):
    alert = make_alert(content="More on USSM and USSM.", words=("USSM",), title="USSM deal")
    [reason] = match_reasons(alert.article, alert.hit.terms)
    assert reason.term == "USSM"
    assert reason.count == 5
    assert reason.fields == ("title", "summary", "content")
    assert reason.field == "title"
    assert marked(reason.snippet) == "«USSM» deal"


def test_reason_survives_a_span_outside_the_text(make_alert):
    term = MatchedTerm(term="antimony", field="summary", start=5000, end=5008, text="antimony")
    alert = make_alert(terms=[term])
    [reason] = match_reasons(alert.article, alert.hit.terms)
    assert reason.snippet == (Segment("antimony", True),)


def test_truncate_segments_keeps_marks():
    segments = highlight("one two three four", [(4, 7)])
    assert marked(truncate_segments(segments, 9)) == "one «two»…"
    assert truncate_segments(segments, 100) == segments


def test_dates_are_shown_in_utc():
    moment = datetime(2025, 9, 8, 14, 45, 30, 123, tzinfo=timezone(timedelta(hours=5)))  # Pakistan time
    assert format_utc(moment) == "Mon 8 Sep 2025, 09:45 UTC"
    assert iso_utc(moment) == "2025-09-08T09:45:30Z"
    assert format_utc(None) == "unknown"
    assert iso_utc(None) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("http://example.com", "http://example.com"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//example.com/x", None),
        ("https://exa mple.com/", None),
        ("https://example.com/a b?q=c d", "https://example.com/a%20b?q=c%20d"),  # issue 15.5: encoded, not dropped
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


def test_subject_line_is_one_line_and_bounded(make_alert):
    alert = make_alert(title="A\r\nB\tC" + " long" * 100, rule_name="")
    subject = subject_line(alert)
    assert subject.startswith("[HIGH] ussm-pakistan: A B C long")
    assert "\r" not in subject and "\n" not in subject
    assert len(subject) <= 200 and subject.endswith("…")


def test_alert_view_falls_back_for_missing_values(make_alert):
    view = alert_view(make_alert(title="", url="ftp://example.com/x", published_at=None, feed_name=""))
    assert view.title == "(untitled)"
    assert marked(view.title_segments) == "(untitled)"
    assert view.url is None
    assert view.published == "unknown"


def test_group_by_rule_orders_by_severity_then_name(make_alert):
    alerts = [
        make_alert(key="1", rule_id="b", rule_name="Beta", severity="low"),
        make_alert(key="2", rule_id="a", rule_name="Alpha", severity="low"),
        make_alert(key="3", rule_id="c", rule_name="Gamma", severity="critical"),
        make_alert(key="4", rule_id="a", rule_name="Alpha", severity="low"),
    ]
    groups = group_by_rule(alerts)
    assert [(g.rule_name, len(g.alerts)) for g in groups] == [("Gamma", 1), ("Alpha", 2), ("Beta", 1)]
    assert groups[0].severity_label == "CRITICAL"
