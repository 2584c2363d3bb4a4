"""Load and validate rules files (YAML text in, RuleSet out; no file I/O here).

    aliases:
      ussm: ["United States Strategic Metals", USSM]
    rules:
      - id: pakistan-antimony
        query: antimony AND (Pakistan OR Balochistan) NOT @sports
        severity: high            # info | low | medium (default) | high | critical
        channels: [email]         # default: the config's default channels
        fields: [title, summary]  # default: title, summary, content
        feeds: [dawn]             # default: every feed
        enabled: true
        throttle: 1h              # at most one alert per ...: 90s, 15m, 2h, 1d
        digest: daily             # hourly | daily | a 5-field cron expression
        tests:                    # examples, checked on every load
          - {title: "Antimony from Pakistan", match: true}
          - {text: "Pakistan beat India at cricket", match: false}

Every problem is reported, each as FILE:LINE:COL: message, and one bad rule
does not stop the others: `RuleSet.rules` holds the rules that are valid,
`RuleSet.problems` every error, `RuleSet.warnings` what is only worth telling
(a feed name no configured feed has). A rule whose examples fail is still in
`rules` (it is well formed) but its failures are problems, so `ok` is False
and a running monitor keeps its last good rules (DESIGN.md decision 4).

Aliases belong to their file: a rule may use the aliases of its own file. All
files share one alias namespace in the compiled matcher, so one name defined
differently in two files is a problem.

Examples are checked by `load_rules` itself (`examples=False` turns it off);
`check_examples(ruleset)` runs the same check on any RuleSet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .compile import compile_rules, needs_a_term, parse_alias_entry
from .durations import digest_problem, duration_problem
from .exceptions import RulesError, RuleSyntaxError
from .gc_pause import gc_paused
from .match import Matcher
from .query import AliasRef, Field, Node, Term, parse_query, walk
from .types import (
    FIELDS,
    PROGRESS_STEP,
    SEVERITIES,
    Document,
    LoadProgress,
    Problem,
    Rule,
    RuleExample,
    RuleSet,
    SourceLocation,
)
from .yaml_checks import (
    INVALID,
    Report,
    check_bool,
    check_nonempty_str,
    check_str,
    check_str_list,
    checked_key,
    get,
    is_null,
    mapping_items,
    suggest,
)
from .yaml_source import (
    FastParserRefused,
    MappingNode,
    ScalarNode,
    SequenceNode,
    TopPart,
    YamlProblem,
    location,
    position_in_scalar,
    scalar_value,
    top_level,
)

__all__ = ["load_rules", "load_compiled_rules", "check_examples", "RULE_KEYS", "EXAMPLE_KEYS"]

TOP_KEYS = ("aliases", "rules")
RULE_KEYS = (
    "id", "name", "description", "query", "severity", "channels", "fields",
    "feeds", "enabled", "throttle", "digest", "tests",
)  # fmt: skip
EXAMPLE_KEYS = ("title", "text", "match")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ALIAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass
class _Alias:
    entries: tuple[str, ...]
    terms: tuple[Term, ...]
    location: SourceLocation


@dataclass
class _File:
    name: str
    text: str
    merged: dict[str, _Alias] = field(default_factory=dict)  # the aliases of the files before it
    aliases: dict[str, _Alias] = field(default_factory=dict)
    conflicting: set[str] = field(default_factory=set)

    def forget_aliases(self) -> None:
        """As before the file was read (it is read again, or gives nothing)."""
        self.aliases.clear()
        self.conflicting.clear()


@gc_paused()
def load_rules(
    sources: list[tuple[str, str]],
    known_channels: set[str] | None = None,
    known_feeds: set[str] | None = None,
    *,
    examples: bool = True,
    progress: LoadProgress | None = None,
) -> RuleSet:
    """Parse and validate rules files given as (file name, YAML text) pairs.

    known_channels: when given, a rule naming another channel is an error.
    known_feeds: when given, a rule naming another feed gets a warning.
    examples: also run every rule's `tests:` examples (see check_examples).
    progress: told how far reading, compiling and the examples have gone.
    """
    ruleset, trees, alias_terms, order = _read_sources(sources, known_channels, known_feeds, progress)
    if examples and any(r.tests for r in ruleset.rules):
        matcher = compile_rules(ruleset.rules, ruleset.aliases, trees, progress, alias_terms)
        ruleset = _with_example_failures(ruleset, matcher, order, progress)
    return ruleset


@gc_paused()
def load_compiled_rules(
    sources: list[tuple[str, str]],
    known_channels: set[str] | None = None,
    known_feeds: set[str] | None = None,
    progress: LoadProgress | None = None,
) -> tuple[RuleSet, Matcher]:
    """`load_rules` with its examples run, and the Matcher of its valid rules.

    The examples need the matcher anyway: compiling 20,000 rules once instead of
    twice saves seconds, and each query is parsed once, not once per step.
    """
    ruleset, trees, alias_terms, order = _read_sources(sources, known_channels, known_feeds, progress)
    matcher = compile_rules(ruleset.rules, ruleset.aliases, trees, progress, alias_terms)
    if any(r.tests for r in ruleset.rules):
        ruleset = _with_example_failures(ruleset, matcher, order, progress)
    return ruleset, matcher


def _read_sources(
    sources: list[tuple[str, str]],
    known_channels: set[str] | None,
    known_feeds: set[str] | None,
    progress: LoadProgress | None = None,
) -> tuple[RuleSet, dict[str, Node], dict[str, tuple[Term, ...]], dict[str, int]]:
    """The RuleSet without its examples run, each valid query's tree, each alias's terms
    (so the compiler does not parse the entries again) and each file's place.

    Files are read in order, each rule as soon as it is composed (see yaml_source.top_level):
    a rule's nodes are gone before the next rule's are made."""
    report = Report()
    merged: dict[str, _Alias] = {}  # every good file's aliases so far, in one namespace
    rules: list[Rule] = []
    trees: dict[str, Node] = {}
    first_seen: dict[str, SourceLocation] = {}
    count = _Count(progress, sum(text.count("- id:") + text.count("{id:") for _, text in sources))
    for name, text in sources:
        file = _File(name, text, merged=merged)
        read = _read_file(file, _RuleReader(file, known_channels, known_feeds, trees, count))
        if isinstance(read, Problem):
            report.problems.append(read)  # a file YAML cannot read gives no rules and no aliases
            continue
        report.problems.extend(read.report.problems)
        report.warnings.extend(read.report.warnings)
        for alias_name, alias in file.aliases.items():
            merged.setdefault(alias_name, alias)
        for rule, id_where in read.rules:
            assert rule.location is not None
            if rule.id in first_seen:
                report.error(id_where, f"duplicate rule id {rule.id!r} (first defined at {first_seen[rule.id]})")
                continue
            first_seen[rule.id] = rule.location
            rules.append(rule)
    count.done()
    order = {name: i for i, (name, _) in enumerate(sources)}
    aliases = {alias_name: alias.entries for alias_name, alias in merged.items()}
    alias_terms = {alias_name: alias.terms for alias_name, alias in merged.items()}
    ruleset = RuleSet(tuple(rules), aliases, _by_place(report.problems, order), _by_place(report.warnings, order))
    return ruleset, trees, alias_terms, order


class _Count:
    """Rules read so far, told to `progress` every PROGRESS_STEP rules; the total is
    guessed from the text ("- id:" and "{id:"; a rule written another way only makes the
    guess low)."""

    def __init__(self, progress: LoadProgress | None, expected: int):
        self.progress = progress
        self.expected = expected
        self.number = 0

    def one(self) -> None:
        self.number += 1
        if self.progress is not None and self.number % PROGRESS_STEP == 0:
            self.progress("reading rules", self.number, max(self.expected, self.number))

    def rewind_to(self, number: int) -> None:
        self.number = number

    def done(self) -> None:
        if self.progress is not None:
            self.progress("reading rules", self.number, self.number)


@dataclass
class _FileRead:
    rules: list[tuple[Rule, SourceLocation]]  # each with where its id is written
    report: Report


@dataclass
class _RuleReader:
    """Reads one rule node into a Rule for its file; counts it."""

    file: _File
    known_channels: set[str] | None
    known_feeds: set[str] | None
    trees: dict[str, Node]
    count: _Count

    def __call__(self, node: MappingNode, report: Report) -> tuple[Rule, SourceLocation] | None:
        """The rule with where its id is written; None when it has a problem (reported)."""
        self.count.one()
        rule = _read_rule(self.file, node, report, self.known_channels, self.known_feeds, self.trees)
        if rule is None:
            return None
        assert rule.location is not None
        id_node = get(node, "id")
        return rule, location(self.file.name, id_node) if id_node is not None else rule.location


def _read_file(file: _File, read_rule: _RuleReader) -> _FileRead | Problem:
    """One file's rules and problems, or the one problem that YAML cannot read it."""
    counted = read_rule.count.number
    try:
        try:
            return _read_parts(file, top_level(file.text), read_rule)
        except FastParserRefused:  # read again from the start, by the parser that names the problem
            file.forget_aliases()
            read_rule.count.rewind_to(counted)
            return _read_parts(file, top_level(file.text, pure=True), read_rule)
    except YamlProblem as e:
        file.forget_aliases()
        return Problem(SourceLocation(file.name, e.line, e.column), e.message)


