"""Config parsing: defaults, durations, ${ENV}, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import SeverityRoute, default_config, load_config
from monitor.durations import format_duration, parse_duration
from monitor.exceptions import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 5 m ", 300), ("1.5h", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "15x", "-5m", "1h-", True, None, [1], 45, 1.5])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_bare_number_in_the_config_is_refused_with_the_unit_to_write(tmp_path):
    path = write(tmp_path, '[polling]\ninterval = 15\n[[feeds]]\nurl = "https://example.org/f.xml"\ninterval = "15"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [
        f'{path}: polling.interval: a bare number is not a duration: write "15m" (or "15s", "15h")',
        f'{path}: feeds[0].interval: \'15\' has no unit: write "15m" (or "15s", "15h")',
    ]


def test_format_duration():
    assert (format_duration(90), format_duration(7200), format_duration(0)) == ("1m30s", "2h", "0s")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "minerals-monitor.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_have_bundled_feeds_rules_console_and_local_db():
    config = default_config()
    assert len(config.feeds) >= 5 and all(f.url.startswith("https://") for f in config.feeds)
    assert config.rules_files[0].name == "minerals-diplomacy.yaml" and config.rules_files[0].exists()
    assert config.storage_path.name == "minerals-monitor.db"
    assert list(config.channels) == ["console"] and config.alerts.default_channels == ("console",)


def test_full_config_with_env_secret(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text("rules: []\n")
    path = write(
        tmp_path,
        """
[storage]
path = "data/m.db"
[polling]
interval = "5m"
concurrency = 8
max_body = "1MiB"
[[feeds]]
url = "https://example.org/feed.xml"
name = "Example"
interval = "90s"
[rules]
files = ["rules/*.yaml"]
[alerts]
default_channels = ["hook"]
operator_channel = "console"
give_up_after = "1d"
routes = { critical = ["hook", "console"] }
[channels.hook]
type = "webhook"
url = "https://hooks.example.org/x"
secret = "${HOOK_SECRET}"
""",
    )
    config = load_config(path, environ={"HOOK_SECRET": "whsec_c2VjcmV0"})
    assert config.storage_path == tmp_path / "data" / "m.db"
    assert (config.polling.interval, config.polling.concurrency, config.polling.max_body_bytes) == (300, 8, 2**20)
    assert config.feeds[0].interval_seconds == 90 and config.feeds[0].name == "Example"
    assert config.rules_files == (tmp_path / "rules" / "a.yaml",)
    assert config.alerts.routes == {"critical": SeverityRoute(("hook", "console"))} and config.alerts.give_up_after == 86400
    assert config.channels["hook"].options["secret"] == "whsec_c2VjcmV0"
    assert "whsec_c2VjcmV0" not in repr(config.channels["hook"])


def test_every_problem_is_one_line_naming_file_and_key(tmp_path):
    path = write(
        tmp_path,
        """
[polling]
interval = "soon"
concurency = 4
[[feeds]]
url = "ftp://nope"
[alerts]
default_channels = ["emial"]
[channels.emial]
type = "email"
host = "smtp"
[channels.hook]
type = "webhook"
url = "https://x"
secret = "${MISSING_SECRET}"
""",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    problems = raised.value.problems
    text = "\n".join(problems)
    assert all(line.startswith(f"{path}: ") for line in problems)
    assert "polling.interval" in text and "not a duration" in text
    assert "polling.concurency: unknown key (did you mean 'concurrency'?)" in text
    assert "feeds[0].url: expected an http(s) URL" in text
    assert "channels.emial.sender: missing" in text and "channels.emial.recipients: missing" in text
    assert "channels.hook.secret: environment variable MISSING_SECRET is not set" in text
    assert len(problems) >= 6


def test_toml_syntax_error_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, "[storage\npath = 1"), environ={})
    assert raised.value.problems[0].startswith(f"{tmp_path / 'minerals-monitor.toml'}: TOML syntax error")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_digest_routes_and_stories(tmp_path):
    path = write(
        tmp_path,
        """
[alerts]
routes = { low = { channels = ["console"], digest = "daily" }, high = ["console"] }
throttle_digest = "0 */2 * * *"
[stories]
window = "24h"
threshold = 0.7
""",
    )
    config = load_config(path, environ={})
    assert config.alerts.routes["low"] == SeverityRoute(("console",), "daily")
    assert config.alerts.throttle_digest == "0 */2 * * *"
    assert (config.stories.window, config.stories.threshold) == (86400, 0.7)
    bad = write(tmp_path, '[alerts]\nroutes = { low = { channels = ["console"], digest = "weekly" } }\n[stories]\nthreshold = 2\n')
    with pytest.raises(ConfigError) as raised:
        load_config(bad, environ={})
    text = "\n".join(raised.value.problems)
    assert "alerts.routes.low.digest" in text and "stories.threshold" in text


def test_rules_glob_matching_nothing_is_a_problem(tmp_path):
    with pytest.raises(ConfigError, match="matches no file"):
        load_config(write(tmp_path, '[rules]\nfiles = ["rules/*.yaml"]\n'), environ={})


def test_alerts_grouping_keys_are_read_and_checked(tmp_path):
    """Issue 14: [alerts] group_by, group_wait, notify_updates (and console_url for email digests)."""
    from monitor.config import load_config
    from monitor.exceptions import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('feeds = []\n[alerts]\ngroup_by = "rule"\ngroup_wait = "0s"\nnotify_updates = "never"\n'
                    'console_url = "http://127.0.0.1:8765/"\n')
    alerts = load_config(path).alerts
    assert (alerts.group_by, alerts.group_wait, alerts.notify_updates, alerts.console_url) == (
        "rule", 0.0, "never", "http://127.0.0.1:8765/")
    defaults = load_config(None).alerts
    assert (defaults.group_by, defaults.group_wait, defaults.notify_updates) == ("story", 30.0, "escalation")
    path.write_text('feeds = []\n[alerts]\ngroup_by = "article"\ngroup_wait = "soon"\nnotify_updates = "always"\n')
    import pytest

    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "alerts.group_by" in text and "alerts.group_wait" in text and "alerts.notify_updates" in text


def test_bundled_files_are_where_importlib_resources_names_them():
    """monitor/config.py finds the bundled pack and feeds list without importlib.resources
    (a start-up cost); the paths must be the ones it names."""
    from importlib import resources

    from monitor.config import bundled_feeds_file, bundled_rules_pack

    assert bundled_rules_pack() == Path(str(resources.files("rules") / "packs" / "minerals-diplomacy.yaml"))
    assert bundled_feeds_file() == Path(str(resources.files("monitor") / "data" / "feeds.toml"))
    assert bundled_rules_pack().is_file() and bundled_feeds_file().is_file()
