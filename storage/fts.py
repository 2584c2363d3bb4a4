"""Full-text queries as operators type them, made into valid SQLite FTS5 syntax. Pure.

FTS5 refuses `Pakistan-US` ("no such column: US"), and `$500m`, `U.S.` or `Reko-Diq` fail
alike. A bare word holding anything but letters, digits and `_` (with an optional `^` before
or `*` after) is searched as a phrase: "Pakistan-US" finds "Pakistan US" and "Pakistan-US".
Quoted phrases, AND/OR/NOT, NEAR(...), parentheses and `column:` filters pass as written.
"""

from __future__ import annotations

import re

# A quoted phrase ("" inside is an escaped quote), a parenthesis or comma, or a run of anything else.
_TOKEN = re.compile(r'"(?:[^"]|"")*"?|[(),]|[^\s(),"]+')
_PLAIN_WORD = re.compile(r"\^?\w+\*?")
_COLUMN_FILTER = re.compile(r"(\w+):(.*)", re.DOTALL)
_OPERATORS = {"AND", "OR", "NOT", "NEAR", "(", ")", ","}


def fts_query(text: str) -> str:
    """`text` with every bare word that FTS5 would misread turned into a quoted phrase."""
    return " ".join(_token(match.group()) for match in _TOKEN.finditer(text))


def _token(token: str) -> str:
    if token.startswith('"') or token in _OPERATORS or _PLAIN_WORD.fullmatch(token):
        return token
    column = _COLUMN_FILTER.fullmatch(token)
    if column and column.group(2):
        return f"{column.group(1)}:{_token(column.group(2))}"
    return '"' + token.replace('"', '""') + '"'
