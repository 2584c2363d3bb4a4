"""Delta parsing (monitor/parse/delta.py): a changed feed's known items are not parsed again,
and what is parsed is exactly what a full parse gives for the new items."""

from __future__ import annotations

import pytest

from monitor.parse.delta import split_items
from monitor.parse.feed import parse_feed

HEAD = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>T</title>'
    b"<lastBuildDate>Mon, 02 Nov 2026 10:00:00 GMT</lastBuildDate><ttl>30</ttl>\n"
)


def rss(items: list[bytes], head: bytes = HEAD) -> bytes:
    return head + b"\n".join(items) + b"\n</channel></rss>\n"


def item(n: int, text: str = "") -> bytes:
    return (
        f"<item><title>Story {n}</title><link>https://example.org/{n}</link><guid>g{n}</guid>"
        f"<description>Body {n} {text}</description></item>"
    ).encode()


def test_split_rebuilds_the_body_exactly():
    body = rss([item(1), item(2), item(3)])
    split = split_items(body)
    assert split is not None and len(split.items) == 3
    rebuilt = b"".join(f + i for f, i in zip(split.frame, split.items)) + split.frame[-1]
    assert rebuilt == body


def test_only_new_items_are_parsed_and_the_frame_hints_survive():
    old = parse_feed(rss([item(2), item(1)]), {}, 1, "f")
    new = parse_feed(rss([item(3), item(2), item(1)]), {}, 1, "f", known_digests=old.digests)
    assert [a.guid for a in new.articles] == ["g3"]
    assert new.known_items == 2 and new.entry_count == 3
    assert new.min_interval_hint == 30 * 60  # ttl sits in the frame, which is parsed every time
    full = parse_feed(rss([item(3), item(2), item(1)]), {}, 1, "f")
    assert new.articles[0] == full.articles[0]


def test_an_edited_item_is_parsed_again():
    old = parse_feed(rss([item(2), item(1)]), {}, 1, "f")
    new = parse_feed(rss([item(2, "corrected"), item(1)]), {}, 1, "f", known_digests=old.digests)
    assert [a.summary for a in new.articles] == ["Body 2 corrected"]


def test_nothing_new_parses_nothing_and_is_no_error():
    old = parse_feed(rss([item(2), item(1)]), {}, 1, "f")
    later_head = HEAD.replace(b"10:00:00", b"11:30:00")  # a rebuilt channel date alone changes nothing
    again = parse_feed(rss([item(2), item(1)], later_head), {}, 1, "f", known_digests=old.digests)
    assert again.error is None and again.articles == () and again.known_items == 2 and again.entry_count == 2
    assert again.min_interval_hint == 30 * 60 and again.title == "T"  # the frame's hints still count


def test_a_changed_frame_means_a_full_parse():
    old = parse_feed(rss([item(2), item(1)]), {}, 1, "f")
    other_head = HEAD.replace(b"<title>T</title>", b"<title>Renamed</title>")
    again = parse_feed(rss([item(2), item(1)], other_head), {}, 1, "f", known_digests=old.digests)
    assert [a.guid for a in again.articles] == ["g2", "g1"] and again.known_items == 0


@pytest.mark.parametrize(
    "body",
    [
        HEAD + b"<item><title>a</title><description><![CDATA[ </item><item> ]]></description></item></channel></rss>",
        HEAD + b"<!-- <item> --><item><title>a</title></item></channel></rss>",
    ],
)
def test_items_inside_cdata_or_comments_are_not_cut(body):
    split = split_items(body)
    assert split is not None and len(split.items) == 1


@pytest.mark.parametrize(
    "body",
    [
        HEAD + b"<item><title>a</title><item><title>b</title></item></item></channel></rss>",  # nested
        HEAD + b"<item><title>a</title></channel></rss>",  # unclosed
        HEAD + b"</channel></rss>",  # no items
        rss([item(1)]).decode().encode("utf-16"),  # not ASCII-compatible
    ],
)
def test_shapes_we_cannot_cut_are_parsed_whole(body):
    assert split_items(body) is None


def test_on_every_corpus_feed_the_delta_parse_gives_what_a_full_parse_gives(corpus):
    """The differential check (tests/monitor/parse/delta_differential.py) over the corpus: new,
    edited and removed items, a stray windows-1252 byte, a duplicate item, a malformed item.
    Before the fix it found 293 divergences in 66 files (on whole files; here each file's first
    four items, which keeps this test to a few seconds)."""
    from tests.monitor.parse.delta_differential import feed_files, run

    read, cut, found, pairs, used = run(feed_files([str(path) for path in corpus]), max_items=4)
    assert found == []
    assert cut >= 40 and used["new-item"] >= 40 and used["edited-item"] >= 20  # the fast path was really taken


def _known(body: bytes) -> bytes:
    parsed = parse_feed(body, {}, 1, "f")
    assert parsed.digests is not None
    return parsed.digests


