"""The TOML config: parsing, validation and the embedded defaults.

Pure apart from reading the file and the environment: `load_config` returns a
`Config` or raises ConfigError with one line per problem (file, key, what).
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.durations import parse_duration
from monitor.exceptions import ConfigError
from monitor.webconfig import DEFAULT_LISTEN, WebConfig, parse_listen, parse_web
from storage.types import FeedSpec

DEFAULT_DB = "minerals-monitor.db"
SEVERITIES = ("info", "low", "medium", "high", "critical")
CHANNEL_TYPES = ("console", "email", "webhook")
GROUP_BY = ("story", "rule")
NOTIFY_UPDATES = ("escalation", "never")
SECRET_KEYS = frozenset({"password", "secret"})
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class PollingConfig:
    interval: float = 15 * 60
    min_interval: float = 60
    max_interval: float = 24 * 3600
    adaptive: bool = True  # poll busy feeds more often, quiet ones less (per-feed `adaptive = false`)
    adaptive_max: float = 2 * 3600
    jitter: float = 0.1  # fraction of the interval
    concurrency: int = 32
    per_host: int = 2
    host_gap: float = 0.5  # seconds between two requests to one host
    timeout: float = 30.0  # total deadline per request
    connect_timeout: float = 10.0
    max_body_bytes: int = 15 * 1024 * 1024
    contact: str = "https://github.com/minerals-monitor/minerals-monitor"
    allow_private_addresses: bool = False  # SSRF guard for full-text fetches


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print secrets
        shown = {k: ("***" if k in SECRET_KEYS else v) for k, v in self.options.items()}
        return f"ChannelConfig(name={self.name!r}, type={self.type!r}, options={shown!r})"


@dataclass(frozen=True)
class SeverityRoute:
    """Where hits of one severity go when their rule names no channels, and whether only in a digest."""

    channels: tuple[str, ...]
    digest: str | None = None  # "hourly" | "daily" | cron: digest only, no immediate alert


@dataclass(frozen=True)
class AlertsConfig:
    default_channels: tuple[str, ...] = ("console",)
    operator_channel: str | None = None
    max_attempts: int = 10
    give_up_after: float = 3 * 86400
    skip_older_than: float = 48 * 3600
    routes: dict[str, SeverityRoute] = field(default_factory=dict)
    throttle_digest: str = "hourly"  # where throttled hits go when their rule has no digest of its own
    daily_digest_hour: int = 7  # UTC hour of "daily" digests
    group_by: str = "story"  # "story": one notification per (story, channel); "rule": one per (rule, story, channel)
    group_wait: float = 30.0  # seconds a story's first hit waits for the story's other hits to join it
    notify_updates: str = "escalation"  # "escalation": a later hit that raises the story's severity sends an update
    console_url: str | None = None  # the web console, linked where an email digest lists only the first stories


@dataclass(frozen=True)
class StoriesConfig:
    enabled: bool = True
    window: float = 72 * 3600  # a reprint joins a story first seen at most this long ago
    threshold: float = 0.45  # estimated Jaccard similarity of 3-word shingles (labelled pairs: precision 1.00)


@dataclass(frozen=True)
class Config:
    storage_path: Path
    polling: PollingConfig
    feeds: tuple[FeedSpec, ...]
    rules_files: tuple[Path, ...]
    alerts: AlertsConfig
    channels: dict[str, ChannelConfig]
    source: Path | None = None  # None: embedded defaults
    rules_globs: tuple[str, ...] = ()
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    web: WebConfig = field(default_factory=WebConfig)  # the console (monitor/webconfig.py)


def bundled_rules_pack() -> Path:
    return _package_folder("rules") / "packs" / "minerals-diplomacy.yaml"


def bundled_feeds_file() -> Path:
    return _package_folder("monitor") / "data" / "feeds.toml"


def _package_folder(package: str) -> Path:
    """The folder `importlib.resources.files(package)` names for a package installed as files,
    without importing importlib.resources and its zip readers (~5 ms of every command's start)."""
    import importlib

    return Path(importlib.import_module(package).__file__).parent


def load_bundled_feeds() -> tuple[FeedSpec, ...]:
    path = bundled_feeds_file()
    problems: list[str] = []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    feeds = _feeds(data.get("feeds", []), str(path), problems)
    if problems:
        raise ConfigError(problems)
    return feeds


def default_config(storage_path: Path | None = None) -> Config:
    """The embedded defaults: bundled feeds and rules pack, ./minerals-monitor.db, console."""
    return Config(
        storage_path=storage_path or Path.cwd() / DEFAULT_DB,
        polling=PollingConfig(),
        feeds=load_bundled_feeds(),
        rules_files=(bundled_rules_pack(),),
        alerts=AlertsConfig(),
        channels={"console": ChannelConfig("console", "console")},
        web=WebConfig(listen=parse_listen(DEFAULT_LISTEN)),  # `make run` serves the console on 127.0.0.1
    )


def load_config(path: Path | None, environ: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; None means the embedded defaults."""
    if path is None:
        return default_config()
    environ = dict(os.environ) if environ is None else environ
    where = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError([f"{where}: cannot read config file: {error.strerror or error}"]) from error
    except UnicodeDecodeError as error:
        raise ConfigError([f"{where}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start})"]) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{where}: TOML syntax error: {error}"]) from error
    except RecursionError as error:
        raise ConfigError([f"{where}: TOML nested too deeply to read"]) from error
    return parse_config(data, path, environ)


def parse_config(data: dict[str, Any], path: Path, environ: dict[str, str]) -> Config:
    where = str(path)
    base = path.parent
    problems: list[str] = []
    data = _substitute_env(data, environ, where, "", problems)
    _unknown_keys(data, {"storage", "polling", "feeds", "rules", "alerts", "channels", "stories", "web"}, where, "", problems)

    storage = _table(data, "storage", where, problems)
    _unknown_keys(storage, {"path"}, where, "storage.", problems)
    storage_path = base / str(storage.get("path", DEFAULT_DB))

    polling = _polling(_table(data, "polling", where, problems), where, problems)

    if "feeds" in data:
        feeds = _feeds(data["feeds"], where, problems)
    else:
        feeds = load_bundled_feeds()

    rules_table = _table(data, "rules", where, problems)
    _unknown_keys(rules_table, {"files"}, where, "rules.", problems)
    rules_globs: tuple[str, ...] = ()
    if "files" in rules_table:
        files = rules_table["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            problems.append(f"{where}: rules.files: expected a list of file paths or glob patterns")
            rules_files: tuple[Path, ...] = ()
        else:
            rules_globs = tuple(str(base / f) for f in files)
            rules_files = _expand_globs(files, base, where, problems)
    else:
        rules_files = (bundled_rules_pack(),)

    channels = _channels(_table(data, "channels", where, problems), where, problems)
    alerts = _alerts(_table(data, "alerts", where, problems), channels, where, problems)

    stories = _stories(_table(data, "stories", where, problems), where, problems)
    web = parse_web(_table(data, "web", where, problems), where, problems)

    if problems:
        raise ConfigError(problems)
    return Config(
        stories=stories,
        storage_path=storage_path,
        polling=polling,
        feeds=feeds,
        rules_files=rules_files,
        alerts=alerts,
        channels=channels,
        source=path,
        rules_globs=rules_globs,
        web=web,
    )


def _substitute_env(value: Any, environ: dict[str, str], where: str, key: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, environ, where, f"{key}{k}.", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, environ, where, key, problems) for v in value]
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                problems.append(f"{where}: {key.rstrip('.')}: environment variable {name} is not set")
                return ""
            return environ[name]

        return _ENV_REF.sub(replace, value)
    return value


def _table(data: dict[str, Any], name: str, where: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: {name}: expected a table [{name}]")
        return {}
    return value


def _unknown_keys(table: dict[str, Any], allowed: set[str], where: str, prefix: str, problems: list[str]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
            problems.append(f"{where}: {prefix}{key}: unknown key{hint}")


def _duration(table: dict[str, Any], key: str, default: float, where: str, prefix: str, problems: list[str]) -> float:
    if key not in table:
        return default
    try:
        return parse_duration(table[key])
    except ValueError as error:
        problems.append(f"{where}: {prefix}{key}: {error}")
        return default


def _int(table: dict[str, Any], key: str, default: int, where: str, prefix: str, problems: list[str], minimum: int = 1) -> int:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where}: {prefix}{key}: expected a whole number >= {minimum}, got {value!r}")
        return default
    return value


def _size(value: Any) -> int:
    """Bytes from 1048576, "15MiB", "500KB", "2MB"."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*", value.lower())
        if match:
            factor = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}
            return int(match.group(1)) * factor[match.group(2)]
    raise ValueError(f"expected a size like \"15MiB\" or a number of bytes, got {value!r}")


