"""The query language: parse a rule's `query` into a tree, and print it back.

Grammar (tightest first):

    primary  := word | "phrase" | @alias | field:primary | ( or )
    near     := primary [ NEAR/n | ONEAR/n  primary ]
    unary    := NOT unary | near
    and      := unary { [AND] unary }        words side by side mean AND
    or       := and { OR and }

- A word matches a whole word, case- and accent-insensitively. A word with
  punctuation inside (Gilgit-Baltistan, U.S.) matches its words in order, like
  a phrase. A trailing `*` matches any ending (`mineral*`; in a phrase, on the
  last word: `"rare earth*"`).
- A word or phrase written all in capitals with at least two letters (USSM,
  FWO, "REKO DIQ") matches only text written in capitals.
- `a NEAR/n b`: a and b with at most n words between them, either order;
  `a ONEAR/n b`: a before b. Operands are words, phrases, @aliases or an OR of
  them in parentheses.
- `title:`, `summary:`, `content:` limit the next primary to one field.
- Operators are written in capitals; `and`, `or`, `not`, `near` are words.

Every tree node records the 1-based column it was written at (`column`, not
compared), so later checks (unknown alias, field scope) can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

from .exceptions import RuleSyntaxError
from .normalise import tokenise
from .types import FIELDS

__all__ = [
    "Term", "And", "Or", "Not", "Near", "Field", "AliasRef", "Node",
    "parse_query", "format_query", "walk", "MAX_NEAR_DISTANCE",
]  # fmt: skip

MAX_NEAR_DISTANCE = 100
MIN_WILDCARD_PREFIX = 2
MAX_NESTING = 32  # parentheses and NOTs inside each other; keeps every walk of a tree shallow


@dataclass(frozen=True)
class Term:
    """A word or "phrase"; `text` is as written, without quotes or `*`."""

    text: str
    phrase: bool = False
    wildcard: bool = False
    case_sensitive: bool = False
    column: int = field(default=0, compare=False, repr=False)

    @property
    def written(self) -> str:
        """The term as an operator wrote it, minus quotes: `rare earth*`."""
        return self.text + ("*" if self.wildcard else "")

    @property
    def words(self) -> tuple[str, ...]:
        """The normalised words this term matches, in order."""
        return _words_and_caps(self.text)[0]


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    child: Node
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Near:
    """`left NEAR/distance right`; ordered for ONEAR (left before right)."""

    left: Node
    right: Node
    distance: int
    ordered: bool = False
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Field:
    """`field:expr`, limiting expr to the title, summary or content."""

    field: str
    expr: Node
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class AliasRef:
    """`@name`: any term of the alias list `name`."""

    name: str
    column: int = field(default=0, compare=False, repr=False)


Node = Union[Term, And, Or, Not, Near, Field, AliasRef]


def walk(node: Node):
    """Yield `node` and every node below it, depth first."""
    yield node
    if isinstance(node, (And, Or)):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, Near):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Field):
        yield from walk(node.expr)


def is_all_caps(text: str) -> bool:
    """Whether a term is written in capitals (at least two letters, no lower case)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


# --- tokenizer -------------------------------------------------------------

_LPAREN, _RPAREN, _AND, _OR, _NOT, _NEAR, _FIELD, _TERM, _ALIAS, _EOF = (
    "(", ")", "AND", "OR", "NOT", "NEAR", "FIELD", "TERM", "ALIAS", "end of query",
)  # fmt: skip
_OPERAND_STARTS = {_LPAREN, _NOT, _FIELD, _TERM, _ALIAS}
_NEAR_RE = re.compile(r"(O?NEAR)/(\d+)")
_ALIAS_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
# A bare word runs to whitespace, a parenthesis or a quote; \s is exactly str.isspace
# (checked over every code point). One match instead of a Python loop per character.
_BARE_WORD = re.compile(r'[^\s()"]+')
_LOWER_NEAR = re.compile(r"o?near/\d*", re.IGNORECASE)


