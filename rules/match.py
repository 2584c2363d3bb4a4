"""Match documents against compiled rules, and explain why a rule did (not) match.

    ctx = DocumentContext(doc)      each field normalised and searched once
                                    (one Aho-Corasick pass): the keys present
    candidates = rules a present key makes candidates alone (`single`)
               + rules under two present keys (`pairs`; rules/compile.py)
    for each candidate that the feed filter lets through:
        run its compiled test; if true, report the positive terms that
        contributed, with their spans in the ORIGINAL field text

Positions (for NEAR/ONEAR, spans and the capitals check of ALL-CAPS terms)
are computed lazily, only for the keys a candidate rule asks about
(rules/context.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Iterator, Sequence

from .context import DocumentContext, Span
from .exceptions import RulesError
from .plan import AllOf, AnyOf, KeySpec, NoneOf, PlanNode, Proximity, Scope, TermRef, Test, term_refs
from .types import FIELDS, Document, Rule, RuleMatch, TermMatch

__all__ = ["Matcher", "ExplainNode", "CompiledRule", "CandidateIndex"]

# key -> (single, pairs): see compile._index
CandidateIndex = dict[int, tuple[tuple[int, ...], dict[int, tuple[int, ...]]]]


@dataclass(frozen=True, eq=False, slots=True)
class CompiledRule:
    """A rule with its plan and its feed filter."""

    index: int
    rule: Rule
    plan: PlanNode
    feeds: frozenset[str] | None
    # For each field, the terms whose every hit is a reason when the rule
    # matches; None: walk the plan instead (see compile._reported_terms)
    reported_terms: tuple[tuple[TermRef, ...], ...] | None
    # plan.test, one object nearer: a candidate rule is rarely in the CPU cache
    test: Test


@dataclass(frozen=True)
class ExplainNode:
    """One sub-expression of a rule's query, its truth value and what was found.

    expression: the sub-expression as query text (an alias shows as @name,
        with its entries as children).
    matches: for a word or phrase, every place it was found in the fields the
        rule looks at (also under NOT, so an operator sees what excluded it);
        for NEAR, the pairs that were close enough.
    note: why the rule as a whole did not run (disabled, feed filter).
    """

    expression: str
    value: bool
    matches: tuple[TermMatch, ...] = ()
    children: tuple[ExplainNode, ...] = ()
    note: str = ""

    def render(self, indent: int = 0) -> str:
        """An indented text tree for `rules explain`."""
        return "\n".join(self._lines(indent))

    def _lines(self, indent: int) -> Iterator[str]:
        pad = "  " * indent
        yield f"{pad}{'yes' if self.value else 'no '} {self.expression}" + (f"  ({self.note})" if self.note else "")
        for m in self.matches:
            yield f"{pad}      {m.field}[{m.start}:{m.end}] {m.text!r}"
        for child in self.children:
            yield from child._lines(indent + 1)

    def __str__(self) -> str:
        return self.render()


class Matcher:
    """All rules compiled together; build with `compile_rules`.

    Immutable once built: one Matcher may serve several threads. The candidate index is
    built by the first `match` (`index` may be a function that builds it): checking a
    rule's examples never needs it, and at 20,000 rules it takes a tenth of `rules check`.
    """

    def __init__(
        self,
        compiled: Sequence[CompiledRule],
        specs: Sequence[KeySpec],
        automaton: Any,
        index: CandidateIndex | Callable[[], CandidateIndex],
    ):
        self._compiled = tuple(compiled)
        self._by_id = {cr.rule.id: cr for cr in self._compiled}
        self._specs = tuple(specs)
        self._automaton = automaton
        self._index: CandidateIndex | None = None if callable(index) else index
        self._build_index = index if callable(index) else None
        self._index_lock = threading.Lock()
        self._fields_used = frozenset(f for cr in self._compiled for ref in term_refs(cr.plan) for f in ref.fields)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(cr.rule for cr in self._compiled)

    def __len__(self) -> int:
        return len(self._compiled)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    @property
    def key_count(self) -> int:
        """How many distinct words/phrases the automaton holds."""
        return len(self._specs)

    def match(self, doc: Document) -> list[RuleMatch]:
        """Every enabled rule that matches `doc` (in rule order), with its terms."""
        ctx = DocumentContext(self, doc)
        present = ctx.present_any
        if not present:
            return []
        by_key = self._index
        if by_key is None:
            by_key = self._built_index()
        candidates: set[int] = set()
        for key in present:
            entry = by_key.get(key)
            if entry is not None:
                single, pairs = entry
                if single:
                    candidates.update(single)
                if pairs:
                    # a set operation: iterates over the smaller of the two, in C
                    for second in pairs.keys() & present:
                        candidates.update(pairs[second])
        out = []
        feed = doc.feed
        for index in sorted(candidates):
            cr = self._compiled[index]
            if cr.feeds is not None and feed not in cr.feeds:
                continue
            if cr.test(ctx):
                out.append(RuleMatch(cr.rule.id, _contributing_terms(cr, ctx)))
        return out

    def _built_index(self) -> CandidateIndex:
        with self._index_lock:
            if self._index is None:
                assert self._build_index is not None
                self._index = self._build_index()
                self._build_index = None  # what it held (every rule's clauses) can go
            return self._index

    def match_rule(
        self, rule_id: str, doc: Document, *, check_enabled: bool = True, check_feed: bool = True
    ) -> RuleMatch | None:
        """Match one rule (e.g. a rule's examples, with the checks turned off)."""
        cr = self._get(rule_id)
        if check_enabled and not cr.rule.enabled:
            return None
        if check_feed and cr.feeds is not None and doc.feed not in cr.feeds:
            return None
        ctx = DocumentContext(self, doc)
        if not cr.test(ctx):
            return None
        return RuleMatch(cr.rule.id, _contributing_terms(cr, ctx))

    def query_is_true(self, rule_id: str, doc: Document) -> bool:
        """Whether the rule's query is true for `doc`, whatever its `enabled` and `feeds`
        say: what an example checks, without collecting the terms (a third of the cost)."""
        return bool(self._get(rule_id).test(DocumentContext(self, doc)))

    def explain(self, rule_id: str, doc: Document) -> ExplainNode:
        """The rule's query as a tree of sub-expressions with values and hits.

        The root's value is whether `match` would report the rule; its note
        says when the rule did not run at all (disabled, feed filter).
        """
        cr = self._get(rule_id)
        ctx = DocumentContext(self, doc)
        root = _explain(cr.plan, ctx)
        note = ""
        if not cr.rule.enabled:
            note = "rule is disabled"
        elif cr.feeds is not None and doc.feed not in cr.feeds:
            note = f"feed {doc.feed!r} is not in the rule's feeds"
        if note:
            return ExplainNode(root.expression, False, root.matches, root.children, note)
        return root

    def _get(self, rule_id: str) -> CompiledRule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise RulesError(f"no rule with id {rule_id!r}") from None


_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}
_in_field_order = attrgetter("start", "end", "term")


