"""YAML nodes with positions: what the loader needs to name FILE:LINE:COL.

`yaml.compose` keeps every node's start mark; values are built from scalar
nodes one at a time with PyYAML's safe constructor, so types follow YAML 1.1
as operators know them (`yes` is true, `2024-01-02` is a date).

Nodes are composed by libyaml's C parser when PyYAML has it (`CSafeLoader`):
about 20 times faster than the pure-Python one on a 6 MB file, with the same
marks (character index, line, column). A file the C parser refuses is composed
again by the pure-Python parser, so a syntax error reads and points exactly as
it always has (errors are rare; a big file pays for the second pass only then).

`position_in_scalar` finds where a character of a scalar's VALUE stands in
the file, through quotes, escapes, folded lines and block scalars, so a query
error points at the offending token in the file, not at the start of the
query.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .types import SourceLocation

__all__ = [
    "compose", "FAST_LOADER", "YamlProblem", "location", "scalar_value", "position_in_scalar",
    "MappingNode", "ScalarNode", "SequenceNode", "Node",
]  # fmt: skip


class YamlProblem(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


# libyaml's parser when PyYAML was built with it; None when not.
FAST_LOADER: type | None = getattr(yaml, "CSafeLoader", None) if getattr(yaml, "__with_libyaml__", False) else None


def compose(text: str) -> Node | None:
    """The node tree of one YAML document; raises YamlProblem (1-based position)."""
    if FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=FAST_LOADER)
        except yaml.YAMLError:
            pass  # the pure-Python parser below names the problem as it always has
    return _compose_pure(text)


def _compose_pure(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or "invalid YAML"
        if e.context:
            what = f"{what} ({e.context})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(line, column, f"YAML syntax error: {what}") from e
    except yaml.reader.ReaderError as e:  # a character YAML does not allow: point at it
        position = e.position
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = chr(e.character) if isinstance(e.character, int) else str(e.character)
        raise YamlProblem(line, column, f"YAML error: character {character!r} is not allowed in a YAML file") from e
    except yaml.YAMLError as e:
        raise YamlProblem(1, 1, "YAML error: " + " ".join(str(e).split())) from e


def location(file: str, node: Node) -> SourceLocation:
    mark = node.start_mark
    return SourceLocation(file, mark.line + 1, mark.column + 1)


_constructor = yaml.constructor.SafeConstructor()


_STR_TAG = "tag:yaml.org,2002:str"


def scalar_value(node: ScalarNode) -> Any:
    """The Python value of a scalar node (str, int, bool, None, date, ...)."""
    if node.tag == _STR_TAG:  # what the constructor gives for a string, without its dispatch
        return node.value
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value


def position_in_scalar(text: str, node: ScalarNode, offset: int) -> tuple[int, int]:
    """1-based (line, column) in the file of node.value[offset].

    Walks the scalar's source and its value side by side: source characters
    that do not appear in the value (quotes, escapes, indentation, line folds)
    are skipped. Exact for plain, quoted and block scalars without escapes;
    close for the rest.
    """
    value = node.value
    i = node.start_mark.index
    end = min(node.end_mark.index, len(text))
    if node.style in ("'", '"'):
        i += 1
    elif node.style in ("|", ">"):
        newline = text.find("\n", i)
        i = newline + 1 if 0 <= newline < end else i
    j = 0
    offset = max(0, min(offset, len(value)))
    while j < offset and i < end:
        if text[i] == value[j]:
            j += 1
        i += 1
    if offset < len(value):
        while i < end and text[i] != value[offset]:
            i += 1
    i = min(i, len(text))
    line = text.count("\n", 0, i) + 1
    column = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, column
