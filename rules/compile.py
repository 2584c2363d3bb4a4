"""Compile rules into one `Matcher` (DESIGN.md decision 4).

    rules --parse--> query trees --expand aliases, push field scopes down--> plans
    every term of every plan -> one KeySpec -> ONE Aho-Corasick automaton
    every plan -> a necessary condition (clauses of keys) -> an index of rules

Matching a document then costs one pass of the automaton per field (cost grows
with the text) plus the evaluation of the few rules whose necessary condition
the found keys satisfy (cost grows with the matches, not with the rule count).

Necessary condition: a list of clauses, each a set of keys, such that the rule
can be true only if every clause has a key present somewhere in the document.
`gold AND (copper OR tin) NOT silver` needs [{gold}, {copper, tin}]. Each rule
is indexed under its two most selective clauses, primary and secondary: it is
a candidate when a key of each is present (`pairs`: primary key -> secondary
key -> rules), or, with a single clause, when a key of it is (`single`); the
index holds both, key -> (single, pairs). Only candidates run their full test.
Selectivity is guessed from how many rules share a key (a word many rules use
is likely a common word), with nudges for phrases (rarer), short words and
wildcards (commoner). A query with no clause
at all could match by negation alone (`NOT gold`) and is rejected: the loader
reports it, and `compile_rules` raises.

Why this is sound: a true rule has a present key in every clause, so it has
one in its primary and its secondary clause, so its pair is found.
"""

from __future__ import annotations

from collections import Counter
from itertools import product
from typing import Iterable, Mapping

import ahocorasick

from .exceptions import RulesError
from .gc_pause import gc_paused
from .match import CandidateIndex, CompiledRule, Matcher
from .plan import ALL_FIELDS, AllOf, AnyOf, KeySpec, NoneOf, PlanNode, Proximity, Scope, TermRef, Test
from .query import AliasRef, And, Field, Near, Node, Not, Or, Term, format_query, parse_query
from .types import FIELDS, PROGRESS_STEP, LoadProgress, Rule

__all__ = [
    "compile_rules", "necessary_clauses", "needs_a_term", "parse_alias_entry", "parse_alias_entries", "KeyRegistry", "plan_query",
]  # fmt: skip

MAX_CLAUSES_FROM_OR = 8
MAX_PAIRS_PER_RULE = 64


class KeyRegistry:
    """Distinct KeySpecs, numbered in order of first use, and distinct TermRefs.

    Rules that write the same term for the same fields share one TermRef: with
    thousands of rules, the terms a document has are then few objects, likely
    in the CPU cache, rather than one per rule.
    """

    def __init__(self) -> None:
        self.specs: list[KeySpec] = []
        self._ids: dict[tuple[tuple[str, ...], bool], int] = {}
        self._refs: dict[tuple[Term, tuple[int, ...], str], TermRef] = {}

    def id_for(self, words: tuple[str, ...], wildcard: bool) -> int:
        key = (words, wildcard)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.specs)
            self.specs.append(KeySpec.make(words, wildcard))
        return found

    def automaton(self) -> ahocorasick.Automaton | None:
        """One automaton of every key (None without keys), the key ids as values.

        The values are the very int objects of TermRef.key and of the index,
        so looking a found key up there is an identity check.
        """
        if not self.specs:
            return None
        automaton = ahocorasick.Automaton()
        for key_id in self._ids.values():
            automaton.add_word(self.specs[key_id].ac_key, key_id)
        automaton.make_automaton()
        return automaton

    def term_ref(self, term: Term, fields: tuple[int, ...], label: str) -> TermRef:
        ident = (term, fields, label)  # Term equality ignores the column it was written at
        ref = self._refs.get(ident)
        if ref is None:
            key = self.id_for(term.words, term.wildcard)
            ref = self._refs[ident] = TermRef(label, key, self.specs[key], term.case_sensitive, fields, term.written)
        return ref