class _Token:
    """One token of a query (a plain class: a query file of 20,000 rules makes 150,000)."""

    __slots__ = ("kind", "column", "raw", "value")

    def __init__(self, kind: str, column: int, raw: str, value: object = None):
        self.kind = kind
        self.column = column
        self.raw = raw
        self.value = value  # Term, alias name, field name, (distance, ordered)

    def describe(self) -> str:
        return "the end of the query" if self.kind == _EOF else f"'{self.raw}'"


def _error(message: str, column: int, query: str) -> RuleSyntaxError:
    return RuleSyntaxError(message, column, query=query)


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "(":
            out.append(_Token(_LPAREN, i + 1, c))
            i += 1
        elif c == ")":
            out.append(_Token(_RPAREN, i + 1, c))
            i += 1
        elif c == '"':
            i = _phrase(query, i, out)
        else:
            m = _BARE_WORD.match(query, i)
            assert m is not None  # c is neither whitespace nor a stop character
            j = m.end()
            _bare_word(query, query[i:j], i + 1, out)
            i = j
    out.append(_Token(_EOF, n + 1, ""))
    return out


def _phrase(query: str, i: int, out: list[_Token]) -> int:
    column = i + 1
    close = query.find('"', i + 1)
    if close < 0:
        raise _error(f"unterminated phrase: no closing '\"' for the '\"' at column {column}", column, query)
    text = query[i + 1 : close]
    end = close + 1
    wildcard = False
    if end < len(query) and query[end] == "*":  # "rare earth"* means "rare earth*"
        wildcard = True
        end += 1
    stripped = text.rstrip()
    if stripped.endswith("*"):
        if wildcard:
            raise _error("'*' written twice", close + 2, query)
        wildcard = True
        text = stripped[:-1]
    star = text.find("*")
    if star >= 0:
        raise _error("'*' is only allowed at the end of a phrase's last word", i + 2 + star, query)
    raw = query[i:end]
    out.append(_Token(_TERM, column, raw, _make_term(query, text, True, wildcard, column, raw)))
    return end


def _bare_word(query: str, raw: str, column: int, out: list[_Token]) -> None:
    if raw in ("AND", "OR", "NOT"):
        out.append(_Token(raw, column, raw))
        return
    if raw in ("NEAR", "ONEAR") or raw.startswith(("NEAR/", "ONEAR/")):
        m = _NEAR_RE.fullmatch(raw)
        if not m:
            op = "ONEAR" if raw.startswith("O") else "NEAR"
            raise _error(f"{op} needs a distance like {op}/5", column, query)
        distance = int(m.group(2))
        if distance > MAX_NEAR_DISTANCE:
            raise _error(f"NEAR distance must be at most {MAX_NEAR_DISTANCE} words", column, query)
        out.append(_Token(_NEAR, column, raw, (distance, m.group(1) == "ONEAR")))
        return
    if _LOWER_NEAR.fullmatch(raw):
        raise _error(f"operators are written in capitals: {raw.upper()}", column, query)
    if raw.startswith("@"):
        name = raw[1:]
        if not _ALIAS_RE.fullmatch(name):
            raise _error(
                f"invalid alias reference '{raw}': write @ then a name of letters, digits, '_' or '-'",
                column,
                query,
            )
        out.append(_Token(_ALIAS, column, raw, name))
        return
    m = _FIELD_RE.match(raw)
    if m:
        name = m.group(1)
        if name not in FIELDS:
            fields = ", ".join(FIELDS)
            raise _error(
                f"unknown field '{name}:' (fields are {fields}); quote the text to search for it",
                column,
                query,
            )
        out.append(_Token(_FIELD, column, m.group(0), name))
        rest = raw[m.end() :]
        if rest:
            _bare_word(query, rest, column + m.end(), out)
        return
    if len(raw) > 1 and raw[0] in "-+" and raw[1].isalnum():
        hint = f"NOT {raw[1:]}" if raw[0] == "-" else raw[1:]
        raise _error(f"'{raw}': write {hint} (there is no {raw[0]} operator)", column, query)
    wildcard = False
    text = raw
    star = raw.find("*")
    if star >= 0:
        if star != len(raw) - 1:
            raise _error("'*' is only allowed at the end of a word", column + star, query)
        wildcard = True
        text = raw[:-1]
    out.append(_Token(_TERM, column, raw, _make_term(query, text, False, wildcard, column, f"'{raw}'")))