def _read_parts(file: _File, parts: Iterator[TopPart], read_rule: _RuleReader) -> _FileRead:
    report = Report()
    read: list[tuple[Rule, SourceLocation] | None] = []  # in file order; None: a problem
    seen: dict[str, Any] = {}  # top-level key -> its node
    # Rules that use an alias, composed before the file's aliases were read: their place in
    # `read` and their node. The others are read at once, so their nodes go at once.
    waiting: list[tuple[int, MappingNode]] = []
    rules_key: Any = None  # the key node whose list items are this file's rules
    for part in parts:
        if part.kind == "root":
            report.error(location(file.name, part.value), "a rules file is a mapping with 'aliases' and 'rules'")
            continue
        if part.kind == "item":
            if part.key is not rules_key:
                continue  # an item of a list that is not the rules (its key was reported)
            if not isinstance(part.value, MappingNode):
                report.error(location(file.name, part.value), "each rule must be a mapping with at least 'id' and 'query'")
            elif "aliases" in seen or not _may_use_an_alias(part.value):
                read.append(read_rule(part.value, report))
            else:
                waiting.append((len(read), part.value))
                read.append(None)
            continue
        key = checked_key(file, part.key, report, TOP_KEYS, "at the top of the file", seen)
        if key == "aliases":
            _read_aliases(file, part.value, report)
            _note_conflicts(file, report)
            _read_waiting(waiting, read, read_rule, report)
        elif key == "rules" and not is_null(part.value):
            if isinstance(part.value, SequenceNode):
                rules_key = part.key
            else:
                report.error(location(file.name, part.value), "'rules' must be a list of rules (each item starting with '- id:')")
    _read_waiting(waiting, read, read_rule, report)
    return _FileRead([found for found in read if found is not None], report)