def parse_alias_entry(entry: str) -> Term:
    """One alias entry as a term: a word, or several words meaning a phrase.

    YAML eats quotes, so `- United States Strategic Metals` and
    `["United States Strategic Metals", USSM]` both give entries without
    them; an entry of several words is read as a phrase. A trailing `*` is a
    wildcard; ALL-CAPS entries match only capitals, as in queries. Raises
    RuleSyntaxError (columns within the entry) or RulesError.
    """
    text = entry.strip()
    if text.startswith('"'):
        node = parse_query(entry)
    else:
        for word in text.split():
            if word in _OPERATORS or word.startswith(("NEAR/", "ONEAR/", "@")) or any(c in word for c in '()"'):
                raise RulesError(
                    f"entry {entry!r}: entries are single words or phrases; list alternatives as separate entries"
                )
        node = parse_query(f'"{entry}"') if len(text.split()) > 1 else parse_query(entry)
    if not isinstance(node, Term):
        raise RulesError(f"entry {entry!r} is not a single word or phrase")
    return node


_OPERATORS = {"AND", "OR", "NOT", "NEAR", "ONEAR"}


def parse_alias_entries(name: str, entries: Iterable[str]) -> tuple[Term, ...]:
    """Parse an alias list (see parse_alias_entry); an empty list is an error."""
    try:
        terms = tuple(parse_alias_entry(entry) for entry in entries)
    except RulesError as e:
        raise RulesError(f"alias @{name}: {e}") from e
    if not terms:
        raise RulesError(f"alias @{name} is empty")
    return terms


def plan_query(
    node: Node,
    aliases: Mapping[str, tuple[Term, ...]],
    keys: KeyRegistry,
    fields: tuple[int, ...] = ALL_FIELDS,
) -> PlanNode:
    """Turn a query tree into a plan; unknown aliases raise RulesError."""
    label = format_query(node)
    if isinstance(node, Term):
        return keys.term_ref(node, fields, label)
    if isinstance(node, AliasRef):
        terms = aliases.get(node.name)
        if terms is None:
            raise RulesError(f"unknown alias @{node.name}")
        return AnyOf(label, tuple(keys.term_ref(t, fields, format_query(t)) for t in terms))
    if isinstance(node, And):
        return AllOf(label, tuple(plan_query(c, aliases, keys, fields) for c in node.children))
    if isinstance(node, Or):
        return AnyOf(label, tuple(plan_query(c, aliases, keys, fields) for c in node.children))
    if isinstance(node, Not):
        return NoneOf(label, plan_query(node.child, aliases, keys, fields))
    if isinstance(node, Near):
        left = plan_query(node.left, aliases, keys, fields)
        right = plan_query(node.right, aliases, keys, fields)
        return Proximity(
            label,
            tuple(_refs(left)),
            tuple(_refs(right)),
            node.distance,
            node.ordered,
            fields,
            left,
            right,
        )
    if isinstance(node, Field):
        index = FIELDS.index(node.field)
        scoped = tuple(f for f in fields if f == index)
        return Scope(label, node.field, plan_query(node.expr, aliases, keys, scoped))
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


def _refs(node: PlanNode) -> list[TermRef]:
    if isinstance(node, TermRef):
        return [node]
    assert isinstance(node, AnyOf)  # the parser allows only terms, aliases and ORs of them
    return [ref for child in node.children for ref in _refs(child)]


# --- necessary conditions ---------------------------------------------------


def needs_a_term(node: Node) -> bool:
    """Whether the query can be true only when some term of it is present: what
    `necessary_clauses` of its plan says (None or not), read off the tree without
    planning it (the loader checks 20,000 queries; planning each twice cost seconds).
    Aliases are never empty, so an alias needs one of its terms like a term does."""
    if isinstance(node, (Term, AliasRef, Near)):
        return True
    if isinstance(node, And):
        return any(needs_a_term(c) for c in node.children)
    if isinstance(node, Or):
        return all(needs_a_term(c) for c in node.children)
    if isinstance(node, Not):
        return False
    if isinstance(node, Field):
        return needs_a_term(node.expr)
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


