"""One document as the compiled rules see it: what is present, where.

For each field, once per document:

    normalise -> word view (same length, words separated by spaces)
              -> collapsed words " w1 w2 ... wn "
              -> one pass of the shared Aho-Corasick automaton
              -> `present`: the ids of the keys found

Everything else is lazy and cached per field, and asked for only by candidate
rules:
- `spans`: where a key's hits stand in the normalised text (for TermMatch
  offsets and the capitals check of ALL-CAPS terms),
- `positions`: the word index of each hit (for NEAR/ONEAR),
- TermMatches, shared by the rules that share a term (compile.KeyRegistry),
  and NEAR pairs, cached per document.

A hit of key " gold " in the collapsed text and a hit of the same key in the
word view padded with one space are the same hit: both views hold the same
words in the same order, and a whole word in the word view always has a space
on each side. So the i-th span and the i-th position describe the i-th hit.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .normalise import NormalisedText, normalise, word_view
from .plan import KeySpec, Proximity, TermRef
from .types import FIELDS, Document, TermMatch

if TYPE_CHECKING:  # pragma: no cover
    from .match import Matcher

_value = itemgetter(1)
_WORD_RUN = re.compile(r"[^ ]+")
_first = itemgetter(0)
_second = itemgetter(1)


# A hit in the normalised text of a field: (start, key_end, end), key_end being
# the end of the written part (a wildcard's completion excluded). Plain tuples:
# they are made by the thousand.
Span = tuple[int, int, int]


# (field, left term, word index of its hit, right term, word index of its hit)
NearPair = tuple[int, TermRef, int, TermRef, int]


class FieldText:
    """One field of one document: normalised once, searched once."""

    __slots__ = (
        "name", "text", "norm", "words", "collapsed", "present",
        "_padded", "_spans", "_positions", "_capitals", "_term_matches",
    )  # fmt: skip

    def __init__(self, name: str, text: str, automaton: Any):
        self.name = name
        self.text = text
        self.norm: NormalisedText = normalise(text)
        # Not norm.words: its cached_property takes a lock on every first access.
        self.words = word_view(self.norm.folded)
        self.collapsed = f" {' '.join(self.words.split())} "
        self.present: set[int] = set(map(_value, automaton.iter(self.collapsed))) if automaton else set()
        self._padded: str | None = None
        self._spans: dict[int, list[Span]] = {}
        self._positions: dict[int, list[int]] = {}
        self._capitals: dict[int, list[bool]] = {}
        self._term_matches: dict[TermRef, list[TermMatch]] = {}

    def renamed(self, name: str) -> FieldText:
        """The same text as another field: what was found is shared, what names the
        field (its term matches) is not."""
        other = FieldText.__new__(FieldText)
        other.name, other.text, other.norm, other.words = name, self.text, self.norm, self.words
        other.collapsed, other.present, other._padded = self.collapsed, self.present, self._padded
        other._spans, other._positions, other._capitals = self._spans, self._positions, self._capitals
        other._term_matches = {}
        return other

    # --- every hit of a present key -------------------------------------------

    def spans(self, key: int, spec: KeySpec) -> list[Span]:
        """Every hit of a present key, with its normalised offsets."""
        found = self._spans.get(key)
        if found is not None:
            return found
        if self._padded is None:
            self._padded = f" {self.words} "
        padded = self._padded
        # padded[i] is words[i - 1]: a hit whose leading space is padded[i]
        # starts at words[i]. Offsets in `words` are normalised offsets.
        found = []
        if not spec.phrase:  # a single word: its automaton key finds it
            needle = spec.ac_key
            pos = padded.find(needle)
            if spec.wildcard:  # " gold": the hit goes on to the end of its word
                size = len(needle) - 1
                while pos >= 0:
                    found.append((pos, pos + size, padded.find(" ", pos + 1 + size) - 1))
                    pos = padded.find(needle, pos + 1)
            else:  # " gold "
                size = len(needle) - 2
                while pos >= 0:
                    end = pos + size
                    found.append((pos, end, end))
                    pos = padded.find(needle, pos + 1)
        else:  # a phrase: any number of spaces between its words
            search = spec.pattern.search
            m = search(padded)
            while m is not None:
                key_end = m.start(1) - 1 if spec.wildcard else m.end() - 1
                found.append((m.start(), key_end, m.end() - 1))
                m = search(padded, m.start() + 1)
        self._spans[key] = found
        return found

    def positions(self, key: int, spec: KeySpec) -> list[int]:
        """The word index of every hit of a present key (same order as `spans`)."""
        found = self._positions.get(key)
        if found is not None:
            return found
        collapsed, needle = self.collapsed, spec.ac_key
        found = []
        spaces, counted_to = -1, 0
        pos = collapsed.find(needle)
        while pos >= 0:
            spaces += collapsed.count(" ", counted_to, pos + 1)
            counted_to = pos + 1
            found.append(spaces)
            pos = collapsed.find(needle, pos + 1)
        self._positions[key] = found
        return found

    def capitals(self, key: int, spec: KeySpec) -> list[bool]:
        """For an ALL-CAPS term: which hits of its key are written in capitals."""
        found = self._capitals.get(key)
        if found is None:
            has_lowercase = self.norm.has_lowercase
            if not spec.phrase:  # one word: its span holds nothing else
                found = [not has_lowercase(start, key_end) for start, key_end, _ in self.spans(key, spec)]
            else:  # a phrase: only its words count, not what stands between them ("USSM's FWO")
                words = self.words
                found = [
                    not any(has_lowercase(m.start(), m.end()) for m in _WORD_RUN.finditer(words, start, key_end))
                    for start, key_end, _ in self.spans(key, spec)
                ]
            self._capitals[key] = found
        return found

    # --- the hits of a term (ALL-CAPS terms: only those in capitals) -------------

    def term_spans(self, ref: TermRef) -> list[Span]:
        found = self.spans(ref.key, ref.spec)
        if ref.case_sensitive:
            found = [s for s, ok in zip(found, self.capitals(ref.key, ref.spec)) if ok]
        return found

    def term_positions(self, ref: TermRef) -> list[int]:
        found = self.positions(ref.key, ref.spec)
        if ref.case_sensitive:
            found = [p for p, ok in zip(found, self.capitals(ref.key, ref.spec)) if ok]
        return found

    def term_matches(self, ref: TermRef) -> list[TermMatch]:
        """TermMatches of every hit of a present term (cached: rules share TermRefs)."""
        found = self._term_matches.get(ref)
        if found is None:
            spans = self.term_spans(ref)
            norm, written, name = self.norm, ref.written, self.name
            if norm.identity:
                original = norm.original
                found = [TermMatch(written, name, s, e, original[s:e]) for s, _, e in spans]
            else:
                found = [self.term_match(written, span) for span in spans]
            self._term_matches[ref] = found
        return found

    def term_match(self, written: str, span: Span) -> TermMatch:
        start, end = self.norm.original_span(span[0], span[2])
        return TermMatch(written, self.name, start, end, self.norm.original[start:end])


class DocumentContext:
    """What one document offers to the compiled tests of plan nodes."""

    __slots__ = ("fields", "present_any", "_near")

    def __init__(self, matcher: Matcher, doc: Document):
        automaton = matcher._automaton
        used = matcher._fields_used
        self.fields: list[FieldText | None] = []
        for i, text in enumerate((doc.title, doc.summary, doc.content)):
            if not text or i not in used:
                self.fields.append(None)
                continue
            # The same text in another field (content repeating the summary, as in many
            # feeds and in every rule example) is normalised and searched once.
            same = next((ft for ft in self.fields if ft is not None and ft.text == text), None)
            self.fields.append(same.renamed(FIELDS[i]) if same else FieldText(FIELDS[i], text, automaton))
        present: set[int] = set()
        for ft in self.fields:
            if ft is not None:
                present |= ft.present
        self.present_any = present
        self._near: dict[Proximity, list[NearPair]] = {}

    # --- presence -----------------------------------------------------------

    def key_in_fields(self, key: int, fields: tuple[int, ...]) -> bool:
        for f in fields:
            ft = self.fields[f]
            if ft is not None and key in ft.present:
                return True
        return False

    def term_found(self, ref: TermRef) -> bool:
        """Whether an ALL-CAPS term has a hit written in capitals."""
        for f in ref.fields:
            ft = self.fields[f]
            if ft is not None and ref.key in ft.present and True in ft.capitals(ref.key, ref.spec):
                return True
        return False

    # --- hits -------------------------------------------------------------

    def spans(self, ref: TermRef, f: int) -> list[Span]:
        """Hits of a term in field f (ALL-CAPS terms: only hits in capitals)."""
        ft = self.fields[f]
        if ft is None or ref.key not in ft.present:
            return []
        return ft.term_spans(ref)

    def positions(self, ref: TermRef, f: int) -> list[int]:
        """Word indexes of the hits of `spans`."""
        ft = self.fields[f]
        if ft is None or ref.key not in ft.present:
            return []
        return ft.term_positions(ref)

    def span_at(self, ref: TermRef, f: int, position: int) -> Span:
        """The span of the hit of `ref` whose first word is `position`."""
        ft = self.fields[f]
        assert ft is not None
        positions = ft.positions(ref.key, ref.spec)  # ascending: binary search, not a linear .index()
        index = bisect_left(positions, position)
        if index == len(positions) or positions[index] != position:
            raise ValueError(f"no hit of key {ref.key} at word {position}")
        return ft.spans(ref.key, ref.spec)[index]

    # --- NEAR -------------------------------------------------------------

    def near_pairs(self, node: Proximity) -> list[NearPair]:
        """Every pair of hits close enough (cached per document)."""
        found = self._near.get(node)
        if found is None:
            found = self._near[node] = self._find_near_pairs(node)
        return found

    def _find_near_pairs(self, node: Proximity) -> list[NearPair]:
        out: list[NearPair] = []
        single = node.single
        for f in node.fields:
            ft = self.fields[f]
            if ft is None:
                continue
            present = ft.present
            if single is not None:
                if single[0].key in present and single[1].key in present:
                    self._near_single_terms(node, f, ft, out)
            elif not (node.left_keys.isdisjoint(present) or node.right_keys.isdisjoint(present)):
                self._near_any_terms(node, f, out)
        return out

    def _near_single_terms(self, node: Proximity, f: int, ft: FieldText, out: list[NearPair]) -> None:
        """NEAR between two terms present in the field: position lists are sorted already."""
        ra, rb = node.single  # type: ignore[misc]
        lefts, rights = ft.term_positions(ra), ft.term_positions(rb)
        if not lefts or not rights:
            return
        n, na, nb = node.distance, ra.ntok, rb.ntok
        # b after a starts within n words after a ends; b before a (NEAR only)
        # ends within n words before a starts. One window holds both sides.
        low = na if node.ordered else -n - nb
        for a in lefts:
            for b in rights[bisect_left(rights, a + low) : bisect_right(rights, a + na + n)]:
                if b >= a + na or b <= a - nb:  # not overlapping a
                    out.append((f, ra, a, rb, b))

    def _near_any_terms(self, node: Proximity, f: int, out: list[NearPair]) -> None:
        """NEAR between ORs of terms (aliases): every left hit against every right hit."""
        n = node.distance
        lefts = [(p, r) for r in node.left for p in self.positions(r, f)]
        # (start, end) word indexes of the right hits, sorted by start and by end
        rights = sorted(((p, p + r.ntok, r) for r in node.right for p in self.positions(r, f)), key=_first)
        if not lefts or not rights:
            return
        starts = [s for s, _, _ in rights]
        by_end = sorted(rights, key=_second)
        ends = [e for _, e, _ in by_end]
        for a, ra in lefts:
            a_end = a + ra.ntok
            # b after a: at most n words between a's last word and b's first
            for b, _, rb in rights[bisect_left(starts, a_end) : bisect_right(starts, a_end + n)]:
                out.append((f, ra, a, rb, b))
            if not node.ordered:  # b before a
                for b, _, rb in by_end[bisect_left(ends, a - n) : bisect_right(ends, a)]:
                    out.append((f, ra, a, rb, b))

    # --- reporting --------------------------------------------------------

    def term_match(self, ref: TermRef, f: int, span: Span) -> TermMatch:
        ft = self.fields[f]
        assert ft is not None
        return ft.term_match(ref.written, span)