@lru_cache(maxsize=65_536)
def _words_and_caps(text: str) -> tuple[tuple[str, ...], bool]:
    """A term's words and whether it is in capitals; the same words recur across thousands
    of rules (a fifth of parsing a 20,000-rule file went here)."""
    return tokenise(text), is_all_caps(text)


def _make_term(query: str, text: str, phrase: bool, wildcard: bool, column: int, raw: str) -> Term:
    words, all_caps = _words_and_caps(text)
    if not words:
        what = "empty phrase" if phrase and not text.strip() else f"{raw} has no letters or digits to match"
        raise _error(what, column, query)
    if wildcard:
        if not text or not text[-1].isalnum():
            raise _error("'*' must follow a letter or digit", column, query)
        if len(words[-1]) < MIN_WILDCARD_PREFIX:
            raise _error(
                f"a wildcard needs at least {MIN_WILDCARD_PREFIX} letters or digits before '*'", column, query
            )
    return Term(text, phrase, wildcard, all_caps, column)


# --- parser -----------------------------------------------------------------


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = _tokens(query)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, message: str, tok: _Token | None = None) -> RuleSyntaxError:
        return _error(message, (tok or self.tok).column, self.query)

    def parse(self) -> Node:
        if self.tok.kind == _EOF:
            raise self.error("empty query")
        node = self.or_expr()
        if self.tok.kind == _RPAREN:
            raise self.error("unexpected ')' with no matching '('")
        if self.tok.kind != _EOF:  # pragma: no cover - and_expr takes every operand
            raise self.error(f"unexpected {self.tok.describe()}")
        return node

    def or_expr(self) -> Node:
        column = self.tok.column
        items = [self.and_expr()]
        while self.tok.kind == _OR:
            op = self.advance()
            items.append(self.and_expr(after=op))
        return _flatten(Or, items, column)

    def and_expr(self, after: _Token | None = None) -> Node:
        column = self.tok.column
        items = [self.unary(after)]
        while True:
            if self.tok.kind == _AND:
                op = self.advance()
                items.append(self.unary(op))
            elif self.tok.kind in _OPERAND_STARTS:
                items.append(self.unary())
            else:
                break
        return _flatten(And, items, column)

    def unary(self, after: _Token | None = None) -> Node:
        if self.tok.kind == _NOT:
            op = self.advance()
            self._enter(op)
            child = self.unary(op)
            self.depth -= 1
            return Not(child, op.column)
        return self.near(after)

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"too deeply nested: more than {MAX_NESTING} levels of parentheses and NOT", tok)

    def near(self, after: _Token | None) -> Node:
        left = self.primary(after)
        if self.tok.kind != _NEAR:
            return left
        op = self.advance()
        right = self.primary(op)
        distance, ordered = op.value  # type: ignore[misc]
        self._check_near_operand(left, op)
        self._check_near_operand(right, op)
        if self.tok.kind == _NEAR:
            raise self.error(
                "NEAR cannot be chained; write (a NEAR/3 b) AND (b NEAR/3 c) instead"
            )
        return Near(left, right, distance, ordered, left.column)

    def _check_near_operand(self, node: Node, op: _Token) -> None:
        ok = isinstance(node, (Term, AliasRef)) or (
            isinstance(node, Or) and all(isinstance(c, (Term, AliasRef)) for c in node.children)
        )
        if not ok:
            name = op.raw.split("/")[0]
            raise _error(
                f"{name} works on words, phrases, @aliases or an OR of them in parentheses;"
                f" put AND, NOT and field scopes outside the {name}",
                node.column,
                self.query,
            )

    def primary(self, after: _Token | None) -> Node:
        tok = self.tok
        if tok.kind == _TERM:
            self.advance()
            return tok.value  # type: ignore[return-value]
        if tok.kind == _ALIAS:
            self.advance()
            return AliasRef(tok.value, tok.column)  # type: ignore[arg-type]
        if tok.kind == _LPAREN:
            self.advance()
            if self.tok.kind == _RPAREN:
                raise self.error("empty parentheses")
            self._enter(tok)
            inner = self.or_expr()
            self.depth -= 1
            if self.tok.kind != _RPAREN:
                raise self.error(
                    f"expected ')' to close the '(' at column {tok.column}, found {self.tok.describe()}"
                )
            self.advance()
            return _regroup(inner, tok.column)
        if tok.kind == _FIELD:
            self.advance()
            if self.tok.kind == _FIELD:
                raise self.error("a field scope cannot follow another one")
            inner = self.primary(tok)
            for node in walk(inner):
                if isinstance(node, Field):
                    raise _error(
                        f"'{node.field}:' inside '{tok.value}:(...)' can never match; use one field scope",
                        node.column,
                        self.query,
                    )
            return Field(tok.value, inner, tok.column)  # type: ignore[arg-type]
        raise self.error(self._missing_operand(tok, after))

    def _missing_operand(self, tok: _Token, after: _Token | None) -> str:
        if tok.kind in (_AND, _OR, _NEAR) and after is None:
            return f"{tok.describe()} needs a word or phrase before it"
        if after is not None:
            what = after.raw if after.kind != _NEAR else after.raw.split("/")[0]
            if tok.kind == _EOF:
                return f"'{what}' needs a word, phrase or '(' after it"
            return f"expected a word, phrase or '(' after '{what}', found {tok.describe()}"
        if tok.kind == _RPAREN:
            return "unexpected ')' with no matching '('"
        return f"expected a word, phrase or '(', found {tok.describe()}"  # pragma: no cover