def _may_use_an_alias(node: MappingNode) -> bool:
    query = get(node, "query")
    return isinstance(query, ScalarNode) and "@" in query.value


def _read_waiting(
    waiting: list[tuple[int, MappingNode]], read: list[tuple[Rule, SourceLocation] | None], read_rule: _RuleReader,
    report: Report,
) -> None:
    for place, node in waiting:
        read[place] = read_rule(node, report)
    waiting.clear()


def _by_place(problems: list[Problem], order: dict[str, int]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: (order.get(p.location.file, 0), p.location.line, p.location.column)))


def _with_example_failures(
    ruleset: RuleSet, matcher: Matcher, order: dict[str, int], progress: LoadProgress | None
) -> RuleSet:
    failures = check_examples(ruleset, matcher, progress)
    if not failures:
        return ruleset
    return RuleSet(ruleset.rules, ruleset.aliases, _by_place([*ruleset.problems, *failures], order), ruleset.warnings)


def check_examples(
    ruleset: RuleSet, matcher: Matcher | None = None, progress: LoadProgress | None = None
) -> list[Problem]:
    """Run every rule's examples; a problem for each outcome that differs.

    An example is matched as an article whose title is `title` and whose
    summary and content are both `text`, whatever the rule's `enabled` and
    `feeds` say (its `fields` do apply).
    """
    if matcher is None:
        matcher = compile_rules(ruleset.rules, ruleset.aliases)
    problems = []
    total = len(ruleset.rules)
    for done, rule in enumerate(ruleset.rules, start=1):
        if progress is not None and (done % PROGRESS_STEP == 0 or done == total):
            progress("checking examples", done, total)
        for number, example in enumerate(rule.tests, start=1):
            doc = Document(title=example.title, summary=example.text, content=example.text)
            if matcher.query_is_true(rule.id, doc) == example.match:
                continue
            result = matcher.match_rule(rule.id, doc, check_enabled=False, check_feed=False)
            where = example.location or rule.location or SourceLocation("<rules>", 1, 1)
            if example.match:
                message = f"example {number} expected match: true but the rule did not match"
            else:
                found = ", ".join(f"{t.text!r} in {t.field}" for t in result.terms) if result else ""
                message = f"example {number} expected match: false but the rule matched ({found})"
            problems.append(Problem(where, f"rule {rule.id!r}: {message}"))
    return problems