def necessary_clauses(node: PlanNode) -> list[frozenset[int]] | None:
    """Clauses of keys the plan needs (see module docstring); None: no positive need."""
    if isinstance(node, TermRef):
        return [frozenset((node.key,))]
    if isinstance(node, AllOf):
        out: list[frozenset[int]] = []
        for child in node.children:
            need = necessary_clauses(child)
            if need:
                out.extend(need)
        return out or None
    if isinstance(node, AnyOf):
        combined: list[frozenset[int]] = [frozenset()]
        for child in node.children:
            need = necessary_clauses(child)
            if not need:
                return None  # this branch can be true with nothing present
            if len(combined) * len(need) > MAX_CLAUSES_FROM_OR:
                need = [min(need, key=len)]
            combined = [a | b for a, b in product(combined, need)]
        return list(dict.fromkeys(combined))
    if isinstance(node, NoneOf):
        return None
    if isinstance(node, Proximity):
        return [frozenset(r.key for r in node.left), frozenset(r.key for r in node.right)]
    if isinstance(node, Scope):
        return necessary_clauses(node.child)
    raise TypeError(node)  # pragma: no cover


# --- truth functions ----------------------------------------------------------


def _attach_tests(node: PlanNode) -> None:
    """Set `node.test` on every node; the closures take a context.DocumentContext."""
    if isinstance(node, TermRef):
        key, fields = node.key, node.fields
        if node.case_sensitive:
            node.test = lambda ctx, n=node: ctx.term_found(n)
        elif fields == ALL_FIELDS:
            node.test = lambda ctx: key in ctx.present_any
        elif not fields:
            node.test = lambda ctx: False
        else:
            node.test = lambda ctx: ctx.key_in_fields(key, fields)
        return
    if isinstance(node, (AllOf, AnyOf)):
        for child in node.children:
            _attach_tests(child)
        # Plain terms (any field, any case) are tested together with one set
        # operation; the rest one by one.
        keys = frozenset(c.key for c in node.children if _is_plain(c))  # type: ignore[attr-defined]
        rest = tuple(c.test for c in node.children if not _is_plain(c))
        node.test = _all_of(keys, rest) if isinstance(node, AllOf) else _any_of(keys, rest)
        return
    if isinstance(node, NoneOf):
        _attach_tests(node.child)
        forbidden = _plain_keys(node.child)
        if forbidden is not None:  # NOT a plain term, or an OR of them: one set operation
            node.test = lambda ctx: forbidden.isdisjoint(ctx.present_any)
        else:
            inner = node.child.test
            node.test = lambda ctx: not inner(ctx)
        return
    if isinstance(node, Proximity):
        for ref in (*node.left, *node.right):
            _attach_tests(ref)
        _attach_tests(node.left_node)
        _attach_tests(node.right_node)
        node.test = lambda ctx, n=node: bool(ctx.near_pairs(n))
        return
    if isinstance(node, Scope):
        _attach_tests(node.child)
        node.test = node.child.test
        return
    raise TypeError(node)  # pragma: no cover


def _all_of(keys: frozenset[int], rest: tuple[Test, ...]) -> Test:
    if not keys:
        if len(rest) == 1:
            return rest[0]
        if len(rest) == 2:
            a, b = rest
            return lambda ctx: a(ctx) and b(ctx)
        return lambda ctx: all(t(ctx) for t in rest)
    if not rest:
        return lambda ctx: keys <= ctx.present_any
    if len(rest) == 1:
        (a,) = rest
        return lambda ctx: keys <= ctx.present_any and a(ctx)
    if len(rest) == 2:
        a, b = rest
        return lambda ctx: keys <= ctx.present_any and a(ctx) and b(ctx)
    return lambda ctx: keys <= ctx.present_any and all(t(ctx) for t in rest)


def _any_of(keys: frozenset[int], rest: tuple[Test, ...]) -> Test:
    if not rest:
        return lambda ctx: not keys.isdisjoint(ctx.present_any)
    if len(rest) == 1 and not keys:
        return rest[0]
    if len(rest) == 2 and not keys:
        a, b = rest
        return lambda ctx: a(ctx) or b(ctx)
    return lambda ctx: not keys.isdisjoint(ctx.present_any) or any(t(ctx) for t in rest)