def _polling(table: dict[str, Any], where: str, problems: list[str]) -> PollingConfig:
    p = "polling."
    allowed = {
        "interval", "min_interval", "max_interval", "adaptive", "adaptive_max", "jitter", "concurrency", "per_host", "host_gap",
        "timeout", "connect_timeout", "max_body", "contact", "allow_private_addresses",
    }
    _unknown_keys(table, allowed, where, p, problems)
    defaults = PollingConfig()
    max_body = defaults.max_body_bytes
    if "max_body" in table:
        try:
            max_body = _size(table["max_body"])
        except ValueError as error:
            problems.append(f"{where}: {p}max_body: {error}")
    jitter = table.get("jitter", defaults.jitter)
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
        problems.append(f"{where}: {p}jitter: expected a fraction of the interval between 0 and 1, got {jitter!r}")
        jitter = defaults.jitter
    contact = table.get("contact", defaults.contact)
    if not isinstance(contact, str):
        problems.append(f"{where}: {p}contact: expected a URL or e-mail address as text")
        contact = defaults.contact
    adaptive = table.get("adaptive", True)
    if not isinstance(adaptive, bool):
        problems.append(f"{where}: {p}adaptive: expected true or false")
        adaptive = True
    allow_private = table.get("allow_private_addresses", False)
    if not isinstance(allow_private, bool):
        problems.append(f"{where}: {p}allow_private_addresses: expected true or false")
        allow_private = False
    config = PollingConfig(
        interval=_duration(table, "interval", defaults.interval, where, p, problems),
        min_interval=_duration(table, "min_interval", defaults.min_interval, where, p, problems),
        max_interval=_duration(table, "max_interval", defaults.max_interval, where, p, problems),
        adaptive=adaptive,
        adaptive_max=_duration(table, "adaptive_max", defaults.adaptive_max, where, p, problems),
        jitter=float(jitter),
        concurrency=_int(table, "concurrency", defaults.concurrency, where, p, problems),
        per_host=_int(table, "per_host", defaults.per_host, where, p, problems),
        host_gap=_duration(table, "host_gap", defaults.host_gap, where, p, problems),
        timeout=_duration(table, "timeout", defaults.timeout, where, p, problems),
        connect_timeout=_duration(table, "connect_timeout", defaults.connect_timeout, where, p, problems),
        max_body_bytes=max_body,
        contact=contact,
        allow_private_addresses=allow_private,
    )
    if config.timeout <= 0:
        problems.append(f"{where}: {p}timeout: must be more than 0s")
    return config