# --- top level and aliases ----------------------------------------------------


def _read_aliases(file: _File, node: Any, report: Report) -> None:
    if is_null(node):
        return
    if not isinstance(node, MappingNode):
        report.error(location(file.name, node), "'aliases' must map names to lists of words or phrases")
        return
    for key_node, value in node.value:
        name = key_node.value if isinstance(key_node, ScalarNode) else None
        where = location(file.name, key_node)
        if not isinstance(name, str) or not _ALIAS_NAME.fullmatch(name):
            report.error(where, f"invalid alias name {name!r}: use letters, digits, '_' or '-'")
            continue
        if name in file.aliases:
            report.error(where, f"alias {name!r} is defined twice (first at {file.aliases[name].location})")
            continue
        if not isinstance(value, SequenceNode):
            report.error(location(file.name, value), f"alias {name!r} must be a list of words or phrases")
            continue
        if not value.value:
            report.error(where, f"alias {name!r} is empty: list at least one word or phrase")
            continue
        entries, terms, ok = [], [], True
        for item in value.value:
            term = _alias_entry(file, name, item, report)
            if term is None:
                ok = False
            else:
                entries.append(item.value)
                terms.append(term)
        if ok:
            file.aliases[name] = _Alias(tuple(entries), tuple(terms), where)


def _alias_entry(file: _File, name: str, item: Any, report: Report) -> Term | None:
    where = location(file.name, item)
    if not isinstance(item, ScalarNode) or not isinstance(scalar_value(item), str):
        report.error(where, f"alias {name!r}: each entry must be a word or a phrase")
        return None
    try:
        return parse_alias_entry(item.value)
    except RuleSyntaxError as e:
        # A multi-word entry was parsed as a quoted phrase: one column to take back.
        shift = 0 if item.value.strip().startswith('"') or len(item.value.split()) < 2 else 1
        report.error(_in_scalar(file, item, max(1, e.column - shift)), f"alias {name!r}: {e.message}")
    except RulesError as e:
        report.error(where, f"alias {name!r}: {e}")
    return None


