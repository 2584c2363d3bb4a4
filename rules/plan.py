"""The compiled form of a query: what the matcher evaluates.

A query tree (rules/query.py) becomes a plan once aliases are expanded and
field scopes are pushed down to the terms. Every term points at a `KeySpec`,
one entry of the shared Aho-Corasick automaton; `test` is the node's compiled
truth function (set by rules/compile.py), taking the per-document context of
rules/context.py.

Leaf module: compile.py builds plans; context.py and match.py walk them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .types import FIELDS

ALL_FIELDS: tuple[int, ...] = tuple(range(len(FIELDS)))


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One distinct thing to find: words in order, the last maybe a prefix.

    ac_key: the automaton key over the collapsed word string, where words are
        separated by single spaces and padded by one at each end: " gold " for
        the whole word gold, " mineral" for mineral*, " rare earth " for the
        phrase. The padding spaces make every hit a whole-word hit.
    phrase: more than one word.
    pattern: for a phrase, the same thing over the same-length word view
        (runs of spaces between words), used to find the spans of the hits;
        None for a single word, found with ac_key itself. Compiled on first
        use: 20,000 rules have thousands of phrases, and a document finds few
        (compiling them all up front was 2.8 s of a 20,000-rule load).
    """

    words: tuple[str, ...]
    wildcard: bool
    ac_key: str
    phrase: bool
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def make(cls, words: tuple[str, ...], wildcard: bool) -> KeySpec:
        joined = " ".join(words)
        ac_key = f" {joined}" if wildcard else f" {joined} "
        return cls(words, wildcard, ac_key, len(words) > 1)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if not self.phrase:
            return None
        if self._pattern is None:
            body = " +".join(re.escape(w) for w in self.words)
            compiled = re.compile(f" {body}([^ ]*)" if self.wildcard else f" {body}(?= )")
            object.__setattr__(self, "_pattern", compiled)  # a cache, not a change of value
        return self._pattern


Test = Callable[[Any], bool]


class PlanNode:
    """Base of plan nodes. `label` is the query text it came from."""

    __slots__ = ("label", "test")

    def __init__(self, label: str):
        self.label = label
        self.test: Test = _unset


def _unset(ctx: Any) -> bool:  # pragma: no cover - replaced by compile.py
    raise AssertionError("plan node used before compilation")


class TermRef(PlanNode):
    """A word or phrase, found in any of `fields` (indexes into FIELDS).

    spec: the KeySpec numbered `key`, at hand for the matcher. Rules share
    TermRefs (compile.KeyRegistry), and so the TermMatches of a document.
    """

    __slots__ = ("key", "spec", "ntok", "case_sensitive", "fields", "written")

    def __init__(
        self, label: str, key: int, spec: KeySpec, case_sensitive: bool, fields: tuple[int, ...], written: str
    ):
        super().__init__(label)
        self.key = key
        self.spec = spec
        self.ntok = len(spec.words)
        self.case_sensitive = case_sensitive
        self.fields = fields
        self.written = written


class AllOf(PlanNode):
    __slots__ = ("children",)

    def __init__(self, label: str, children: tuple[PlanNode, ...]):
        super().__init__(label)
        self.children = children


class AnyOf(PlanNode):
    """An OR, or an @alias (label "@name")."""

    __slots__ = ("children",)

    def __init__(self, label: str, children: tuple[PlanNode, ...]):
        super().__init__(label)
        self.children = children


class NoneOf(PlanNode):
    """NOT child."""

    __slots__ = ("child",)

    def __init__(self, label: str, child: PlanNode):
        super().__init__(label)
        self.child = child


class Proximity(PlanNode):
    """NEAR/ONEAR: any left term within `distance` words of any right term.

    left_node/right_node keep the operands' shape for explanations.
    single: (left term, right term) when each side is one term (the usual
    case, with a faster path), else None.
    """

    __slots__ = (
        "left", "right", "distance", "ordered", "fields",
        "left_node", "right_node", "left_keys", "right_keys", "single",
    )  # fmt: skip

    def __init__(
        self,
        label: str,
        left: tuple[TermRef, ...],
        right: tuple[TermRef, ...],
        distance: int,
        ordered: bool,
        fields: tuple[int, ...],
        left_node: PlanNode,
        right_node: PlanNode,
    ):
        super().__init__(label)
        self.left = left
        self.right = right
        self.distance = distance
        self.ordered = ordered
        self.fields = fields
        self.left_node = left_node
        self.right_node = right_node
        self.left_keys = frozenset(r.key for r in left)
        self.right_keys = frozenset(r.key for r in right)
        self.single = (left[0], right[0]) if len(left) == 1 and len(right) == 1 else None


class Scope(PlanNode):
    """field:child (the fields are already pushed down into the child's terms)."""

    __slots__ = ("field", "child")

    def __init__(self, label: str, field: str, child: PlanNode):
        super().__init__(label)
        self.field = field
        self.child = child


def term_refs(node: PlanNode):
    """Every TermRef below `node`."""
    if isinstance(node, TermRef):
        yield node
    elif isinstance(node, (AllOf, AnyOf)):
        for child in node.children:
            yield from term_refs(child)
    elif isinstance(node, NoneOf):
        yield from term_refs(node.child)
    elif isinstance(node, Proximity):
        yield from node.left
        yield from node.right
    elif isinstance(node, Scope):
        yield from term_refs(node.child)
