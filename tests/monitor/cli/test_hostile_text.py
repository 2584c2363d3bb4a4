"""Feed text is never markup and never drives the terminal, in every command that prints it.

A real feed (served on 127.0.0.1) carries titles with Rich markup, a stray closing tag and
ESC sequences (feedparser's loose parser keeps them); `feeds add` and `run --once` store it
through the real pipeline; then every command that prints feed text is run on that archive.
"""

from __future__ import annotations

import io
import json

import pytest

from monitor.cli.safe_text import visible
from tests.behaviour_server import rss
from tests.monitor.cli.test_cli import cli

MARKUP = "USSM [red]supply[/red] tightens"
CLOSING_TAG = "USSM antimony [/] closing tag"
ESCAPES = "USSM antimony \x1b]0;pwned\x07 title \x1b[2J cleared"
FEED_TITLE = "Desk [bold]wire\x1b[5m"
HOSTILE_FEED = rss(
    ("m1", MARKUP, "Antimony supply [/] summary"),
    ("m2", CLOSING_TAG, "Prices rose."),
    ("m3", ESCAPES, "An \x1b[8m hidden summary."),
    title=FEED_TITLE,
)


def assert_safe(text: str) -> None:
    """No raw control character reaches the terminal (newlines and tabs aside)."""
    raw = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not raw, f"raw control characters {raw!r} in {text!r}"


def assert_titles_literal(text: str) -> None:
    assert MARKUP in text and CLOSING_TAG in text, text
    assert visible(ESCAPES) in text, text


@pytest.fixture(scope="module")
def hostile_archive(tmp_path_factory):
    """An archive filled from the hostile feed by the real `feeds add` and `run --once`."""
    from monitor.cli.demo_server import FeedServer

    folder = tmp_path_factory.mktemp("hostile")
    (folder / "r.yaml").write_text("rules:\n  - id: ussm\n    query: USSM\n    severity: high\n")
    (folder / "minerals-monitor.toml").write_text(
        'feeds = []\n[rules]\nfiles = ["r.yaml"]\n[alerts]\nskip_older_than = "3650d"\n'
    )
    with FeedServer({"/hostile.xml": (HOSTILE_FEED, "application/rss+xml")}) as server:
        url = server.url("/hostile.xml")
        env = {"COLUMNS": "400"}
        added = cli("feeds", "add", url, cwd=folder, env=env)
        first = cli("run", "--once", cwd=folder, env=env)
        second = cli("run", "--once", "--verbose", cwd=folder, env=env)
        yield folder, url, added, first, second


def test_feeds_add_and_run_once_print_feed_text_literally(hostile_archive):
    _, _, added, first, second = hostile_archive
    for result in (added, first, second):
        assert result.returncode == 0, result.stderr
        assert_safe(result.stdout + result.stderr)
    assert visible(FEED_TITLE) in added.stdout
    # The console channel's alert lines: markup as written; control characters are the channel's
    # to clean (alerts/render.py clean_text turns them into spaces), and none reaches the terminal.
    assert f"[HIGH] ussm: {MARKUP}" in first.stdout and f"[HIGH] ussm: {CLOSING_TAG}" in first.stdout
    assert "[HIGH] ussm: USSM antimony" in first.stdout and "pwned" in first.stdout
    assert visible(FEED_TITLE) in first.stdout  # the table of feeds that found hits
    assert visible(FEED_TITLE) in second.stdout and "1/1 feeds polled successfully; 0 new articles, 0 hits" in second.stdout


def test_every_reading_command_prints_feed_text_literally(hostile_archive, run_main):
    folder, url, *_ = hostile_archive
    listed = json.loads(run_main("hits", "list", "--json", cwd=folder).stdout)
    assert {item["title"] for item in listed} == {MARKUP, CLOSING_TAG, ESCAPES}
    article = next(item for item in listed if item["title"] == ESCAPES)
    outputs = {
        "hits list": run_main("hits", "list", cwd=folder),
        "hits search": run_main("hits", "search", "USSM", cwd=folder),
        "alerts list": run_main("alerts", "list", cwd=folder),
        "stories list": run_main("stories", "list", "--since", "3650d", cwd=folder),
        "rules test --stored": run_main("rules", "test", "--stored", "--since", "3650d", cwd=folder),
    }
    for name, result in outputs.items():
        assert result.code == 0, (name, result.stderr)
        assert_safe(result.stdout + result.stderr)
        assert_titles_literal(result.stdout)
    single = {
        "stories show": run_main("stories", "show", str(article["story_id"]), cwd=folder),
        "rules test --article": run_main("rules", "test", "--article", str(article["article_id"]), cwd=folder),
        "rules explain": run_main("rules", "explain", "ussm", "--article", str(article["article_id"]), cwd=folder),
    }
    for name, result in single.items():
        assert result.code == 0, (name, result.stderr)
        assert_safe(result.stdout + result.stderr)
        assert visible(ESCAPES) in result.stdout, (name, result.stdout)
    feeds = run_main("feeds", "list", cwd=folder)
    assert feeds.code == 0 and visible(FEED_TITLE) in feeds.stdout
    assert_safe(feeds.stdout)


def test_json_output_escapes_control_characters(hostile_archive, run_main):
    folder, *_ = hostile_archive
    result = run_main("hits", "list", "--json", cwd=folder)
    assert "\x1b" not in result.stdout and "\\u001b" in result.stdout
    assert ESCAPES in {item["title"] for item in json.loads(result.stdout)}  # the data itself is intact


def test_feeds_check_prints_a_hostile_feed_literally(hostile_archive, run_main):
    folder, url, *_ = hostile_archive
    from monitor.cli.demo_server import FeedServer

    with FeedServer({"/hostile.xml": (HOSTILE_FEED, "application/rss+xml")}) as server:
        result = run_main("feeds", "check", server.url("/hostile.xml"), cwd=folder)
    assert result.code == 0, result.stdout + result.stderr
    assert_safe(result.stdout)
    assert visible(FEED_TITLE) in result.stdout and MARKUP in result.stdout


@pytest.mark.parametrize(
    ("text", "shown"),
    [("a\x1b[31mb", "a␛[31mb"), ("bell\x07", "bell␇"), ("c1\x9bx", "c1\\x9bx"), ("del\x7f", "del␡"),
     ("line\nbreak", "line␊break"), ("[red]x[/red]", "[red]x[/red]"), ("اینٹیمنی", "اینٹیمنی")],
)
def test_visible_shows_control_characters_and_leaves_text_alone(text, shown):
    assert visible(text) == shown


def test_rich_would_have_failed_on_the_closing_tag():
    """The bug this file guards against: a title passed to Rich as markup."""
    from rich.console import Console
    from rich.errors import MarkupError

    with pytest.raises(MarkupError):
        Console(file=io.StringIO()).print(CLOSING_TAG)
