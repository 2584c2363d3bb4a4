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
from rules.yaml_source import FAST_LOADER, MAX_DEPTH, FastParserRefused, YamlProblem, _problem, top_level

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from make_big_rules import rules_yaml  # noqa: E402

BIG = rules_yaml(2000, seed=3)


def compose(text: str):
    """The whole node tree as `yaml.compose` makes it (libyaml, else the pure parser, whose
    errors the loader reports): what `top_level` must give, part by part."""
    if FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=FAST_LOADER)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise _problem(text, error) from error


def _position(text: str, needle: str, shift: int = 0) -> str:
    """LINE:COL (1-based) of the first character of `needle` in text, plus shift columns."""
    at = text.index(needle) + shift
    return f"{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}"


def test_the_c_loader_is_used_when_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml: the pure parser is the only one")
    assert FAST_LOADER is yaml.CSafeLoader
    (part,) = top_level("rules: []\n")
    # libyaml's marks carry no buffer to quote; the pure parser's carry the whole text.
    assert part.value.start_mark.buffer is None
    (pure,) = top_level("rules: []\n", pure=True)
    assert pure.value.start_mark.buffer is not None


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


# --- one rule at a time (yaml_source.top_level) ---------------------------------------


def _signature(node):
    """Everything of a node the loader reads: kind, tag, value, style and marks."""
    mark = (type(node).__name__, node.tag, node.start_mark.line, node.start_mark.column, node.start_mark.index)
    if isinstance(node, yaml.ScalarNode):
        return (*mark, node.end_mark.index, node.value, node.style or None)
    if isinstance(node, yaml.MappingNode):
        return (*mark, node.end_mark.index, tuple((_signature(k), _signature(v)) for k, v in node.value))
    return (*mark, node.end_mark.index, tuple(_signature(item) for item in node.value))


def _from_parts(text: str, pure: bool) -> object:
    entries: list[list] = []
    for part in top_level(text, pure):
        if part.kind == "root":
            return _signature(part.value)
        if part.kind == "entry":
            entries.append([part.key, part.value])
        else:
            entries[-1][1].value.append(part.value)  # an item of the entry's list
    return tuple((_signature(k), _signature(v)) for k, v in entries)


def _from_compose(text: str, loader: type) -> object:
    root = yaml.compose(text, Loader=loader)
    if root is None:
        return ()
    if isinstance(root, yaml.MappingNode):
        return tuple((_signature(k), _signature(v)) for k, v in root.value)
    return _signature(root)


TRICKY = [
    "", "# only a comment\n", "- 1\n- 2\n", "just text", "a: &x 1\nb: *x\n", "? [a, b]\n: c\n", "rules: []\n",
    "rules:\n- id: a\n  query: !!str 12\n  enabled: yes\n  when: 2024-01-02\n  empty:\n  null: ~\n  quoted: '1'\n",
    "aliases: {a: [x, 'y z']}\nrules:\n  - id: r\n    query: |\n      gold\n      silver\n    tests: [{title: t, match: true}]\n",
]
BROKEN = ["--- a\n--- b\n", "a: *nope\n", "a: &x 1\nb: &x 2\n", 'rules:\n  - id: a\n    query: "gold\n', "a: \x07\n", "a: [1,\n"]


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure"])
def test_top_level_parts_are_the_nodes_compose_makes(pure: bool) -> None:
    if not pure and FAST_LOADER is None:
        pytest.skip("PyYAML built without libyaml")
    data = Path(__file__).resolve().parents[1] / "data"
    packs = Path(__file__).resolve().parents[2] / "rules" / "packs"
    texts = [*TRICKY, BIG, *(p.read_text(encoding="utf-8") for p in [*data.glob("*.yaml"), *packs.glob("*.yaml")])]
    loader = yaml.SafeLoader if pure else FAST_LOADER
    for text in texts:
        assert _from_parts(text, pure) == _from_compose(text, loader), text[:80]


def test_a_broken_document_reads_as_compose_says() -> None:
    for text in BROKEN:
        with pytest.raises(YamlProblem) as composed:
            compose(text)
        with pytest.raises((FastParserRefused, YamlProblem)):
            list(top_level(text))
        with pytest.raises(YamlProblem) as streamed:
            list(top_level(text, pure=True))
        expected = composed.value
        assert (streamed.value.line, streamed.value.column, streamed.value.message) == (
            expected.line, expected.column, expected.message,
        ), text  # fmt: skip


NO_ALIASES = "rules:\n" + "".join(
    f"  - id: r{n}\n    query: 'gold{n} AND (tin OR \"rare earths\")'\n    severity: low\n"
    f"    tests:\n      - {{title: 'gold{n} and tin', match: true}}\n      - {{title: tin, match: false}}\n"
    for n in range(2000)
)


@pytest.mark.parametrize("text", [BIG, NO_ALIASES], ids=["aliases-first", "no-aliases"])
def test_loading_never_holds_the_whole_node_tree(text: str) -> None:
    # A rule's nodes are read and dropped before the next rule's are made (a rule that uses an
    # alias waits only while its file's aliases may still come): the whole load, rules and
    # query trees included, peaks below the node tree of the file alone.
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        root = compose(text)
        tree_peak = tracemalloc.get_traced_memory()[1]
        del root
        gc.collect()
        tracemalloc.reset_peak()
        ruleset = load_rules([("big.yaml", text)], examples=False)
        load_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ruleset.rules) == 2000 and ruleset.ok
    assert load_peak < tree_peak * 0.7, (load_peak, tree_peak)


def test_a_file_nested_deeper_than_any_rules_file_is_refused_at_once() -> None:
    # The composer is not recursive: 50,000 levels were parsed to the end (two minutes).
    text = "rules: " + "[" * 50_000 + "]" * 50_000 + "\n"
    (problem,) = load_rules([("deep.yaml", text)]).problems
    assert str(problem) == f"deep.yaml:1:{8 + MAX_DEPTH - 1}: YAML syntax error: nested more than {MAX_DEPTH} levels deep"


def test_rules_keep_their_file_order_when_some_wait_for_the_aliases() -> None:
    text = (
        "rules:\n  - {id: a, query: gold}\n  - {id: b, query: '@metals'}\n  - {id: c, query: tin}\n"
        "  - {id: a, query: lead}\naliases:\n  metals: [zinc]\n"
    )
    ruleset = load_rules([("r.yaml", text)])
    assert [r.id for r in ruleset.rules] == ["a", "b", "c"]
    assert [str(p) for p in ruleset.problems] == ["r.yaml:5:10: duplicate rule id 'a' (first defined at r.yaml:2:5)"]


def test_rules_before_aliases_and_a_file_broken_at_its_end() -> None:
    # Rules composed before their file's aliases wait for them; a file that YAML cannot
    # read to its end gives no rules and no aliases, though its first rules were read.
    first = "rules:\n  - {id: uses-alias, query: '@metals'}\naliases:\n  metals: [gold, tin]\n"
    broken = "aliases:\n  late: [lead]\nrules:\n  - {id: early, query: lead}\n  - {id: cut, query: \"gold\n"
    third = "rules:\n  - {id: needs-late, query: '@late'}\n"
    ruleset = load_rules([("a.yaml", first), ("b.yaml", broken), ("c.yaml", third)])
    assert [r.id for r in ruleset.rules] == ["uses-alias"]
    assert [str(p).split(": ", 1)[0] for p in ruleset.problems] == ["b.yaml:6:1", "c.yaml:2:30"]
    assert "unknown alias @late" in str(ruleset.problems[1])
    assert set(ruleset.aliases) == {"metals"}
