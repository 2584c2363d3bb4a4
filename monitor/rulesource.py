"""Rules from files on disk: load, compile, and hot-reload keeping the last good set."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from rules import Matcher, RuleSet, compile_rules, load_rules
from rules.types import Problem, Rule, SourceLocation

log = logging.getLogger("minerals_monitor.rules")


@dataclass(frozen=True)
class LoadedRules:
    ruleset: RuleSet
    matcher: Matcher
    by_id: dict[str, Rule]
    files: tuple[Path, ...]


def read_sources(files: tuple[Path, ...]) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(file name, text) pairs for load_rules, and a FILE:1:1 problem for each file that
    cannot be read or is not UTF-8 (the other files still load)."""
    sources: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for path in files:
        try:
            sources.append((str(path), path.read_bytes().decode("utf-8-sig")))
        except UnicodeDecodeError as error:
            reason = f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); save it as UTF-8"
            problems.append(Problem(SourceLocation(str(path), 1, 1), reason))
        except OSError as error:
            problems.append(Problem(SourceLocation(str(path), 1, 1), f"cannot read: {error.strerror or error}"))
    return sources, problems


def load_rule_set(
    files: tuple[Path, ...], known_channels: set[str] | None = None, known_feeds: set[str] | None = None
) -> RuleSet:
    """Read and validate rules files; unreadable files are problems like any other."""
    sources, unreadable = read_sources(files)
    ruleset = load_rules(sources, known_channels=known_channels, known_feeds=known_feeds)
    return replace(ruleset, problems=tuple(unreadable) + ruleset.problems) if unreadable else ruleset


def load_rule_files(
    files: tuple[Path, ...], known_channels: set[str] | None = None, known_feeds: set[str] | None = None
) -> LoadedRules:
    """Load and compile; invalid rules are left out and listed in ruleset.problems."""
    ruleset = load_rule_set(files, known_channels, known_feeds)
    matcher = compile_rules(ruleset.rules, ruleset.aliases)
    return LoadedRules(ruleset=ruleset, matcher=matcher, by_id={r.id: r for r in ruleset.rules}, files=files)


class RulesHolder:
    """The live rules of a running monitor. A bad edit never replaces the last good rules."""

    def __init__(self, files: tuple[Path, ...], known_channels: set[str] | None = None):
        self.files = files
        self.known_channels = known_channels
        self.current = load_rule_files(files, known_channels)
        self._stamps = self._file_stamps()
        for problem in self.current.ruleset.problems:
            log.warning("rules: %s", problem)

    def _file_stamps(self) -> tuple:
        stamps = []
        for path in self.files:
            try:
                stat = path.stat()
                stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append((str(path), None, None))
        return tuple(stamps)

    def reload_if_changed(self) -> bool:
        """Reload when a file changed; keep the old rules if the new files have any problem."""
        stamps = self._file_stamps()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            candidate = load_rule_files(self.files, self.known_channels)
        except OSError as error:
            log.error("rules not reloaded, keeping the last good rules: cannot read %s", error)
            return False
        if candidate.ruleset.problems:
            log.error(
                "rules not reloaded, keeping the last good rules (%d rules); %d problem(s):\n%s",
                len(self.current.ruleset.rules),
                len(candidate.ruleset.problems),
                "\n".join(str(p) for p in candidate.ruleset.problems),
            )
            return False
        self.current = candidate
        log.info("rules reloaded: %d rules from %d file(s)", len(candidate.ruleset.rules), len(self.files))
        return True
