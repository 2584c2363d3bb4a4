"""Errors of the rules package.

`RulesError` is the root; monitor/exceptions.py lists it beside the other
packages' roots. Validation problems in rules files are not raised: they are
collected as `Problem` values (see rules/loader.py). Exceptions are for callers
that hand the package something invalid directly (a bad query string, a rule
that cannot be compiled).
"""

from __future__ import annotations


class RulesError(Exception):
    """Root of the errors raised by the rules package."""


class RuleSyntaxError(RulesError):
    """A query string that does not parse.

    message: what is wrong, in words an operator understands.
    column: 1-based column of the offending token within the query string
        (one past the end for "the query ended too early").
    query: the query text, when known (for `pointer()`).
    file, line, file_column: where the offending token stands in a rules
        file, when the query came from one (1-based; see `located`).
    """

    def __init__(
        self,
        message: str,
        column: int,
        *,
        query: str | None = None,
        file: str | None = None,
        line: int | None = None,
        file_column: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.column = column
        self.query = query
        self.file = file
        self.line = line
        self.file_column = file_column

    def located(self, file: str, line: int, file_column: int) -> RuleSyntaxError:
        """A copy of this error that also names its position in a rules file."""
        return RuleSyntaxError(
            self.message, self.column, query=self.query, file=file, line=line, file_column=file_column
        )

    def pointer(self) -> str:
        """The query on one line and a caret under the offending column."""
        if self.query is None:
            return ""
        return f"{self.query}\n{' ' * (self.column - 1)}^"

    def __str__(self) -> str:
        if self.file is not None:
            return f"{self.file}:{self.line}:{self.file_column}: {self.message}"
        return f"column {self.column}: {self.message}"