def _feeds(value: Any, where: str, problems: list[str]) -> tuple[FeedSpec, ...]:
    if not isinstance(value, list):
        problems.append(f"{where}: feeds: expected an array of tables ([[feeds]])")
        return ()
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        key = f"feeds[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: {key}: expected a table with at least url")
            continue
        _unknown_keys(item, {"url", "name", "interval", "full_text", "adaptive"}, where, f"{key}.", problems)
        url = item.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url.strip()):
            problems.append(f"{where}: {key}.url: expected an http(s) URL, got {url!r}")
            continue
        url = url.strip()
        if url in seen:
            problems.append(f"{where}: {key}.url: {url} is listed twice")
            continue
        seen.add(url)
        name = item.get("name", "")
        if not isinstance(name, str):
            problems.append(f"{where}: {key}.name: expected text")
            name = ""
        interval = None
        if "interval" in item:
            try:
                interval = int(parse_duration(item["interval"]))
            except ValueError as error:
                problems.append(f"{where}: {key}.interval: {error}")
        full_text = item.get("full_text", False)
        if not isinstance(full_text, bool):
            problems.append(f"{where}: {key}.full_text: expected true or false")
            full_text = False
        adaptive = item.get("adaptive", True)
        if not isinstance(adaptive, bool):
            problems.append(f"{where}: {key}.adaptive: expected true or false")
            adaptive = True
        feeds.append(FeedSpec(url=url, name=name, interval_seconds=interval, full_text=full_text, adaptive=adaptive))
    return tuple(feeds)


