"""Values of the rules package. Leaf module: imports nothing of ours.

`rules/` is pure: it takes text (rules files as strings, articles as
`Document`s) and returns values. Reading files and storing hits happen in
`monitor/` and `storage/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

SEVERITIES = ("info", "low", "medium", "high", "critical")
FIELDS = ("title", "summary", "content")


@dataclass(frozen=True)
class SourceLocation:
    """Where something stands in a rules file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as FILE:LINE:COL: message."""

    location: SourceLocation
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class RuleExample:
    """An example article in a rule's `tests:` list and the expected outcome."""

    title: str
    text: str
    match: bool
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Rule:
    """One rule as written by an operator, validated."""

    id: str
    query: str
    severity: str = "medium"
    name: str = ""
    description: str = ""
    channels: tuple[str, ...] | None = None  # None: the config's default channels
    fields: tuple[str, ...] = FIELDS
    feeds: tuple[str, ...] | None = None  # None: every feed
    enabled: bool = True
    throttle: str | None = None  # a duration such as "1h"
    digest: str | None = None  # "hourly" | "daily" | a cron expression
    tests: tuple[RuleExample, ...] = ()
    location: SourceLocation | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class Document:
    """The text of one article as the matcher sees it (original, not normalised)."""

    title: str = ""
    summary: str = ""
    content: str = ""
    feed: str | None = None  # the feed's name, for rules scoped with `feeds:`


@dataclass(frozen=True, init=False)
class TermMatch:
    """One query term found in a field; start/end index the ORIGINAL field text."""

    term: str  # the term as written in the query, e.g. "antimony", "rare earth*"
    field: str  # title | summary | content
    start: int
    end: int
    text: str  # the matched substring of the original field text

    def __init__(self, term: str, field: str, start: int, end: int, text: str):
        # The generated frozen __init__ calls object.__setattr__ once per field;
        # filling the instance dict directly makes the matcher's most frequent
        # allocation twice as cheap. Still frozen: setting an attribute raises.
        values = self.__dict__
        values["term"] = term
        values["field"] = field
        values["start"] = start
        values["end"] = end
        values["text"] = text


@dataclass(frozen=True)
class RuleMatch:
    """A rule that matched a document, and the terms that made it match."""

    rule_id: str
    terms: tuple[TermMatch, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RuleSet:
    """All rules loaded from one or more files, plus the problems found."""

    rules: tuple[Rule, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    # Worth telling, but no reason to refuse the rules (e.g. a feed name that
    # no configured feed has yet). Not counted by `ok`.
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


# Told how far loading has gone: (stage, done, total), e.g. ("compiling rules", 5000, 20000).
# Called every PROGRESS_STEP items of a stage and at its end; the caller decides what to show.
LoadProgress = Callable[[str, int, int], None]
PROGRESS_STEP = 500
