"""Match documents against compiled rules, and explain why a rule did (not) match.

    for each field of the document (once):
        normalise -> word view -> collapsed words " w1 w2 ... "
        one Aho-Corasick pass -> the set of keys present
    candidates = rules indexed under a present key whose secondary clause
                 is also satisfied (see rules/compile.py)
    for each candidate that the feed filter lets through:
        run its compiled test; if true, report the positive terms that
        contributed, with their spans in the ORIGINAL field text

Positions (for NEAR/ONEAR, spans and the capitals check of ALL-CAPS terms)
are computed lazily, only for the keys a candidate rule asks about.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterator, NamedTuple, Sequence

from .exceptions import RulesError
from .normalise import NormalisedText, normalise, word_view
from .plan import AllOf, AnyOf, KeySpec, NoneOf, PlanNode, Proximity, Scope, TermRef, term_refs
from .types import FIELDS, Document, Rule, RuleMatch, TermMatch

__all__ = ["Matcher", "ExplainNode", "CompiledRule"]

_value = itemgetter(1)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    index: int
    rule: Rule
    plan: PlanNode
    clauses: list[frozenset[int]]
    feeds: frozenset[str] | None


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


class _Occurrence(NamedTuple):
    tok: int  # index of the first word in the field
    ntok: int  # number of words
    start: int  # offsets in the normalised text
    key_end: int  # end of the written part (a wildcard's completion excluded)
    end: int


class _FieldText:
    """One field of one document: normalised once, searched once."""

    __slots__ = ("index", "norm", "words", "collapsed", "present", "_padded", "_occurrences")

    def __init__(self, index: int, text: str, automaton: Any):
        self.index = index
        self.norm: NormalisedText = normalise(text)
        self.words = word_view(self.norm.text)
        self.collapsed = " " + " ".join(self.words.split()) + " "
        self.present: set[int] = set(map(_value, automaton.iter(self.collapsed))) if automaton else set()
        self._padded: str | None = None
        self._occurrences: dict[int, list[_Occurrence]] = {}

    def occurrences(self, key: int, spec: KeySpec) -> list[_Occurrence]:
        """Every hit of a key, with word positions and normalised spans."""
        found = self._occurrences.get(key)
        if found is not None:
            return found
        found = []
        if key in self.present:
            # Word index of each hit: count the spaces before it in the collapsed text.
            collapsed, ac_key = self.collapsed, spec.ac_key
            toks = []
            spaces, counted_to = -1, 0
            pos = collapsed.find(ac_key)
            while pos >= 0:
                spaces += collapsed.count(" ", counted_to, pos + 1)
                counted_to = pos + 1
                toks.append(spaces)
                pos = collapsed.find(ac_key, pos + 1)
            # Spans: the same hits, in the same order, in the same-length word view.
            if self._padded is None:
                self._padded = f" {self.words} "
            padded, ntok = self._padded, len(spec.words)
            m = spec.pattern.search(padded)
            for tok in toks:
                if m is None:  # pragma: no cover - the two views always agree
                    break
                key_end = m.start(1) - 1 if spec.wildcard else m.end() - 1
                found.append(_Occurrence(tok, ntok, m.start(), key_end, m.end() - 1))
                m = spec.pattern.search(padded, m.start() + 1)
        self._occurrences[key] = found
        return found


class _Context:
    """What one document offers to the compiled tests of plan nodes."""

    __slots__ = ("specs", "fields", "present_any", "_verified")

    def __init__(self, matcher: Matcher, doc: Document):
        self.specs = matcher._specs
        automaton = matcher._automaton
        texts = (doc.title, doc.summary, doc.content)
        self.fields: list[_FieldText | None] = [
            _FieldText(i, text, automaton) if text and i in matcher._fields_used else None
            for i, text in enumerate(texts)
        ]
        present: set[int] = set()
        for ft in self.fields:
            if ft is not None:
                present |= ft.present
        self.present_any = present
        self._verified: dict[tuple[int, int], list[_Occurrence]] = {}

    def key_in_fields(self, key: int, fields: tuple[int, ...]) -> bool:
        for f in fields:
            ft = self.fields[f]
            if ft is not None and key in ft.present:
                return True
        return False

    def occurrences(self, ref: TermRef, f: int) -> list[_Occurrence]:
        """Hits of a term in field f; ALL-CAPS terms keep only hits written in capitals."""
        ft = self.fields[f]
        if ft is None or ref.key not in ft.present:
            return []
        found = ft.occurrences(ref.key, self.specs[ref.key])
        if not ref.case_sensitive:
            return found
        verified = self._verified.get((f, ref.key))
        if verified is None:
            norm = ft.norm
            verified = [o for o in found if not norm.has_lowercase(o.start, o.key_end)]
            self._verified[(f, ref.key)] = verified
        return verified

    def term_found(self, ref: TermRef) -> bool:
        return any(self.occurrences(ref, f) for f in ref.fields)

    def near_found(self, node: Proximity) -> bool:
        return next(self.near_pairs(node), None) is not None

    def near_pairs(self, node: Proximity) -> Iterator[tuple[int, TermRef, _Occurrence, TermRef, _Occurrence]]:
        """(field, left term, its hit, right term, its hit) for hits close enough."""
        n = node.distance
        for f in node.fields:
            if self.fields[f] is None:
                continue
            lefts = [(o, r) for r in node.left for o in self.occurrences(r, f)]
            if not lefts:
                continue
            rights = sorted(((o, r) for r in node.right for o in self.occurrences(r, f)), key=lambda x: x[0].tok)
            if not rights:
                continue
            starts = [o.tok for o, _ in rights]
            by_end = sorted(rights, key=lambda x: x[0].tok + x[0].ntok)
            ends = [o.tok + o.ntok for o, _ in by_end]
            for a, ra in lefts:
                a_end = a.tok + a.ntok
                for b, rb in rights[bisect_left(starts, a_end) : bisect_right(starts, a_end + n)]:
                    yield f, ra, a, rb, b
                if not node.ordered:
                    for b, rb in by_end[bisect_left(ends, a.tok - n) : bisect_right(ends, a.tok)]:
                        yield f, ra, a, rb, b

    def term_match(self, ref: TermRef, f: int, occ: _Occurrence) -> TermMatch:
        ft = self.fields[f]
        assert ft is not None
        start, end = ft.norm.original_span(occ.start, occ.end)
        return TermMatch(ref.written, FIELDS[f], start, end, ft.norm.original[start:end])


class Matcher:
    """All rules compiled together; build with `compile_rules`.

    Immutable once built: one Matcher may serve several threads.
    """

    def __init__(
        self,
        compiled: Sequence[CompiledRule],
        specs: Sequence[KeySpec],
        automaton: Any,
        single: dict[int, tuple[int, ...]],
        paired: dict[int, tuple[tuple[int, frozenset[int]], ...]],
    ):
        self._compiled = tuple(compiled)
        self._by_id = {cr.rule.id: cr for cr in self._compiled}
        self._specs = tuple(specs)
        self._automaton = automaton
        self._single = single
        self._paired = paired
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
        ctx = _Context(self, doc)
        present = ctx.present_any
        if not present:
            return []
        candidates: set[int] = set()
        single, paired = self._single, self._paired
        for key in present:
            rules = single.get(key)
            if rules is not None:
                candidates.update(rules)
            pairs = paired.get(key)
            if pairs is not None:
                for index, secondary in pairs:
                    if not secondary.isdisjoint(present):
                        candidates.add(index)
        out = []
        feed = doc.feed
        for index in sorted(candidates):
            cr = self._compiled[index]
            if cr.feeds is not None and feed not in cr.feeds:
                continue
            if cr.plan.test(ctx):
                out.append(RuleMatch(cr.rule.id, _contributing_terms(cr.plan, ctx)))
        return out

    def match_rule(
        self, rule_id: str, doc: Document, *, check_enabled: bool = True, check_feed: bool = True
    ) -> RuleMatch | None:
        """Match one rule (e.g. a rule's examples, with the checks turned off)."""
        cr = self._get(rule_id)
        if check_enabled and not cr.rule.enabled:
            return None
        if check_feed and cr.feeds is not None and doc.feed not in cr.feeds:
            return None
        ctx = _Context(self, doc)
        if not cr.plan.test(ctx):
            return None
        return RuleMatch(cr.rule.id, _contributing_terms(cr.plan, ctx))

    def explain(self, rule_id: str, doc: Document) -> ExplainNode:
        """The rule's query as a tree of sub-expressions with values and hits.

        The root's value is whether `match` would report the rule; its note
        says when the rule did not run at all (disabled, feed filter).
        """
        cr = self._get(rule_id)
        ctx = _Context(self, doc)
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


def _contributing_terms(plan: PlanNode, ctx: _Context) -> tuple[TermMatch, ...]:
    found: list[tuple[TermRef, int, _Occurrence]] = []
    _collect(plan, ctx, found)
    matches = {ctx.term_match(ref, f, occ) for ref, f, occ in found}
    return tuple(sorted(matches, key=lambda m: (FIELDS.index(m.field), m.start, m.end, m.term)))


def _collect(node: PlanNode, ctx: _Context, out: list[tuple[TermRef, int, _Occurrence]]) -> None:
    """Add the hits of the positive terms that make a TRUE node true."""
    if isinstance(node, TermRef):
        for f in node.fields:
            out.extend((node, f, occ) for occ in ctx.occurrences(node, f))
    elif isinstance(node, AllOf):
        for child in node.children:
            _collect(child, ctx, out)
    elif isinstance(node, AnyOf):
        for child in node.children:
            if child.test(ctx):
                _collect(child, ctx, out)
    elif isinstance(node, Proximity):
        for f, ra, a, rb, b in ctx.near_pairs(node):
            out.append((ra, f, a))
            out.append((rb, f, b))
    elif isinstance(node, Scope):
        _collect(node.child, ctx, out)
    # NoneOf: terms under NOT never count as reasons


def _explain(node: PlanNode, ctx: _Context) -> ExplainNode:
    value = node.test(ctx)
    if isinstance(node, TermRef):
        hits = [ctx.term_match(node, f, occ) for f in node.fields for occ in ctx.occurrences(node, f)]
        return ExplainNode(node.label, value, tuple(hits))
    if isinstance(node, (AllOf, AnyOf)):
        return ExplainNode(node.label, value, (), tuple(_explain(c, ctx) for c in node.children))
    if isinstance(node, NoneOf):
        return ExplainNode(node.label, value, (), (_explain(node.child, ctx),))
    if isinstance(node, Proximity):
        pairs = {
            m for f, ra, a, rb, b in ctx.near_pairs(node) for m in (ctx.term_match(ra, f, a), ctx.term_match(rb, f, b))
        }
        matches = tuple(sorted(pairs, key=lambda m: (FIELDS.index(m.field), m.start, m.term)))
        children = (_explain(node.left_node, ctx), _explain(node.right_node, ctx))
        return ExplainNode(node.label, value, matches, children)
    if isinstance(node, Scope):
        return ExplainNode(node.label, value, (), (_explain(node.child, ctx),))
    raise TypeError(node)  # pragma: no cover