def _note_conflicts(file: _File, report: Report) -> None:
    """All files share one alias namespace: an alias that an earlier file defines
    differently is a problem here, and the rules of this file cannot use it."""
    for name, alias in file.aliases.items():
        other = file.merged.get(name)
        if other is not None and other.terms != alias.terms:
            report.error(
                alias.location,
                f"alias {name!r} is defined differently at {other.location}; all files share alias names, so rename one",
            )
            file.conflicting.add(name)


# --- rules --------------------------------------------------------------------


def _read_rule(
    file: _File,
    node: MappingNode,
    report: Report,
    known_channels: set[str] | None,
    known_feeds: set[str] | None,
    trees: dict[str, Node],
) -> Rule | None:
    before = len(report.problems)
    where = location(file.name, node)
    values: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    id_node = get(node, "id")
    rule_id = id_node.value if isinstance(id_node, ScalarNode) and isinstance(scalar_value(id_node), str) else None
    what = f"rule {rule_id!r}" if rule_id else f"the rule at line {where.line}"
    for key, value in mapping_items(file, node, report, RULE_KEYS, f"in {what}"):
        nodes[key] = value
        check = _RULE_CHECKS[key]
        result = check(file, key, value, report)
        if result is not INVALID:
            values[key] = result
    for required in ("id", "query"):
        if required not in nodes:
            report.error(where, f"{what} has no {required!r}")
    if "id" in values and not _ID.fullmatch(values["id"]):
        report.error(location(file.name, nodes["id"]), f"invalid rule id {values['id']!r}: use letters, digits, '.', '_' or '-'")
    fields = tuple(f for f in FIELDS if f in values.get("fields", FIELDS))  # canonical order, once each
    if "query" in values:
        tree = _check_query(file, what, nodes["query"], values["query"], fields, report)
        if tree is not None:
            trees[values["query"]] = tree
    if "channels" in values and known_channels is not None:
        for item, channel in zip(nodes["channels"].value, values["channels"]):
            if channel not in known_channels:
                report.error(location(file.name, item), f"unknown channel {channel!r}{suggest(channel, known_channels, True)}")
    if "feeds" in values and known_feeds is not None:
        for item, feed in zip(nodes["feeds"].value, values["feeds"]):
            if feed not in known_feeds:
                report.warn(location(file.name, item), f"no feed is named {feed!r}{suggest(feed, known_feeds, False)}")
    if len(report.problems) > before:
        return None
    examples = tuple(values.get("tests", ()))
    return Rule(
        id=values["id"],
        query=values["query"],
        severity=values.get("severity", "medium"),
        name=values.get("name", ""),
        description=values.get("description", ""),
        channels=tuple(values["channels"]) if "channels" in values else None,
        fields=fields,
        feeds=tuple(values["feeds"]) if "feeds" in values else None,
        enabled=values.get("enabled", True),
        throttle=values.get("throttle"),
        digest=values.get("digest"),
        tests=examples,
        location=where,
    )


def _check_query(
    file: _File, what: str, node: ScalarNode, query: str, fields: tuple[str, ...], report: Report
) -> Node | None:
    """The query's tree, or None when it has a problem (reported)."""
    try:
        tree = parse_query(query)
    except RuleSyntaxError as e:
        report.error(_in_scalar(file, node, e.column), f"query: {_file_columns(file, node, e.message)}")
        return None
    usable = True
    for sub in walk(tree):
        if isinstance(sub, AliasRef) and (sub.name not in file.aliases or sub.name in file.conflicting):
            usable = False
            if sub.name in file.conflicting:
                message = f"alias @{sub.name} is defined differently in another file"
            else:
                message = f"unknown alias @{sub.name}{suggest(sub.name, set(file.aliases), False, '@')}"
            report.error(_in_scalar(file, node, sub.column), f"query: {message}")
        elif isinstance(sub, Field) and sub.field not in fields:
            report.error(
                _in_scalar(file, node, sub.column),
                f"query: '{sub.field}:' can never match: {what} only looks at {', '.join(fields)}",
            )
    if not usable:
        return None
    if not needs_a_term(tree):
        report.error(
            _in_scalar(file, node, 1),
            "query: it could match an article that has none of its words (only NOT); add a word it must find,"
            " e.g. 'gold NOT silver' rather than 'NOT silver'",
        )
        return None
    return tree