def test_an_encoding_decided_by_an_old_item_means_a_full_parse():
    """One windows-1252 byte in a known item makes feedparser read the whole body as
    windows-1252: the new item must be read that way too, and the known ones again
    once that item is gone (their text changes)."""
    stray = item(1).replace(b"Story 1", b"Story \x931\x94")
    old = parse_feed(rss([stray]), {}, 1, "f")
    body = rss([item(2, "café"), stray])
    new = parse_feed(body, {}, 1, "f", known_digests=old.digests)
    full = parse_feed(body, {}, 1, "f")
    # The new item alone would be read as UTF-8, the whole body is read as windows-1252: a full parse.
    assert new.known_items == 0 and new.articles == full.articles
    gone = parse_feed(rss([item(2, "café")]), {}, 1, "f", known_digests=new.digests)
    assert gone.known_items == 0  # read as UTF-8 now: what was known was read otherwise
    assert gone.articles == parse_feed(rss([item(2, "café")]), {}, 1, "f").articles


def test_a_duplicate_item_edited_later_in_the_feed_is_not_a_change():
    body = rss([item(1), item(2), item(1)])
    edited = rss([item(1), item(2), item(1, "edited copy")])
    assert parse_feed(body, {}, 1, "f").digests is None  # two items keyed together: never cut
    fast = parse_feed(edited, {}, 1, "f", known_digests=_known(rss([item(1), item(2)])))
    full = parse_feed(edited, {}, 1, "f")
    assert fast.articles == full.articles and fast.known_items == 0


def test_a_malformed_body_is_never_cut_and_a_malformed_new_item_means_a_full_parse():
    loose = item(1).replace(b"Body 1", b"M&A")
    assert parse_feed(rss([loose, item(2)]), {}, 1, "f").digests is None
    fast = parse_feed(rss([loose, item(2)]), {}, 1, "f", known_digests=_known(rss([item(2)])))
    assert fast.known_items == 0 and fast.articles == parse_feed(rss([loose, item(2)]), {}, 1, "f").articles


@pytest.mark.parametrize("tag", [b"a:entry", b"Item", b"ENTRY"])
def test_item_tags_feedparser_reads_differently_stop_the_cut(tag):
    body = HEAD + b"<item><title>a</title></item><" + tag + b"><title>b</title></" + tag + b"></channel></rss>"
    assert split_items(body) is None


def test_digests_of_an_older_version_mean_one_full_parse():
    old_style = bytes(8 * 3)  # frame + two item digests, as kept before the format byte
    parsed = parse_feed(rss([item(2), item(1)]), {}, 1, "f", known_digests=old_style)
    assert parsed.known_items == 0 and len(parsed.articles) == 2 and parsed.digests[0] == 2


def test_relative_links_are_resolved_against_the_feed_url_and_only_web_links_kept():
    body = rss([
        b"<item><title>a</title><link>/news/1</link><guid>a</guid></item>",
        b"<item><title>b</title><link>javascript:alert(1)</link><guid>b</guid></item>",
        b"<item><title>c</title><link>https://other.example/c</link><guid>c</guid></item>",
    ])
    parsed = parse_feed(body, {}, 1, "f", "https://example.org/feeds/rss.xml")
    assert [a.link for a in parsed.articles] == ["https://example.org/news/1", "", "https://other.example/c"]


def test_trimming_unread_elements_changes_no_article_of_any_corpus_feed(corpus):
    """What feedparser gets has categories, enclosures, authors... cut out (monitor/parse/trim.py):
    every article of every corpus feed must come out exactly as from the untouched body."""
    from monitor.parse.feed import _parse_xml

    compared = 0
    for path in corpus:
        body = path.read_bytes()
        if split_items(body) is None:
            continue
        trimmed = parse_feed(body, {}, 1, "f", "https://example.org/feed")
        untouched = _parse_xml(body, {}, 1, "f", "https://example.org/feed")
        assert trimmed.articles == untouched.articles, path.name
        assert trimmed.error == untouched.error, path.name
        assert (trimmed.title, trimmed.min_interval_hint) == (untouched.title, untouched.min_interval_hint), path.name
        compared += 1
    assert compared >= 40


def test_the_header_keeps_what_is_read_title_ttl_and_update_period():
    from monitor.parse.trim import trim_header

    header = (b'<rss version="2.0"><channel><title>Dawn</title><link>https://dawn.com</link>'
              b"<description>News</description><ttl>60</ttl><sy:updatePeriod>hourly</sy:updatePeriod>"
              b'<atom:link href="https://dawn.com/feed" rel="self"/><image><url>u</url><title>Dawn</title></image>')
    assert trim_header(header) == (b'<rss version="2.0"><channel><title>Dawn</title><ttl>60</ttl>'
                                   b"<sy:updatePeriod>hourly</sy:updatePeriod><image><url>u</url><title>Dawn</title></image>")


def test_only_flat_unread_elements_are_cut():
    from monitor.parse.trim import trim_item

    item = (b'<item><title>t</title><category domain="x">World</category><enclosure url="u" length="1"/>'
            b"<dc:creator><![CDATA[A <b>name</b>]]></dc:creator><author><name>n</name></author>"
            b"<description>d</description></item>")
    assert trim_item(item) == (b"<item><title>t</title><dc:creator><![CDATA[A <b>name</b>]]></dc:creator>"
                               b"<author><name>n</name></author><description>d</description></item>")
