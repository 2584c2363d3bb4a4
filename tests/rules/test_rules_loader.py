"""Rules files: every problem with its FILE:LINE:COL, and good rules still load."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules import RuleSet, check_examples, compile_rules, load_rules
from rules.types import Document, Rule, RuleExample, SourceLocation

PACK = Path(__file__).resolve().parents[2] / "rules" / "packs" / "minerals-diplomacy.yaml"


def load(text: str, name: str = "r.yaml", **kwargs) -> RuleSet:
    return load_rules([(name, textwrap.dedent(text).lstrip("\n"))], **kwargs)


def problems(text: str, **kwargs) -> list[str]:
    return [str(p) for p in load(text, **kwargs).problems]


def test_a_good_file() -> None:
    ruleset = load(
        """
        aliases:
          ussm: ["United States Strategic Metals", USSM]
          metals: [antimony, tungsten, "rare earth*"]
        rules:
          - id: ussm-metals
            name: USSM and metals
            description: USSM with a metal
            query: '@ussm AND @metals'
            severity: high
            channels: [email, slack]
            fields: [title, summary]
            feeds: [dawn]
            enabled: yes
            throttle: 1h30m
            digest: "0 7 * * mon-fri"
            tests:
              - title: USSM to export antimony
                match: true
              - {text: "United States Strategic Metals and rare earths", match: true}
              - {title: "ussm antimony", match: false}
          - id: plain
            query: gold
        """,
        known_channels={"email", "slack"},
        known_feeds={"dawn"},
    )
    assert ruleset.problems == () and ruleset.warnings == () and ruleset.ok
    assert ruleset.aliases == {
        "ussm": ("United States Strategic Metals", "USSM"),
        "metals": ("antimony", "tungsten", "rare earth*"),
    }
    first, plain = ruleset.rules
    assert first == Rule(
        id="ussm-metals",
        query="@ussm AND @metals",
        severity="high",
        name="USSM and metals",
        description="USSM with a metal",
        channels=("email", "slack"),
        fields=("title", "summary"),
        feeds=("dawn",),
        enabled=True,
        throttle="1h30m",
        digest="0 7 * * mon-fri",
        tests=(
            RuleExample("USSM to export antimony", "", True, SourceLocation("r.yaml", 17, 9)),
            RuleExample("", "United States Strategic Metals and rare earths", True, SourceLocation("r.yaml", 19, 9)),
            RuleExample("ussm antimony", "", False, SourceLocation("r.yaml", 20, 9)),
        ),
        location=SourceLocation("r.yaml", 5, 5),
    )
    assert plain == Rule(id="plain", query="gold", location=SourceLocation("r.yaml", 21, 5))
    matcher = compile_rules(ruleset.rules, ruleset.aliases)
    assert [m.rule_id for m in matcher.match(Document(title="USSM rare earths", feed="dawn"))] == ["ussm-metals"]


def test_empty_files_are_fine() -> None:
    assert load("").ok
    assert load("# nothing yet\n").ok
    assert load("rules:\n").ok


def test_yaml_syntax_error_position() -> None:
    assert problems(
        """
        rules:
          - id: a
            query: "gold
        """
    ) == ["r.yaml:4:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)"]
    (problem,) = problems("rules:\n  - id: a\n   query: gold\n")
    assert problem.startswith("r.yaml:3:4: YAML syntax error: expected <block end>")


def test_every_problem_is_reported_and_good_rules_still_load() -> None:
    ruleset = load(
        """
        aliases:
          ussm: [USSM]
          empty: []
          bad: [gold OR silver]
        rules:
          - id: good
            query: antimony
          - id: typo
            quey: gold
            severity: hgih
          - id: good
            query: silver
          - query: copper
          - id: alias
            query: gold AND @usm
          - id: negation
            query: NOT gold
          - id: types
            query: gold
            enabled: maybe
            channels: email
            fields: [title, body]
            throttle: 5x
            digest: "0 25 * * *"
            tests: [{title: gold}]
          - id: "bad id!"
            query: gold
          - just a string
        """,
        known_channels={"email"},
    )
    assert [r.id for r in ruleset.rules] == ["good"]
    assert [str(p) for p in ruleset.problems] == [
        "r.yaml:3:3: alias 'empty' is empty: list at least one word or phrase",
        "r.yaml:4:9: alias 'bad': entry 'gold OR silver': entries are single words or phrases;"
        " list alternatives as separate entries",
        "r.yaml:8:5: rule 'typo' has no 'query'",
        "r.yaml:9:5: unknown key 'quey' in rule 'typo'; did you mean 'query'?",
        "r.yaml:10:15: unknown severity 'hgih'; did you mean 'high'?",
        "r.yaml:11:9: duplicate rule id 'good' (first defined at r.yaml:6:5)",
        "r.yaml:13:5: the rule at line 13 has no 'id'",
        "r.yaml:15:21: query: unknown alias @usm; did you mean @ussm?",
        "r.yaml:17:12: query: it could match an article that has none of its words (only NOT); add a word it must"
        " find, e.g. 'gold NOT silver' rather than 'NOT silver'",
        "r.yaml:20:14: 'enabled' must be true or false",
        "r.yaml:21:15: 'channels' must be a list, e.g. channels: [a, b]",
        "r.yaml:22:21: unknown field 'body' (known: content, summary, title)",
        "r.yaml:23:15: invalid duration '5x': write a number and a unit s, m, h or d, e.g. 90s, 15m, 2h, 1d",
        "r.yaml:24:13: invalid digest '0 25 * * *': hour field '25': 25 is outside 0-23",
        "r.yaml:25:13: example 1 has no 'match: true' or 'match: false'",
        "r.yaml:26:9: invalid rule id 'bad id!': use letters, digits, '.', '_' or '-'",
        "r.yaml:28:5: each rule must be a mapping with at least 'id' and 'query'",
    ]


@pytest.mark.parametrize(
    "query_yaml, position, message",
    [
        # plain scalar: the offending token itself
        ("query: gold AND (silver OR", "3:31", "query: 'OR' needs a word, phrase or '(' after it"),
        ("query: gold NEAR silver", "3:17", "query: NEAR needs a distance like NEAR/5"),
        # the '(' it refers to, as a file position too
        ("query: (gold OR silver", "3:27", "query: expected ')' to close the '(' at line 3, column 12"),
        # double-quoted, with an escaped quote before the error
        ('query: "\\"rare earth\\" AND )"', "3:32", "query: expected a word, phrase or '(' after 'AND', found ')'"),
        # single-quoted, with a doubled quote
        ("query: 'O''Neill AND )'", "3:26", "query: expected a word, phrase or '(' after 'AND', found ')'"),
        ("query: 'gold )'", "3:18", "query: unexpected ')' with no matching '('"),
        # folded block scalar over two lines
        ("query: >-\n      gold AND\n      (silver OR @usm", "5:22", "query: expected ')' to close the '(' at line 5"),
        # literal block scalar, error on its second line
        ("query: |\n      gold AND\n      silver NEAR copper", "5:14", "query: NEAR needs a distance"),
        # unknown alias inside a block scalar
        ("query: |\n      gold AND\n      @nope", "5:7", "query: unknown alias @nope"),
        # plain scalar over two lines
        ("query: gold AND\n      NEAR/3 x", "4:7", "query: expected a word, phrase or '(' after 'AND', found 'NEAR/3'"),
    ],
)
def test_query_errors_point_into_the_file(query_yaml: str, position: str, message: str) -> None:
    text = "rules:\n  - id: q\n    " + query_yaml + "\n"
    (problem,) = load_rules([("q.yaml", text)]).problems
    assert str(problem.location) == f"q.yaml:{position}"
    assert problem.message.startswith(message), problem.message


def test_field_scope_outside_the_rule_fields() -> None:
    assert problems(
        """
        rules:
          - id: a
            query: gold AND summary:silver
            fields: [title]
        """
    ) == ["r.yaml:3:21: query: 'summary:' can never match: rule 'a' only looks at title"]


def test_channels_and_feeds_are_checked_when_known() -> None:
    ruleset = load(
        """
        rules:
          - id: a
            query: gold
            channels: [emial, slack]
            feeds: [dawn, reuter]
        """,
        known_channels={"email", "slack"},
        known_feeds={"dawn", "reuters"},
    )
    assert [str(p) for p in ruleset.problems] == ["r.yaml:4:16: unknown channel 'emial'; did you mean 'email'?"]
    assert [str(p) for p in ruleset.warnings] == ["r.yaml:5:19: no feed is named 'reuter'; did you mean 'reuters'?"]
    assert ruleset.rules == ()
    unchecked = load("rules:\n  - id: a\n    query: gold\n    channels: [anything]\n    feeds: [x]\n")
    assert unchecked.ok and unchecked.rules[0].channels == ("anything",) and unchecked.rules[0].feeds == ("x",)


def test_only_feed_warnings_leave_the_rule_loaded() -> None:
    ruleset = load("rules:\n  - id: a\n    query: gold\n    feeds: [nope]\n", known_feeds={"dawn"})
    assert ruleset.ok and [r.id for r in ruleset.rules] == ["a"]
    assert [p.message for p in ruleset.warnings] == ["no feed is named 'nope'"]


def test_wrong_types() -> None:
    assert problems(
        """
        rules:
          - id: 2024-01-02
            query: [gold]
            name: 12
            severity: 3
          - id: b
            query: ""
          - id: c
            query: gold
            tests: {title: x, match: true}
        """
    ) == [
        "r.yaml:2:9: 'id' must be text (put it in quotes)",
        "r.yaml:3:12: 'query' must be text",
        "r.yaml:4:11: 'name' must be text (put it in quotes)",
        "r.yaml:5:15: 'severity' must be text (put it in quotes)",
        "r.yaml:7:12: 'query' is empty",
        "r.yaml:10:12: 'tests' must be a list of examples like {title: ..., match: true}",
    ]


def test_top_level_shape() -> None:
    assert problems("- id: a\n") == ["r.yaml:1:1: a rules file is a mapping with 'aliases' and 'rules'"]
    assert problems("rule:\n  - id: a\n") == ["r.yaml:1:1: unknown key 'rule' at the top of the file; did you mean 'rules'?"]
    assert problems("rules: {id: a}\n") == [
        "r.yaml:1:8: 'rules' must be a list of rules (each item starting with '- id:')"
    ]
    assert problems("rules: []\nrules: []\n") == ["r.yaml:2:1: duplicate key 'rules' at the top of the file (first at line 1)"]
    assert problems("aliases: [a]\n") == ["r.yaml:1:10: 'aliases' must map names to lists of words or phrases"]


def test_alias_problems() -> None:
    assert problems(
        """
        aliases:
          ok: [gold]
          ok: [silver]
          "bad name": [x]
          notalist: gold
          syntax: ['"unclosed']
          nested: ["@ok"]
        rules: []
        """
    ) == [
        "r.yaml:3:3: alias 'ok' is defined twice (first at r.yaml:2:3)",
        "r.yaml:4:3: invalid alias name 'bad name': use letters, digits, '_' or '-'",
        "r.yaml:5:13: alias 'notalist' must be a list of words or phrases",
        "r.yaml:6:13: alias 'syntax': unterminated phrase: no closing '\"' for the '\"' at column 1",
        "r.yaml:7:12: alias 'nested': entry '@ok': entries are single words or phrases;"
        " list alternatives as separate entries",
    ]


def test_aliases_belong_to_their_file() -> None:
    a = "aliases:\n  pk: [Pakistan]\nrules:\n  - id: a\n    query: '@pk'\n"
    b = "rules:\n  - id: b\n    query: '@pk AND gold'\n"
    c = "aliases:\n  pk: [Balochistan]\nrules:\n  - id: c\n    query: '@pk'\n"
    ruleset = load_rules([("a.yaml", a), ("b.yaml", b), ("c.yaml", c)])
    assert [str(p) for p in ruleset.problems] == [
        "b.yaml:3:13: query: unknown alias @pk",
        "c.yaml:2:3: alias 'pk' is defined differently at a.yaml:2:3; all files share alias names, so rename one",
        "c.yaml:5:13: query: alias @pk is defined differently in another file",
    ]
    assert [r.id for r in ruleset.rules] == ["a"]
    same = load_rules([("a.yaml", a), ("d.yaml", a.replace("id: a", "id: d"))])
    assert same.ok and [r.id for r in same.rules] == ["a", "d"]


def test_duplicate_ids_across_files() -> None:
    ruleset = load_rules([("a.yaml", "rules:\n  - id: x\n    query: gold\n"), ("b.yaml", "rules:\n  - {id: x, query: tin}\n")])
    assert [str(p) for p in ruleset.problems] == ["b.yaml:2:10: duplicate rule id 'x' (first defined at a.yaml:2:5)"]
    assert [r.query for r in ruleset.rules] == ["gold"]


def test_examples_are_checked() -> None:
    ruleset = load(
        """
        rules:
          - id: a
            query: antimony AND Pakistan
            fields: [title]
            enabled: false
            feeds: [dawn]
            tests:
              - {title: "Pakistan to export antimony", match: true}
              - {title: "Antimony prices", match: true}
              - {title: "Antimony from Pakistan", match: false}
              - {text: "antimony in Pakistan", match: true}
        """
    )
    assert [str(p) for p in ruleset.problems] == [
        "r.yaml:9:9: rule 'a': example 2 expected match: true but the rule did not match",
        "r.yaml:10:9: rule 'a': example 3 expected match: false but the rule matched"
        " ('Antimony' in title, 'Pakistan' in title)",
        "r.yaml:11:9: rule 'a': example 4 expected match: true but the rule did not match",
    ]
    # the rule is well formed, so it is loaded; its failures make the set not ok
    assert [r.id for r in ruleset.rules] == ["a"] and not ruleset.ok
    assert load("rules:\n  - id: a\n    query: x\n    tests: [{title: y, match: true}]\n", examples=False).ok
    assert len(check_examples(ruleset)) == 3


def test_unknown_key_in_example() -> None:
    assert problems("rules:\n  - id: a\n    query: x\n    tests: [{titel: x, match: true}]\n") == [
        "r.yaml:4:13: example 1 needs a 'title' or a 'text'",
        "r.yaml:4:14: unknown key 'titel' in example 1; did you mean 'title'?",
    ]


def test_bundled_pack_loads_clean() -> None:
    if not PACK.exists():
        pytest.skip("no bundled pack")
    ruleset = load_rules([(PACK.name, PACK.read_text(encoding="utf-8"))])
    assert ruleset.problems == ()
    assert len(ruleset.rules) > 10
    compile_rules(ruleset.rules, ruleset.aliases)


@pytest.mark.parametrize("value", ["!!int abc", "!!float zz", "!!timestamp 2024-13-45", "!!bool maybe", "!!bool yes"])
def test_an_explicit_tag_its_text_does_not_fit_is_a_problem_not_a_crash(value: str) -> None:
    # `!!bool maybe` raised KeyError and `!!int abc` ValueError out of the loader (exit 70).
    text = f"rules:\n  - id: a\n    query: gold\n    enabled: {value}\n"
    ruleset = load_rules([("r.yaml", text)])
    if value == "!!bool yes":
        assert ruleset.ok and ruleset.rules[0].enabled is True
    else:
        assert [str(p) for p in ruleset.problems] == ["r.yaml:4:14: 'enabled' must be true or false"]