def _check_examples_node(file: _File, key: str, node: Any, report: Report) -> Any:
    if not isinstance(node, SequenceNode):
        report.error(location(file.name, node), "'tests' must be a list of examples like {title: ..., match: true}")
        return INVALID
    examples = []
    for number, item in enumerate(node.value, start=1):
        where = location(file.name, item)
        if not isinstance(item, MappingNode):
            report.error(where, f"example {number} must be a mapping with 'title' and/or 'text' and 'match'")
            continue
        values: dict[str, Any] = {}
        for k, v in mapping_items(file, item, report, EXAMPLE_KEYS, f"in example {number}"):
            if k == "match":
                values[k] = check_bool(file, k, v, report)
            else:
                values[k] = check_str(file, k, v, report)
        if "match" not in values:
            report.error(where, f"example {number} has no 'match: true' or 'match: false'")
        if not values.get("title") and not values.get("text"):
            report.error(where, f"example {number} needs a 'title' or a 'text'")
        if any(v is INVALID for v in values.values()) or "match" not in values:
            continue
        examples.append(RuleExample(values.get("title") or "", values.get("text") or "", values["match"], where))
    return examples


def _check_fields(file: _File, key: str, node: Any, report: Report) -> Any:
    items = check_str_list(file, key, node, report)
    if items is INVALID:
        return items
    ok = True
    for item, value in zip(node.value, items):
        if value not in FIELDS:
            report.error(location(file.name, item), f"unknown field {value!r}{suggest(value, set(FIELDS), True)}")
            ok = False
    if ok and not items:
        report.error(location(file.name, node), "'fields' is empty: list at least one of title, summary, content")
        ok = False
    return items if ok else INVALID


def _check_severity(file: _File, key: str, node: Any, report: Report) -> Any:
    value = check_str(file, key, node, report)
    if value is not INVALID and value not in SEVERITIES:
        report.error(location(file.name, node), f"unknown severity {value!r}{suggest(value, set(SEVERITIES), True)}")
        return INVALID
    return value


def _checked_str(problem_of: Callable[[str], str | None]) -> Callable[[_File, str, Any, Report], Any]:
    """A string key whose value `problem_of` validates (None: fine, else the message)."""

    def check(file: _File, key: str, node: Any, report: Report) -> Any:
        value = check_str(file, key, node, report)
        problem = problem_of(value) if value is not INVALID else None
        if problem:
            report.error(location(file.name, node), problem)
            return INVALID
        return value

    return check


_check_throttle = _checked_str(duration_problem)
_check_digest = _checked_str(digest_problem)


_RULE_CHECKS: dict[str, Callable[[_File, str, Any, Report], Any]] = {
    "id": check_nonempty_str,
    "name": check_str,
    "description": check_str,
    "query": check_nonempty_str,
    "severity": _check_severity,
    "channels": check_str_list,
    "fields": _check_fields,
    "feeds": check_str_list,
    "enabled": check_bool,
    "throttle": _check_throttle,
    "digest": _check_digest,
    "tests": _check_examples_node,
}


# --- helpers ------------------------------------------------------------------


def _in_scalar(file: _File, node: ScalarNode, column: int) -> SourceLocation:
    line, col = position_in_scalar(file.text, node, column - 1)
    return SourceLocation(file.name, line, col)


def _file_columns(file: _File, node: ScalarNode, message: str) -> str:
    """Rewrite "at column N" (of the query) in a parser message as a file position."""

    def replace(m: re.Match[str]) -> str:
        where = _in_scalar(file, node, int(m.group(1)))
        return f"at line {where.line}, column {where.column}"

    return re.sub(r"at column (\d+)", replace, message)