def _flatten(kind: type, items: list[Node], column: int) -> Node:
    if len(items) == 1:
        return items[0]
    children: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            children.extend(item.children)  # type: ignore[attr-defined]
        else:
            children.append(item)
    return kind(tuple(children), column)


def _regroup(node: Node, column: int) -> Node:
    """A parenthesised group reports the column of its '('."""
    if isinstance(node, (And, Or)):
        return type(node)(node.children, column)
    return node


def parse_query(query: str) -> Node:
    """Parse a query string into a tree; raise RuleSyntaxError if it is not valid."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, not {type(query).__name__}")
    return _Parser(query).parse()


# --- printer ----------------------------------------------------------------

_PREC = {Or: 1, And: 2, Not: 3, Near: 4}


def format_query(node: Node) -> str:
    """Print a tree as a query string; parse_query(format_query(t)) == t for parsed t."""
    if isinstance(node, Term):
        if node.phrase:
            return f'"{node.text}{"*" if node.wildcard else ""}"'
        return node.written
    if isinstance(node, AliasRef):
        return f"@{node.name}"
    if isinstance(node, Field):
        inner = node.expr
        body = format_query(inner)
        if not isinstance(inner, (Term, AliasRef)):
            body = f"({body})"
        return f"{node.field}:{body}"
    if isinstance(node, Not):
        return f"NOT {_wrap(node.child, 3)}"
    if isinstance(node, Near):
        op = f"{'ONEAR' if node.ordered else 'NEAR'}/{node.distance}"
        return f"{_wrap(node.left, 5)} {op} {_wrap(node.right, 5)}"
    if isinstance(node, And):
        return " AND ".join(_wrap(c, 3) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_wrap(c, 2) for c in node.children)
    raise TypeError(f"not a query node: {node!r}")


def _wrap(node: Node, min_prec: int) -> str:
    text = format_query(node)
    prec = _PREC.get(type(node), 9)
    return f"({text})" if prec < min_prec else text
