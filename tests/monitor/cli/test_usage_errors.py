"""Typos and bad input are caught with exit 2 and a hint; lists say what they show and skip."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_config
from storage import feeds, open_database, transaction
from tests.monitor.cli.test_cli import all_commands, cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hits", "list", "--rule", "usm"), "no rule 'usm' in the rules files or the stored hits; did you mean 'ussm'?"),
        (("alerts", "mute", "ussn", "--for", "6h"), "no rule 'ussn' in the rules files; did you mean 'ussm'?"),
        (("rules", "explain", "antimoni", "--article", "1"), "did you mean 'antimony'?"),
        (("hits", "list", "--limit", "-5"), "--limit"),
        (("alerts", "list", "--status", "sennt"), "did you mean 'sent'?"),
        (("stories", "list", "--severity", "hihg"), "did you mean 'high'?"),
        (("run", "--send-digests"), "--send-digests only works with --once"),
        (("run", "--json"), "--json only works with --once"),
        (("feeds", "check", "file:///etc/passwd"), "expected an http(s) URL, got 'file:///etc/passwd'"),
        (("feeds", "check", "ftp://example.org/feed.xml"), "expected an http(s) URL"),
        (("feeds", "add", "example.org/feed.xml"), "expected an http(s) URL"),
        (("hits", "search", '"rare earths'), "not valid FTS5 syntax: unterminated string; quote phrases"),
        (("hits", "search", "antimony AND"), "not valid FTS5 syntax"),
    ],
)
def test_usage_errors_exit_2_and_say_what_to_fix(demo_archive, run_main, args, message):
    result = run_main(*args, cwd=demo_archive)
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_nothing_was_muted_by_a_mistyped_rule(demo_archive, run_main):
    run_main("alerts", "mute", "ussn", "--for", "6h", cwd=demo_archive)
    muted = run_main("alerts", "mute", "ussm", "--for", "6h", cwd=demo_archive)
    assert muted.code == 0 and "rule ussm muted for 6h" in muted.stdout
    assert run_main("alerts", "unmute", "ussn", cwd=demo_archive).code == 1  # was never muted
    assert run_main("alerts", "unmute", "ussm", cwd=demo_archive).code == 0


def test_a_configured_rule_without_hits_lists_nothing_without_an_error(demo_archive, run_main):
    result = run_main("hits", "list", "--rule", "saindak", "--json", cwd=demo_archive)
    assert result.code == 0 and json.loads(result.stdout) == []


def test_global_options_after_the_command_get_a_hint(tmp_path):
    result = cli("hits", "list", "--config", "desk.toml", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert "hint: --config goes before the command name: minerals-monitor --config desk.toml hits list --json" in result.stderr


def test_hyphenated_words_are_searched_as_phrases(demo_archive, run_main):
    found = json.loads(run_main("hits", "search", "Pakistan-US", "--json", cwd=demo_archive).stdout)
    assert found and all(re.search(r"pakistan\W+us", f"{a['title']} {a['summary']}", re.I) for a in found)
    reko = json.loads(run_main("hits", "search", "title:Reko-Diq", "--json", cwd=demo_archive).stdout)
    assert reko and all("reko diq" in a["title"].lower() for a in reko)


def test_hits_list_shows_the_ids_other_commands_take(demo_archive, run_main):
    listed = json.loads(run_main("hits", "list", "--rule", "ussm", "--json", cwd=demo_archive).stdout)
    table = run_main("hits", "list", "--rule", "ussm", cwd=demo_archive).stdout
    assert re.search(r"┃ article ┃ story\s*┃", table), table.splitlines()[:3]
    for hit in listed:
        assert re.search(rf"│\s+{hit['article_id']} │ {hit['story_id']}\b", table), hit
    assert table.startswith(f"{len(listed)} hits") or table.startswith("1 hit\n")


def test_stories_list_finds_the_seed_story_and_show_lists_its_outlets(demo_archive, run_main):
    stories = json.loads(run_main("stories", "list", "--since", "3650d", "--json", cwd=demo_archive).stdout)
    assert stories and {"story_id", "severity", "rules", "story_size", "outlets"} <= set(stories[0])
    seed = max(stories, key=lambda s: s["story_size"])
    assert seed["story_size"] >= 2 and len(seed["outlets"]) >= 2 and "ussm" in {r["rule"] for r in seed["rules"]}
    members = json.loads(run_main("stories", "show", str(seed["story_id"]), "--json", cwd=demo_archive).stdout)
    assert len(members) == seed["story_size"] and seed["title"] in {m["title"] for m in members}
    table = run_main("stories", "list", "--since", "3650d", cwd=demo_archive).stdout
    assert table.startswith(f"{len(stories)} stories with hits since 3650d")
    assert re.search(rf"│\s+{seed['story_id']} │ {seed['severity']}", table)
    ussm = json.loads(run_main("stories", "list", "--since", "3650d", "--rule", "ussm", "--json", cwd=demo_archive).stdout)
    assert ussm and all("ussm" in {r["rule"] for r in s["rules"]} for s in ussm) and len(ussm) < len(stories)
    recent = json.loads(run_main("stories", "list", "--since", "1s", "--json", cwd=demo_archive).stdout)
    assert recent == []  # the demo stored them more than a second ago


def test_feeds_import_lists_what_it_left_out_and_names_are_kept(tmp_path, run_main):
    (tmp_path / "minerals-monitor.toml").write_text(
        '[[feeds]]\nurl = "https://b.example.org/feed.xml"\nname = "B from the config"\n'
        '[[feeds]]\nurl = "https://c.example.org/feed.xml"\n'
    )
    (tmp_path / "subs.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline type="rss" text="A" xmlUrl="https://a.example.org/feed.xml"/>'
        '<outline type="rss" text="B from OPML" xmlUrl="https://b.example.org/feed.xml"/>'
        '<outline type="rss" text="C from OPML" xmlUrl="https://c.example.org/feed.xml"/>'
        '<outline type="rss" text="old" xmlUrl="ftp://files.example.org/feed.xml"/>'
        '<outline type="rss" text="typo" xmlUrl="not a url"/></body></opml>'
    )
    result = run_main("feeds", "import", "subs.opml", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "imported 3 feeds from subs.opml: 3 new, 0 already present, 2 left out" in result.stdout
    assert "left out ftp://files.example.org/feed.xml: not an http(s) URL" in result.stderr
    assert "left out not a url: not an http(s) URL" in result.stderr
    assert "is also in" in result.stderr and "'B from the config'; that name is used from the next run" in result.stderr
    # A config entry without a name does not overwrite the name OPML gave (the sync of `run`).
    config = load_config(tmp_path / "minerals-monitor.toml")
    db = open_database(config.storage_path)
    with transaction(db):
        for spec in config.feeds:
            feeds.upsert_feed(db, spec, datetime.now(UTC))
    names = {f.url: f.name for f in feeds.active_feeds(db)}
    db.close()
    assert names["https://c.example.org/feed.xml"] == "C from OPML"
    assert names["https://b.example.org/feed.xml"] == "B from the config"


def test_no_help_shows_a_python_type_as_metavar():
    from typer.testing import CliRunner

    from monitor.cli.main import app

    runner = CliRunner()
    for command in all_commands():
        text = runner.invoke(app, [*command, "--help"]).output
        assert not re.search(r"<(str|int|list\[|path|file|int range)", text), (command, text)


def test_init_names_a_program_that_runs(tmp_path):
    result = cli("init", str(tmp_path / "desk"), cwd=tmp_path)
    assert result.returncode == 0
    next_line = result.stdout.strip().splitlines()[-1]
    program = next_line.split("&& ", 1)[1].split(" rules check")[0]
    # The tests run the script from .venv/bin, which is not on PATH: the hint names its full path.
    assert program == "minerals-monitor" or (Path(program).is_file() and os.access(program, os.X_OK)), next_line
