"""One document as the compiled rules see it: what is present, where.

For each field, once per document:

    normalise -> word view (same length, words separated by spaces)
              -> collapsed words " w1 w2 ... wn "
              -> one pass of the shared Aho-Corasick automaton
              -> `present`: the ids of the keys found

Everything else is lazy and cached, and asked for only by candidate rules:
- `spans`: where a key's hits stand in the normalised text (for TermMatch
  offsets and the capitals check of ALL-CAPS terms),
- `positions`: the word index of each hit (for NEAR/ONEAR),
- NEAR pairs and TermMatches, shared by every rule that asks.

A hit of key " gold " in the collapsed text and a hit of the same key in the
word view padded with one space are the same hit: both views hold the same
words in the same order, and a whole word in the word view always has a space
on each side. So the i-th span and the i-th position describe the i-th hit.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .normalise import NormalisedText, normalise
from .plan import KeySpec, Proximity, TermRef
from .types import FIELDS, Document, TermMatch

if TYPE_CHECKING:  # pragma: no cover
    from .match import Matcher

_value = itemgetter(1)
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

    __slots__ = ("norm", "words", "collapsed", "present", "_padded", "_spans", "_positions")

    def __init__(self, text: str, automaton: Any):
        self.norm: NormalisedText = normalise(text)
        self.words = self.norm.words
        self.collapsed = " " + " ".join(self.words.split()) + " "
        self.present: set[int] = set(map(_value, automaton.iter(self.collapsed))) if automaton else set()
        self._padded: str | None = None
        self._spans: dict[int, list[Span]] = {}
        self._positions: dict[int, list[int]] = {}

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
        if len(spec.words) == 1:
            needle = spec.ac_key
            size = len(spec.words[0])
            pos = padded.find(needle)
            while pos >= 0:
                end = padded.find(" ", pos + 1 + size) - 1 if spec.wildcard else pos + size
                found.append((pos, pos + size, end))
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


class DocumentContext:
    """What one document offers to the compiled tests of plan nodes."""

    __slots__ = ("specs", "fields", "present_any", "_verified", "_term_matches", "_near")

    def __init__(self, matcher: Matcher, doc: Document):
        self.specs: tuple[KeySpec, ...] = matcher._specs
        automaton = matcher._automaton
        used = matcher._fields_used
        self.fields: list[FieldText | None] = [
            FieldText(text, automaton) if text and i in used else None
            for i, text in enumerate((doc.title, doc.summary, doc.content))
        ]
        present: set[int] = set()
        for ft in self.fields:
            if ft is not None:
                present |= ft.present
        self.present_any = present
        self._verified: dict[tuple[int, int], list[bool]] = {}
        self._term_matches: dict[tuple[int, bool, str, int], list[TermMatch]] = {}
        self._near: dict[int, list[NearPair]] = {}

    # --- presence -----------------------------------------------------------

    def key_in_fields(self, key: int, fields: tuple[int, ...]) -> bool:
        for f in fields:
            ft = self.fields[f]
            if ft is not None and key in ft.present:
                return True
        return False

    def term_found(self, ref: TermRef) -> bool:
        return any(self.spans(ref, f) for f in ref.fields)

    def _capitals(self, ref: TermRef, f: int, ft: FieldText) -> list[bool]:
        """For an ALL-CAPS term: which hits are written in capitals."""
        verified = self._verified.get((f, ref.key))
        if verified is None:
            norm = ft.norm
            verified = [not norm.has_lowercase(start, key_end) for start, key_end, _ in ft.spans(ref.key, self.specs[ref.key])]
            self._verified[(f, ref.key)] = verified
        return verified

    # --- hits -------------------------------------------------------------

    def spans(self, ref: TermRef, f: int) -> list[Span]:
        """Hits of a term in field f (ALL-CAPS terms: only hits in capitals)."""
        ft = self.fields[f]
        if ft is None or ref.key not in ft.present:
            return []
        found = ft.spans(ref.key, self.specs[ref.key])
        if ref.case_sensitive:
            found = [s for s, ok in zip(found, self._capitals(ref, f, ft)) if ok]
        return found

    def positions(self, ref: TermRef, f: int) -> list[int]:
        """Word indexes of the hits of `spans`."""
        ft = self.fields[f]
        if ft is None or ref.key not in ft.present:
            return []
        found = ft.positions(ref.key, self.specs[ref.key])
        if ref.case_sensitive:
            found = [p for p, ok in zip(found, self._capitals(ref, f, ft)) if ok]
        return found

    def span_at(self, ref: TermRef, f: int, position: int) -> Span:
        """The span of the hit of `ref` whose first word is `position`."""
        ft = self.fields[f]
        assert ft is not None
        spec = self.specs[ref.key]
        positions = ft.positions(ref.key, spec)  # ascending: binary search, not a linear .index()
        index = bisect_left(positions, position)
        if index == len(positions) or positions[index] != position:
            raise ValueError(f"no hit of key {ref.key} at word {position}")
        return ft.spans(ref.key, spec)[index]

    # --- NEAR -------------------------------------------------------------

    def near_found(self, node: Proximity) -> bool:
        return bool(self.near_pairs(node))

    def near_pairs(self, node: Proximity) -> list[NearPair]:
        """Every pair of hits close enough (cached per document)."""
        found = self._near.get(id(node))
        if found is None:
            found = self._near[id(node)] = self._find_near_pairs(node)
        return found

    def _find_near_pairs(self, node: Proximity) -> list[NearPair]:
        n = node.distance
        out: list[NearPair] = []
        for f in node.fields:
            ft = self.fields[f]
            if ft is None:
                continue
            present = ft.present
            if node.left_keys.isdisjoint(present) or node.right_keys.isdisjoint(present):
                continue
            if len(node.left) == 1 and len(node.right) == 1:
                self._near_one_to_one(node, f, out)
                continue
            lefts = [(p, r) for r in node.left for p in self.positions(r, f)]
            # (start, end) word indexes of the right hits, sorted by start and by end
            rights = sorted(((p, p + r.ntok, r) for r in node.right for p in self.positions(r, f)), key=_first)
            if not lefts or not rights:
                continue
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
        return out

    def _near_one_to_one(self, node: Proximity, f: int, out: list[NearPair]) -> None:
        """NEAR between two single terms: both position lists are sorted already."""
        (ra,), (rb,) = node.left, node.right
        lefts, rights = self.positions(ra, f), self.positions(rb, f)
        if not lefts or not rights:
            return
        n, na, nb = node.distance, ra.ntok, rb.ntok
        for a in lefts:
            # b after a: b starts within n words after a ends
            for b in rights[bisect_left(rights, a + na) : bisect_right(rights, a + na + n)]:
                out.append((f, ra, a, rb, b))
            if not node.ordered:  # b before a: b ends within n words before a starts
                for b in rights[bisect_left(rights, a - n - nb) : bisect_right(rights, a - nb)]:
                    out.append((f, ra, a, rb, b))

    # --- reporting --------------------------------------------------------

    def term_matches(self, ref: TermRef, f: int) -> list[TermMatch]:
        """TermMatches of every hit of a term in field f (cached: rules share terms)."""
        cache_key = (ref.key, ref.case_sensitive, ref.written, f)
        found = self._term_matches.get(cache_key)
        if found is None:
            spans = self.spans(ref, f)
            if spans:
                norm = self.fields[f].norm  # type: ignore[union-attr]
                original, written, field = norm.original, ref.written, FIELDS[f]
                if norm.identity:
                    found = [TermMatch(written, field, s, e, original[s:e]) for s, _, e in spans]
                else:
                    found = [self.term_match(ref, f, span) for span in spans]
            else:
                found = []
            self._term_matches[cache_key] = found
        return found

    def term_match(self, ref: TermRef, f: int, span: Span) -> TermMatch:
        ft = self.fields[f]
        assert ft is not None
        start, end = ft.norm.original_span(span[0], span[2])
        return TermMatch(ref.written, FIELDS[f], start, end, ft.norm.original[start:end])