def _expand_globs(patterns: list[str], base: Path, where: str, problems: list[str]) -> tuple[Path, ...]:
    files: list[Path] = []
    for pattern in patterns:
        full = str(base / pattern)
        matched = sorted(glob.glob(full))
        if not matched:
            problems.append(f"{where}: rules.files: {pattern!r} matches no file (looked in {base})")
        files.extend(Path(m) for m in matched if Path(m) not in files)
    return tuple(files)


_CHANNEL_KEYS = {
    "console": {"type"},
    "email": {"type", "host", "port", "security", "username", "password", "sender", "recipients", "timeout"},
    "webhook": {"type", "url", "secret", "format", "headers", "timeout"},
}
_REQUIRED = {"console": set(), "email": {"host", "sender", "recipients"}, "webhook": {"url"}}


def _channels(table: dict[str, Any], where: str, problems: list[str]) -> dict[str, ChannelConfig]:
    channels = {"console": ChannelConfig("console", "console")}
    for name, options in table.items():
        key = f"channels.{name}"
        if not isinstance(options, dict):
            problems.append(f"{where}: {key}: expected a table [{key}]")
            continue
        kind = options.get("type")
        if kind not in CHANNEL_TYPES:
            problems.append(f"{where}: {key}.type: expected one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
            continue
        _unknown_keys(options, _CHANNEL_KEYS[kind], where, f"{key}.", problems)
        for required in sorted(_REQUIRED[kind] - set(options)):
            problems.append(f"{where}: {key}.{required}: missing (required for type = \"{kind}\")")
        if "timeout" in options:
            timeout = options["timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
                problems.append(f"{where}: {key}.timeout: expected seconds between 0 and 600, got {timeout!r}")
        if kind == "email":
            _check_email(options, where, key, problems)
        if kind == "webhook":
            _check_webhook(options, where, key, problems)
        channels[name] = ChannelConfig(name=name, type=kind, options={k: v for k, v in options.items() if k != "type"})
    return channels


def _check_email(options: dict[str, Any], where: str, key: str, problems: list[str]) -> None:
    security = options.get("security", "none")
    if security not in ("none", "starttls", "tls"):
        problems.append(f"{where}: {key}.security: expected \"none\", \"starttls\" or \"tls\", got {security!r}")
    port = options.get("port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"{where}: {key}.port: expected a port number, got {port!r}")
    recipients = options.get("recipients", [])
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
        problems.append(f"{where}: {key}.recipients: expected a non-empty list of e-mail addresses")


def _check_webhook(options: dict[str, Any], where: str, key: str, problems: list[str]) -> None:
    url = options.get("url", "")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        problems.append(f"{where}: {key}.url: expected an http(s) URL")
    fmt = options.get("format", "json")
    if fmt not in ("json", "slack", "discord", "teams"):
        problems.append(f"{where}: {key}.format: expected json, slack, discord or teams, got {fmt!r}")
    secret = options.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.startswith("whsec_")):
        # Never echo the value: it is a secret.
        problems.append(f"{where}: {key}.secret: expected a Standard Webhooks secret starting with \"whsec_\"")
    headers = options.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"{where}: {key}.headers: expected a table of header names to text values")


def _alerts(table: dict[str, Any], channels: dict[str, ChannelConfig], where: str, problems: list[str]) -> AlertsConfig:
    p = "alerts."
    _unknown_keys(
        table,
        {"default_channels", "operator_channel", "max_attempts", "give_up_after", "skip_older_than", "routes",
         "throttle_digest", "daily_digest_hour", "group_by", "group_wait", "notify_updates", "console_url"},
        where,
        p,
        problems,
    )
    defaults = AlertsConfig()

    def channel_list(value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: {key}: expected a list of channel names")
            return ()
        for name in value:
            if name not in channels:
                close = difflib.get_close_matches(name, sorted(channels), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{where}: {key}: unknown channel {name!r}{hint}")
        return tuple(value)

    default_channels = channel_list(table.get("default_channels", list(defaults.default_channels)), f"{p}default_channels")
    operator = table.get("operator_channel")
    if operator is not None and not isinstance(operator, str):
        problems.append(f"{where}: {p}operator_channel: expected one channel name")
        operator = None
    elif operator is not None and operator not in channels:
        problems.append(f"{where}: {p}operator_channel: unknown channel {operator!r}")
    routes: dict[str, SeverityRoute] = {}
    raw_routes = table.get("routes", {})
    if not isinstance(raw_routes, dict):
        problems.append(f"{where}: {p}routes: expected a table of severity = [channels]")
    else:
        for severity, route in raw_routes.items():
            key = f"{p}routes.{severity}"
            if severity not in SEVERITIES:
                problems.append(f"{where}: {key}: unknown severity (expected {', '.join(SEVERITIES)})")
                continue
            if isinstance(route, dict):
                _unknown_keys(route, {"channels", "digest"}, where, f"{key}.", problems)
                digest = route.get("digest")
                if digest is not None and (problem := _digest_problem(digest)):
                    problems.append(f"{where}: {key}.digest: {problem}")
                routes[severity] = SeverityRoute(channel_list(route.get("channels", []), f"{key}.channels"), digest)
            else:
                routes[severity] = SeverityRoute(channel_list(route, key))
    throttle_digest = table.get("throttle_digest", defaults.throttle_digest)
    if problem := _digest_problem(throttle_digest):
        problems.append(f"{where}: {p}throttle_digest: {problem}")
        throttle_digest = defaults.throttle_digest
    daily_hour = table.get("daily_digest_hour", defaults.daily_digest_hour)
    if isinstance(daily_hour, bool) or not isinstance(daily_hour, int) or not 0 <= daily_hour <= 23:
        problems.append(f"{where}: {p}daily_digest_hour: expected an hour from 0 to 23 (UTC)")
        daily_hour = defaults.daily_digest_hour
    console_url = table.get("console_url")
    if console_url is not None and (not isinstance(console_url, str) or not re.match(r"^https?://", console_url)):
        problems.append(f"{where}: {p}console_url: expected an http(s) URL")
        console_url = None
    group_by = _choice(table, "group_by", GROUP_BY, defaults.group_by, where, p, problems)
    notify_updates = _choice(table, "notify_updates", NOTIFY_UPDATES, defaults.notify_updates, where, p, problems)
    return AlertsConfig(
        group_by=group_by,
        group_wait=_duration(table, "group_wait", defaults.group_wait, where, p, problems),
        notify_updates=notify_updates,
        console_url=console_url,
        default_channels=default_channels,
        operator_channel=operator,
        max_attempts=_int(table, "max_attempts", defaults.max_attempts, where, p, problems),
        give_up_after=_duration(table, "give_up_after", defaults.give_up_after, where, p, problems),
        skip_older_than=_duration(table, "skip_older_than", defaults.skip_older_than, where, p, problems),
        routes=routes,
        throttle_digest=throttle_digest,
        daily_digest_hour=daily_hour,
    )


def _choice(table: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: str, prefix: str,
            problems: list[str]) -> str:
    value = table.get(key, default)
    if value not in allowed:
        problems.append(f"{where}: {prefix}{key}: expected {' or '.join(repr(a) for a in allowed)}, got {value!r}")
        return default
    return value


def _digest_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expected \"hourly\", \"daily\" or a 5-field cron expression"
    from rules.durations import digest_problem

    return digest_problem(value)


def _stories(table: dict[str, Any], where: str, problems: list[str]) -> StoriesConfig:
    p = "stories."
    _unknown_keys(table, {"enabled", "window", "threshold"}, where, p, problems)
    defaults = StoriesConfig()
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{where}: {p}enabled: expected true or false")
        enabled = True
    threshold = table.get("threshold", defaults.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        problems.append(f"{where}: {p}threshold: expected a similarity between 0 and 1, got {threshold!r}")
        threshold = defaults.threshold
    return StoriesConfig(
        enabled=enabled, window=_duration(table, "window", defaults.window, where, p, problems), threshold=float(threshold)
    )