def _order(m: TermMatch) -> tuple[int, int, int, str]:
    return (_FIELD_ORDER[m.field], m.start, m.end, m.term)


def _contributing_terms(cr: CompiledRule, ctx: DocumentContext) -> tuple[TermMatch, ...]:
    """The hits of the terms that made a matching rule match, in text order."""
    if cr.reported_terms is not None:
        return _reported_hits(cr.reported_terms, ctx)
    found: list[tuple[TermRef, int, Span]] = []
    _collect(cr.plan, ctx, found)
    matches = {ctx.term_match(ref, f, span) for ref, f, span in found}
    return tuple(sorted(matches, key=_order))


def _reported_hits(reported: tuple[tuple[TermRef, ...], ...], ctx: DocumentContext) -> tuple[TermMatch, ...]:
    """Every hit of the terms, field by field, in text order.

    Each term's hits come in text order, so only a field where two or more
    terms have hits needs sorting.
    """
    out: list[TermMatch] = []
    for ft, refs in zip(ctx.fields, reported):
        if ft is None or not refs:
            continue
        present = ft.present
        field_start, lists = len(out), 0
        for ref in refs:
            if ref.key in present:
                hits = ft.term_matches(ref)
                if hits:
                    out += hits
                    lists += 1
        if lists > 1:
            out[field_start:] = sorted(out[field_start:], key=_in_field_order)
    return tuple(out)


def _collect(node: PlanNode, ctx: DocumentContext, out: list[tuple[TermRef, int, Span]]) -> None:
    """Add the hits of the positive terms that make a TRUE node true."""
    if isinstance(node, TermRef):
        for f in node.fields:
            out.extend((node, f, span) for span in ctx.spans(node, f))
    elif isinstance(node, AllOf):
        for child in node.children:
            _collect(child, ctx, out)
    elif isinstance(node, AnyOf):
        for child in node.children:
            if child.test(ctx):
                _collect(child, ctx, out)
    elif isinstance(node, Proximity):
        # A hit close to several others is in several pairs: look its span up once.
        hits: dict[tuple[int, int, int], TermRef] = {}
        for f, ra, a, rb, b in ctx.near_pairs(node):
            hits[(id(ra), f, a)] = ra
            hits[(id(rb), f, b)] = rb
        out.extend((ref, f, ctx.span_at(ref, f, position)) for (_, f, position), ref in hits.items())
    elif isinstance(node, Scope):
        _collect(node.child, ctx, out)
    # NoneOf: terms under NOT never count as reasons


def _explain(node: PlanNode, ctx: DocumentContext) -> ExplainNode:
    value = node.test(ctx)
    if isinstance(node, TermRef):
        hits = [ctx.term_match(node, f, span) for f in node.fields for span in ctx.spans(node, f)]
        return ExplainNode(node.label, value, tuple(hits))
    if isinstance(node, (AllOf, AnyOf)):
        return ExplainNode(node.label, value, (), tuple(_explain(c, ctx) for c in node.children))
    if isinstance(node, NoneOf):
        return ExplainNode(node.label, value, (), (_explain(node.child, ctx),))
    if isinstance(node, Proximity):
        pairs = {
            m
            for f, ra, a, rb, b in ctx.near_pairs(node)
            for m in (ctx.term_match(ra, f, ctx.span_at(ra, f, a)), ctx.term_match(rb, f, ctx.span_at(rb, f, b)))
        }
        matches = tuple(sorted(pairs, key=lambda m: (FIELDS.index(m.field), m.start, m.term)))
        children = (_explain(node.left_node, ctx), _explain(node.right_node, ctx))
        return ExplainNode(node.label, value, matches, children)
    if isinstance(node, Scope):
        return ExplainNode(node.label, value, (), (_explain(node.child, ctx),))
    raise TypeError(node)  # pragma: no cover
