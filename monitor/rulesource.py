"""Rules from files on disk: load, compile, and hot-reload keeping the last good set.

A rules file that is empty or broken never means "no rules": at start the monitor refuses
to run (RulesFileError, exit 2), and a reload that fails or finds no rules keeps the last
good set. So no article is ever stored without having been matched against a good set.
"""

from __future__ import annotations

import gc
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from monitor import heap
from monitor.exceptions import RulesFileError
from rules import Matcher, RuleSet, load_compiled_rules, load_rules
from rules.gc_pause import gc_paused
from rules.types import LoadProgress, Problem, Rule, SourceLocation

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
    files: tuple[Path, ...],
    known_channels: set[str] | None = None,
    known_feeds: set[str] | None = None,
    progress: LoadProgress | None = None,
) -> RuleSet:
    """Read and validate rules files; unreadable files are problems like any other."""
    heap.freeze_at_exit()
    sources, unreadable = read_sources(files)
    with gc_paused():  # frozen before the collector runs again (see _settle_heap)
        ruleset = load_rules(sources, known_channels=known_channels, known_feeds=known_feeds, progress=progress)
        _settle_heap(len(ruleset.rules))
    return _with_file_problems(ruleset, sources, unreadable)


def _with_file_problems(ruleset: RuleSet, sources: list[tuple[str, str]], unreadable: list[Problem]) -> RuleSet:
    extra = tuple(unreadable) + ruleset_less_files(sources, ruleset)
    return replace(ruleset, problems=extra + ruleset.problems) if extra else ruleset


_ONLY_COMMENTS = re.compile(r"\A(?:\s*(?:#[^\n]*)?\n?)*\Z")


def ruleset_less_files(sources: list[tuple[str, str]], ruleset: RuleSet) -> tuple[Problem, ...]:
    """A FILE:1:1 problem for each file that defines no rule and has no problem of its own.

    `load_rules` accepts an empty file (it is text, not a file on disk); a rules file
    on disk that is empty is a mistake or a file caught half-written, and taken as
    "no rules" it would let every article through unmatched."""
    with_rules = {rule.location.file for rule in ruleset.rules if rule.location}
    with_problems = {problem.location.file for problem in ruleset.problems}
    found = []
    for name, text in sources:
        if name in with_rules or name in with_problems:
            continue
        if _ONLY_COMMENTS.match(text):
            reason = "the file is empty: a rules file must define at least one rule"
        else:
            reason = "the file defines no rules (its 'rules:' list is missing or empty)"
        found.append(Problem(SourceLocation(name, 1, 1), reason))
    return tuple(found)


def load_rule_files(
    files: tuple[Path, ...],
    known_channels: set[str] | None = None,
    known_feeds: set[str] | None = None,
    progress: LoadProgress | None = None,
) -> LoadedRules:
    """Load and compile; invalid rules are left out and listed in ruleset.problems.

    One compile serves the examples and the monitor (a 20,000-rule file took seconds more
    when the examples compiled their own)."""
    heap.freeze_at_exit()
    sources, unreadable = read_sources(files)
    with gc_paused():  # frozen before the collector runs again (see _settle_heap)
        ruleset, matcher = load_compiled_rules(sources, known_channels, known_feeds, progress)
        _settle_heap(len(ruleset.rules))
    ruleset = _with_file_problems(ruleset, sources, unreadable)
    return LoadedRules(ruleset=ruleset, matcher=matcher, by_id={r.id: r for r in ruleset.rules}, files=files)


# From this many rules a load's objects are frozen (see _settle_heap); below it the
# collector's passes cost little, and a frozen heap is not worth its caveats.
FREEZE_FROM_RULES = 2_000
_heap_frozen = False


def _settle_heap(rule_count: int) -> None:
    """Put what a big load made out of the cyclic collector's reach (gc.freeze). The load ran
    with the collector paused, so its millions of objects all wait in the youngest generation:
    the first collection after a 20,000-rule load walked 1.4 million objects (0.6 s at the next
    allocation, and a full collection of 0.7 s soon after). Frozen objects are still freed by
    reference counting; a set that a reload replaces is collected by `_collect_replaced`."""
    global _heap_frozen
    if rule_count >= FREEZE_FROM_RULES:
        gc.freeze()
        _heap_frozen = True


def _collect_replaced() -> None:
    """Collect the rule set a reload replaced or refused, when big sets were frozen: compiled
    plans hold reference cycles (a term's test closure refers to its node), so reference
    counting alone does not free them. Once per reload, never per poll."""
    if _heap_frozen:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


class RulesHolder:
    """The live rules of a running monitor. A bad edit never replaces the last good rules.

    Raises RulesFileError when the files have any problem at start (the monitor does not
    start on a bad or empty set). progress: told how the first load goes (a big set takes
    seconds); reloads run in the background and tell nobody."""

    def __init__(
        self, files: tuple[Path, ...], known_channels: set[str] | None = None, progress: LoadProgress | None = None
    ):
        self.files = files
        self.known_channels = known_channels
        self._stamps = self._file_stamps()
        self.current = load_rule_files(files, known_channels, progress=progress)
        problems = list(self.current.ruleset.problems)
        if not problems and not self.current.ruleset.rules:
            problems.append(f"{', '.join(str(f) for f in files) or '[rules] files'}: no rules to match articles against")
        if problems:
            raise RulesFileError([str(problem) for problem in problems])
        for warning in self.current.ruleset.warnings:
            log.warning("rules: %s", warning)

    def _file_stamps(self) -> tuple:
        stamps = []
        for path in self.files:
            try:
                stat = path.stat()
                stamps.append((str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append((str(path), None, None, None))
        return tuple(stamps)

    def reload_if_changed(self) -> bool:
        """Reload when a file changed; keep the old rules if the new files have any problem
        or no rules at all (a file caught mid-write is often empty)."""
        stamps = self._file_stamps()
        if stamps == self._stamps:
            return False
        try:
            return self._replace_with(load_rule_files(self.files, self.known_channels), stamps)
        finally:
            _collect_replaced()

    def _replace_with(self, candidate: LoadedRules, stamps: tuple) -> bool:
        if self._file_stamps() != stamps:
            return False  # changed while we read it: a write in progress; look again next time
        self._stamps = stamps
        problems = [str(p) for p in candidate.ruleset.problems]
        if not problems and not candidate.ruleset.rules:
            problems.append("no rules at all")
        if problems:
            log.error(
                "rules not reloaded, keeping the last good rules (%d rules); %d problem(s):\n%s",
                len(self.current.ruleset.rules),
                len(problems),
                "\n".join(problems),
            )
            return False
        self.current = candidate
        log.info("rules reloaded: %d rules from %d file(s)", len(candidate.ruleset.rules), len(self.files))
        return True