def _is_plain(node: PlanNode) -> bool:
    return isinstance(node, TermRef) and not node.case_sensitive and node.fields == ALL_FIELDS


def _plain_keys(node: PlanNode) -> frozenset[int] | None:
    """The keys of a plain term or of an OR of plain terms; None for anything else."""
    if _is_plain(node):
        return frozenset((node.key,))  # type: ignore[attr-defined]
    if isinstance(node, AnyOf) and all(_is_plain(c) for c in node.children):
        return frozenset(c.key for c in node.children)  # type: ignore[attr-defined]
    return None


# --- the whole rule set -------------------------------------------------------


@gc_paused()
def compile_rules(
    rules: Iterable[Rule],
    aliases: Mapping[str, Iterable[str]] | None = None,
    trees: Mapping[str, Node] | None = None,
    progress: LoadProgress | None = None,
    alias_terms: Mapping[str, tuple[Term, ...]] | None = None,
) -> Matcher:
    """Compile rules (and the aliases their queries use) into one Matcher.

    aliases: name -> entries, each a word or "phrase" in query syntax.
    trees: query text -> its parsed tree, for queries already parsed (by the
    loader); the others are parsed here.
    progress: told how many rules are compiled (see types.LoadProgress).
    alias_terms: name -> its entries as terms, for aliases already parsed (by the
    loader, which checks every entry; parsing them again was a fifth of compiling the
    bundled pack); the other aliases are parsed here.
    Raises RuleSyntaxError for a query that does not parse and RulesError for
    an unknown alias, a duplicate id or a query that could match by negation
    alone. Rules from `load_rules` have passed all these checks already.
    """
    known_terms = alias_terms or {}
    parsed_aliases = {
        name: known_terms[name] if name in known_terms else parse_alias_entries(name, entries)
        for name, entries in (aliases or {}).items()
    }
    keys = KeyRegistry()
    compiled: list[CompiledRule] = []
    clauses: list[list[frozenset[int]]] = []  # needed only to build the index
    seen: set[str] = set()
    rule_list = list(rules)
    for index, rule in enumerate(rule_list):
        if progress is not None and (index + 1) % PROGRESS_STEP == 0:
            progress("compiling rules", index + 1, len(rule_list))
        if rule.id in seen:
            raise RulesError(f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        tree = trees.get(rule.query) if trees else None
        cr, need = _compile_rule(index, rule, parsed_aliases, keys, tree)
        compiled.append(cr)
        clauses.append(need)

    specs = keys.specs  # not the registry: its table of every term goes once compiled
    matcher = Matcher(compiled, specs, keys.automaton(), lambda: _index(compiled, clauses, specs))
    if progress is not None:
        progress("compiling rules", len(rule_list), len(rule_list))
    return matcher


def _compile_rule(
    index: int, rule: Rule, aliases: Mapping[str, tuple[Term, ...]], keys: KeyRegistry, tree: Node | None = None
) -> tuple[CompiledRule, list[frozenset[int]]]:
    """The compiled rule and its necessary clauses."""
    if tree is None:
        tree = parse_query(rule.query)  # RuleSyntaxError propagates as it is
    fields = tuple(FIELDS.index(f) for f in FIELDS if f in rule.fields)
    try:
        plan = plan_query(tree, aliases, keys, fields)
    except RulesError as e:
        raise RulesError(f"rule {rule.id!r}: {e}") from e
    clauses = necessary_clauses(plan)
    if not clauses:
        raise RulesError(f"rule {rule.id!r}: query {rule.query!r} could match by negation alone; add a positive term")
    _attach_tests(plan)
    feeds = frozenset(rule.feeds) if rule.feeds is not None else None
    return CompiledRule(index, rule, plan, feeds, _reported_terms(plan), plan.test), clauses


def _unscoped(node: PlanNode) -> PlanNode:
    while isinstance(node, Scope):
        node = node.child
    return node


def _reported_terms(plan: PlanNode) -> tuple[tuple[TermRef, ...], ...] | None:
    """The terms of a flat plan in each field (one tuple per field of FIELDS).

    A term written twice (`gold AND (gold OR title:gold)`) is listed once per
    field: it reports its hits once. Fields with the same terms share a tuple.
    """
    refs = _flat_terms(plan)
    if refs is None:
        return None
    by_field = []
    shared: dict[tuple[TermRef, ...], tuple[TermRef, ...]] = {}
    for f in ALL_FIELDS:
        in_field: dict[tuple[int, bool, str], TermRef] = {}
        for ref in refs:
            if f in ref.fields:  # the same key, case rule and written form: the same hits
                in_field.setdefault((ref.key, ref.case_sensitive, ref.written), ref)
        terms = tuple(in_field.values())
        by_field.append(shared.setdefault(terms, terms))
    return tuple(by_field)


def _flat_terms(node: PlanNode) -> tuple[TermRef, ...] | None:
    """The positive terms, when every found one of them counts as a reason.

    True for ANDs of terms, ORs of terms and NOTs: there, when the rule is
    true, a positive term that is present is one that made it true. Not for
    an OR of ANDs or a NEAR, where a present term may not have counted;
    those rules walk their plan (match.py `_collect`).
    """
    if isinstance(node, TermRef):
        return (node,)
    if isinstance(node, Scope):
        return _flat_terms(node.child)
    if isinstance(node, NoneOf):
        return ()
    if isinstance(node, AnyOf):
        refs: list[TermRef] = []
        for child in node.children:
            flat = _flat_terms(child)
            if flat is None or isinstance(_unscoped(child), (AllOf, NoneOf)):
                return None  # an OR of ANDs: a present term may not have counted
            refs.extend(flat)
        return tuple(refs)
    if isinstance(node, AllOf):
        out: list[TermRef] = []
        for child in node.children:
            flat = _flat_terms(child)
            if flat is None:
                return None
            out.extend(flat)
        return tuple(out)
    return None


@gc_paused()  # built by the first match, after the load's own pause
def _index(
    compiled: list[CompiledRule], clauses: list[list[frozenset[int]]], specs: list[KeySpec]
) -> CandidateIndex:
    """The candidate index: key -> (single, pairs), rules given by their index.

    single: rules that are candidates as soon as the key is present (rules
        with one clause, or whose two clauses make too many pairs).
    pairs: key2 -> rules that are candidates when key2 is present too: the
        key from the rule's primary clause, key2 from its secondary.
    """
    popularity: Counter[int] = Counter()
    for need in clauses:
        popularity.update({k for clause in need for k in clause})

    def key_cost(k: int) -> float:
        spec = specs[k]
        cost = float(popularity[k])
        if spec.wildcard:
            cost *= 3
        if len(spec.words) > 1:
            cost *= 0.5
        elif len(spec.words[0]) <= 3:
            cost *= 2
        return cost

    single: dict[int, set[int]] = {}
    pairs: dict[int, dict[int, set[int]]] = {}
    for cr, need in zip(compiled, clauses):
        if not cr.rule.enabled:
            continue  # still compiled, for explain and examples
        ranked = sorted(set(need), key=lambda c: (sum(key_cost(k) for k in c), sorted(c)))
        first = ranked[0]
        second = next((c for c in ranked[1:] if not c >= first), None)
        if second is None or len(first) * len(second) > MAX_PAIRS_PER_RULE:
            for k in first:
                single.setdefault(k, set()).add(cr.index)
            continue
        for k1 in first:
            by_second = pairs.setdefault(k1, {})
            for k2 in second:
                by_second.setdefault(k2, set()).add(cr.index)
    # One entry per key, and tuples, not sets: with thousands of rules few of
    # them are in the CPU cache, so every object to fetch counts, and a small
    # tuple is one cache line where a set is several.
    no_pairs: dict[int, tuple[int, ...]] = {}
    return {
        k: (
            tuple(sorted(single.get(k, ()))),
            {k2: tuple(sorted(v)) for k2, v in pairs[k].items()} if k in pairs else no_pairs,
        )
        for k in single.keys() | pairs.keys()
    }
