"""Large rules files (issue 16.11): composed by libyaml when PyYAML has it, with positions
that still point at the right FILE:LINE:COL at the end of a 2,000-rule file.

Correctness, not speed: bench/bench_rules_scale.py times the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from rules import load_compiled_rules, load_rules, parse_query
from rules.compile import KeyRegistry, necessary_clauses, needs_a_term, plan_query
from rules.query import Term
from rules.yaml_source import FAST_LOADER, compose

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from make_big_rules import rules_yaml  # noqa: E402

BIG = rules_yaml(2000, seed=3)


def _position(text: str, needle: str, shift: int = 0) -> str:
    """LINE:COL (1-based) of the first character of `needle` in text, plus shift columns."""
    at = text.index(needle) + shift
    return f"{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}"


def test_the_c_loader_is_used_when_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml: the pure parser is the only one")
    assert FAST_LOADER is yaml.CSafeLoader
    root = compose("rules: []\n")
    # libyaml's marks carry no buffer to quote; the pure parser's carry the whole text.
    assert root is not None and root.start_mark.buffer is None


def test_a_2000_rule_file_loads_and_its_examples_pass() -> None:
    ruleset, matcher = load_compiled_rules([("big.yaml", BIG)])
    assert ruleset.ok, ruleset.problems[:3]
    assert len(ruleset.rules) == len(matcher) == 2000


def test_a_query_error_at_the_end_of_a_big_file_points_at_its_token() -> None:
    text = BIG + '\n  - id: planted\n    query: "copper AND @no_such_alias"\n'
    (problem,) = load_rules([("big.yaml", text)]).problems
    assert str(problem) == f"big.yaml:{_position(text, '@no_such_alias')}: query: unknown alias @no_such_alias"


def test_a_yaml_error_at_the_end_of_a_big_file_reads_as_the_pure_parser_says() -> None:
    text = BIG + '\n  - id: planted\n    query: "gold\n'
    (problem,) = load_rules([("big.yaml", text)]).problems
    end = text.count("\n") + 1
    assert str(problem) == f"big.yaml:{end}:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)"


def test_an_urdu_entry_error_points_at_the_right_column() -> None:
    # libyaml's marks count characters, as the pure parser's do, not UTF-8 bytes.
    text = BIG.replace("aliases:\n", 'aliases:\n  planted: ["پاکستان", "سونا OR تانبا"]\n', 1)
    (problem,) = load_rules([("big.yaml", text)]).problems
    entry = _position(text, '"سونا OR')  # the entry's opening quote
    assert str(problem).startswith(f"big.yaml:{entry}: alias 'planted':")


@pytest.mark.parametrize(
    "query",
    [
        "gold", "NOT gold", "gold NOT silver", "NOT (gold OR tin)", "gold OR NOT tin", "(NOT gold) AND (NOT tin)",
        "title:(NOT gold)", "title:gold OR content:tin", "@metals", "@metals OR NOT tin", "gold NEAR/3 tin",
        "NOT (gold NEAR/2 tin) AND silver", '"rare earth*" AND NOT @metals', "(gold AND NOT tin) OR (silver AND NOT zinc)",
    ],
)  # fmt: skip
def test_needs_a_term_says_what_the_plan_says(query: str) -> None:
    tree = parse_query(query)
    aliases = {"metals": (Term("gold"), Term("tin"))}
    assert needs_a_term(tree) == bool(necessary_clauses(plan_query(tree, aliases, KeyRegistry())))


def test_loading_reports_its_progress_stage_by_stage() -> None:
    seen: list[tuple[str, int, int]] = []
    load_compiled_rules([("big.yaml", BIG)], progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages == ["reading rules", "compiling rules", "checking examples"]
    for stage in stages:
        counts = [done for s, done, _ in seen if s == stage]
        assert counts == sorted(counts) and counts[-1] == 2000 and len(counts) >= 4  # every 500 rules and at the end
