"""The CLI as a user runs it: real subprocesses, real files, exit codes and --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from monitor.cli.main import app
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "MINERALS_MONITOR_CONFIG"}
    environment.update(env or {})
    # The console script, as users run it (`python -m monitor` inside a folder that has its own
    # rules/ directory would import that folder as the `rules` package under an editable install).
    script = Path(sys.executable).parent / "minerals-monitor"
    return subprocess.run([str(script), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def all_commands() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # a group (typer may vendor click: no isinstance checks)
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(root, ())
    return found


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(command):
    target = typer.main.get_command(app)
    for name in command:
        target = target.commands[name]  # type: ignore[attr-defined]
    assert (target.help or "").strip(), f"{' '.join(command)} has no --help text"
    assert f"minerals-monitor {' '.join(command)}" in README, f"README does not document `{' '.join(command)}`"


def test_help_runs_for_every_command():
    runner = CliRunner()
    for command in all_commands():
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output
    assert cli("--help", cwd=REPO).returncode == 0  # and the installed script runs


def test_invalid_config_exits_2_with_one_line_per_problem(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[polling]\ninterval = "soon"\nconcurency = 3\n')
    result = cli("--config", str(config), "feeds", "list", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(str(config) in line for line in lines)
    assert "Traceback" not in result.stderr


def test_init_then_rules_check_then_lists_as_json(tmp_path):
    result = cli("init", str(tmp_path / "desk"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    desk = tmp_path / "desk"
    assert (desk / "minerals-monitor.toml").stat().st_mode & 0o077 == 0
    check = cli("rules", "check", *sorted(str(p) for p in (desk / "rules").glob("*.yaml")), cwd=desk)
    assert check.returncode == 0, check.stdout + check.stderr
    again = cli("init", str(desk), cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    # ./minerals-monitor.toml is discovered; before the first run there is no database, and
    # reading commands say so instead of creating an empty one.
    for command in (("feeds", "list", "--json"), ("hits", "list", "--json"), ("alerts", "list", "--json")):
        listed = cli(*command, cwd=desk)
        assert listed.returncode == 3 and listed.stdout == "", (command, listed.stdout)
        assert listed.stderr == f"error: no database at {desk / 'minerals-monitor.db'} (run `minerals-monitor run --once` first)\n"
    assert not (desk / "minerals-monitor.db").exists()
    added = cli("feeds", "add", "--no-check", "https://example.org/feed.xml", "--name", "Example", cwd=desk)
    assert added.returncode == 0, added.stderr
    items = json.loads(cli("feeds", "list", "--json", cwd=desk).stdout)
    assert {"url", "http_status", "error", "consecutive_failures"} <= set(items[0])
    assert [(i["url"], i["name"], i["new_per_day"]) for i in items] == [("https://example.org/feed.xml", "Example", None)]
    assert json.loads(cli("hits", "list", "--json", cwd=desk).stdout) == []
    assert json.loads(cli("alerts", "list", "--json", cwd=desk).stdout) == []


def test_rules_check_reports_file_line_column_and_exits_1(tmp_path):
    rules = tmp_path / "bad.yaml"
    rules.write_text("rules:\n  - id: x\n    query: 'antimony AND ('\n    severity: high\n")
    result = cli("rules", "check", str(rules), cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(rf"^{re.escape(str(rules))}:3:\d+: ", result.stdout, re.M), result.stdout


def test_errors_are_one_line_without_traceback_unless_debug(tmp_path):
    (tmp_path / "minerals-monitor.db").write_bytes(b"not a database" * 100)
    result = cli("hits", "list", cwd=tmp_path)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr == f"error: {tmp_path / 'minerals-monitor.db'}: not a usable SQLite database (file is not a database)\n"
    debug = cli("--debug", "hits", "list", cwd=tmp_path)
    assert debug.returncode == 3 and "Traceback" in debug.stderr


def test_demo_runs_offline_and_shows_hits(demo_archive):
    out = (demo_archive / "demo-output.txt").read_text()
    assert "ussm" in out and "antimony" in out and "balochistan" in out
    assert re.search(r"Second poll: (\d+)/\1 feeds answered 304", out)
    # one alert line and one "why" row per story, every rule named, a cut terms list says so
    alerts = [line for line in out.splitlines() if line.startswith("[") and " rule" in line]
    rows = table_rows(out, "Stories: why each alert fired")
    assert len(rows) == len(alerts) == 5, (alerts, rows)
    seed = next(row for row in rows if "$500m critical minerals MoU" in row[2])
    assert {"ussm", "fwo_minerals", "antimony", "balochistan"} <= {r.strip() for r in seed[3].split(",")}, seed
    assert re.search(r"\+\d+ more$", seed[4]), seed
    barrick = next(row for row in rows if "Barrick" in row[2])
    assert "Balochistan" in barrick[4] and "more" not in barrick[4], barrick


def table_rows(output: str, title: str) -> list[list[str]]:
    """The cells of a Rich table printed after the line starting with `title`, folded lines joined."""
    lines = output.split(title, 1)[1].splitlines()
    rows: list[list[str]] = []
    for line in lines[1:]:
        if not line.startswith("│"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
    return rows


def test_rules_test_json_contract(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: sb\n    query: 'antimony NEAR/3 export*'\n    severity: low\n  - id: no\n    query: gold\n    severity: low\n")
    result = cli("rules", "test", "--rules", str(rules), "--title", "Antimony exports rise", "--text", "Pakistan’s antimony", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"matches": [{"rule": "sb", "terms": ["Antimony", "exports"]}]}


def test_rules_explain_and_test_on_a_stored_article(demo_archive):
    listed = json.loads(cli("hits", "list", "--rule", "ussm", "--json", cwd=demo_archive).stdout)
    top = max(listed, key=lambda item: item["story_size"])  # the seed story, carried by several outlets
    article_id = top["article_id"]
    explained = cli("rules", "explain", "ussm", "--article", str(article_id), cwd=demo_archive)
    assert explained.returncode == 0, explained.stderr
    assert "yes" in explained.stdout and "fires" in explained.stdout
    tested = json.loads(cli("rules", "test", "--article", str(article_id), "--json", cwd=demo_archive).stdout)
    assert "ussm" in {m["rule"] for m in tested["matches"]}
    story = json.loads(cli("stories", "show", str(top["story_id"]), "--json", cwd=demo_archive).stdout)
    assert top["story_size"] >= 2, listed
    assert len(story) == top["story_size"] and article_id in {m["article_id"] for m in story}
    stored = json.loads(cli("rules", "test", "--stored", "--since", "3650d", "--json", cwd=demo_archive).stdout)
    assert len({m["article_id"] for m in stored["matches"]}) >= 5


def test_rules_backtest_reports_gained_lost_and_label_scores(demo_archive, tmp_path):
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(
        "rules:\n"
        "  - id: ussm\n    query: 'USSM AND antimony'\n    severity: high\n"
        "  - id: gold-anything\n    query: 'gold'\n    severity: low\n"
    )
    hits = json.loads(cli("hits", "list", "--rule", "ussm", "--json", cwd=demo_archive).stdout)
    labels = tmp_path / "labels.csv"
    labels.write_text("url,rule,relevant\n" + "".join(f"{h['url']},ussm,yes\n" for h in hits))
    result = cli("rules", "backtest", str(candidate), "--since", "3650d", "--labels", str(labels), "--json", cwd=demo_archive)
    assert result.returncode == 0, result.stderr
    report = {r["rule"]: r for r in json.loads(result.stdout)["rules"]}
    assert report["ussm"]["live"] == len(hits) and report["ussm"]["matches"] <= len(hits)
    assert report["ussm"]["lost"] == len(hits) - report["ussm"]["matches"]
    assert report["ussm"]["precision"] == 1.0 and report["ussm"]["recall"] == report["ussm"]["matches"] / len(hits)
    assert report["gold-anything"]["live"] == 0 and report["gold-anything"]["gained"] == report["gold-anything"]["matches"] > 0


def test_run_once_exit_code_says_whether_any_feed_was_polled(tmp_path, feed_server):
    from tests.behaviour_server import rss

    feed_server.set_file("/ok.xml", rss(("g1", "USSM signs antimony MoU", "Balochistan")))
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: ussm\n    query: USSM\n    severity: high\n")
    config = tmp_path / "minerals-monitor.toml"
    base = f'[rules]\nfiles = ["r.yaml"]\n[alerts]\nskip_older_than = "3650d"\n'
    config.write_text(base + f'[[feeds]]\nurl = "{feed_server.url("/ok.xml")}"\n[[feeds]]\nurl = "http://127.0.0.1:9/down.xml"\n')
    result = cli("run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[HIGH] ussm: USSM signs antimony MoU" in result.stdout and "1/2 feeds polled successfully" in result.stdout
    assert "connection refused" in result.stdout
    config.write_text(base + '[[feeds]]\nurl = "http://127.0.0.1:9/down.xml"\n[storage]\npath = "other.db"\n')
    assert cli("run", "--once", cwd=tmp_path).returncode == 1
