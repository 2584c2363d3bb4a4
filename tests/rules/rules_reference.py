"""A slow, obviously right evaluator of query trees over word lists (for tests).

It knows nothing of automata, indexes or spans: a term is present where its
words follow each other in `tokenise(field)`. Case-sensitive terms are treated
like the others, so tests that compare with it use lower- or mixed-case words.
"""

from __future__ import annotations

from functools import lru_cache

from rules.compile import parse_alias_entry
from rules.query import AliasRef, And, Field, Near, Not, Or, Term


def _positions(term: Term, tokens: list[str]) -> list[tuple[int, int]]:
    return _find(_words(term), term.wildcard, tuple(tokens))


@lru_cache(maxsize=10_000)
def _alias_entry(entry: str) -> Term:
    return parse_alias_entry(entry)


@lru_cache(maxsize=10_000)
def _words(term: Term) -> tuple[str, ...]:
    return term.words


@lru_cache(maxsize=100_000)
def _find(words: tuple[str, ...], wildcard: bool, tokens: tuple[str, ...]) -> list[tuple[int, int]]:
    n = len(words)
    out = []
    for i in range(len(tokens) - n + 1):
        window = tokens[i : i + n]
        if wildcard:
            ok = window[:-1] == words[:-1] and window[-1].startswith(words[-1])
        else:
            ok = window == words
        if ok:
            out.append((i, i + n))
    return out


def _operand_positions(node, tokens, aliases) -> list[tuple[int, int]]:
    if isinstance(node, Term):
        return _positions(node, tokens)
    if isinstance(node, AliasRef):
        return [p for e in aliases[node.name] for p in _positions(_alias_entry(e), tokens)]
    return [p for c in node.children for p in _operand_positions(c, tokens, aliases)]


def reference(node, doc: dict[str, list[str]], fields: tuple[str, ...], aliases) -> bool:
    if isinstance(node, (Term, AliasRef)):
        return any(_operand_positions(node, doc[f], aliases) for f in fields)
    if isinstance(node, And):
        return all(reference(c, doc, fields, aliases) for c in node.children)
    if isinstance(node, Or):
        return any(reference(c, doc, fields, aliases) for c in node.children)
    if isinstance(node, Not):
        return not reference(node.child, doc, fields, aliases)
    if isinstance(node, Field):
        return reference(node.expr, doc, tuple(f for f in fields if f == node.field), aliases)
    assert isinstance(node, Near)
    for f in fields:
        lefts = _operand_positions(node.left, doc[f], aliases)
        rights = _operand_positions(node.right, doc[f], aliases)
        for a0, a1 in lefts:
            for b0, b1 in rights:
                if 0 <= b0 - a1 <= node.distance:
                    return True
                if not node.ordered and 0 <= a0 - b1 <= node.distance:
                    return True
    return False
