"""YAML nodes with positions: what the loader needs to name FILE:LINE:COL.

The nodes are those `yaml.compose` makes, with every node's start mark; values are
built from scalar nodes one at a time with PyYAML's safe constructor, so types follow
YAML 1.1 as operators know them (`yes` is true, `2024-01-02` is a date).

`top_level` composes them from the parser's events, one top-level entry at a time and,
for a top-level list, one item at a time, so that a caller can read each rule and drop
its nodes before the next is composed: a 20,000-rule file's whole node tree was 150 MB,
most of a `rules check`'s peak memory. The events come from libyaml's C parser when
PyYAML has it (`CSafeLoader`): about 20 times faster than the pure-Python one on a 6 MB
file, with the same marks (character index, line, column). A file the C parser refuses
is read again by the pure-Python parser, so a syntax error reads and points exactly as
it always has (errors are rare; a big file pays for the second pass only then).

`position_in_scalar` finds where a character of a scalar's VALUE stands in
the file, through quotes, escapes, folded lines and block scalars, so a query
error points at the offending token in the file, not at the start of the
query.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import yaml
from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from .types import SourceLocation

__all__ = [
    "top_level", "TopPart", "FastParserRefused", "FAST_LOADER", "YamlProblem", "location", "scalar_value", "position_in_scalar",
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


def _problem(text: str, error: yaml.YAMLError) -> YamlProblem:
    """The pure-Python parser's error as a YamlProblem at its 1-based position."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = error.problem or "invalid YAML"
        if error.context:
            what = f"{what} ({error.context})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return YamlProblem(line, column, f"YAML syntax error: {what}")
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow: point at it
        position = error.position
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = chr(error.character) if isinstance(error.character, int) else str(error.character)
        return YamlProblem(line, column, f"YAML error: character {character!r} is not allowed in a YAML file")
    return YamlProblem(1, 1, "YAML error: " + " ".join(str(error).split()))


# --- one top-level entry (or list item) at a time ---------------------------


class FastParserRefused(Exception):
    """libyaml refused the text: read it again with `top_level(text, pure=True)`, whose
    errors read and point as the pure-Python parser's always have."""


class TopPart(NamedTuple):
    """One piece of a document, in file order (a tuple: a 20,000-rule file has 20,000).

    kind "entry": `key` and its whole `value`, once composed; when the value is a list its
    items are not in it: they follow, each as kind "item" (with the same key).
    kind "root": the document is not a mapping; `value` is its root node.
    """

    kind: str
    key: Node | None
    value: Node


# Deeper than any rules file needs (a rule is 3-4 levels); libyaml itself stops at 1,000.
MAX_DEPTH = 200
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_resolver = Resolver()
_CAN_RESOLVE = Resolver.yaml_implicit_resolvers  # first characters of non-string plain scalars


def top_level(text: str, pure: bool = False) -> Iterator[TopPart]:
    """The document's top-level entries (and list items) as TopParts, composed from the
    parser's events into the nodes `yaml.compose` makes, with the same tags and marks.

    Raises FastParserRefused when libyaml refuses the text (then read it again with
    pure=True) and YamlProblem for the pure parser's errors. Parts already given are
    then no part of a good document.
    """
    loader = yaml.SafeLoader if pure or FAST_LOADER is None else FAST_LOADER
    try:
        yield from _parts(yaml.parse(text, Loader=loader))
    except yaml.YAMLError as e:
        if loader is not yaml.SafeLoader:
            raise FastParserRefused() from e
        raise _problem(text, e) from e


class _Frame:
    __slots__ = ("node", "key", "streamed")

    def __init__(self, node: Node, streamed: bool = False):
        self.node = node
        self.key: Node | None = None  # a mapping's key whose value is being composed
        self.streamed = streamed  # a top-level list: items are given, not kept


def _parts(events: Iterator[Any]) -> Iterator[TopPart]:
    stack: list[_Frame] = []
    anchors: dict[str, Node] = {}
    document: Any = None
    for event in events:
        kind = type(event)
        if kind is ScalarEvent:
            node: Node = ScalarNode(_scalar_tag(event), event.value, event.start_mark, event.end_mark, event.style)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            mapping = kind is MappingStartEvent
            tag = event.tag if event.tag not in (None, "!") else (_MAP if mapping else _SEQ)
            start = MappingNode if mapping else SequenceNode
            if len(stack) >= MAX_DEPTH:  # the parsers would go on, for minutes, through 50,000 levels
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            collection = start(tag, [], event.start_mark, None, flow_style=event.flow_style)
            _anchor(anchors, event, collection)
            top_list = not mapping and len(stack) == 1 and stack[0].key is not None
            if top_list:
                yield TopPart("entry", stack[0].key, collection)
            stack.append(_Frame(collection, top_list))
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = stack.pop()
            frame.node.end_mark = event.end_mark
            node = frame.node
            if frame.streamed:
                stack[0].key = None  # its entry was given at its start
                continue
        elif kind is AliasEvent:
            if event.anchor not in anchors:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            node = anchors[event.anchor]
        elif kind is DocumentStartEvent:
            if document is not None:
                raise ComposerError(
                    "expected a single document in the stream", document, "but found another document", event.start_mark
                )
            document = event.start_mark
            continue
        else:
            continue
        if kind is ScalarEvent and event.anchor is not None:
            _anchor(anchors, event, node)
        part = _place(stack, node)
        if part is not None:
            yield part


def _place(stack: list[_Frame], node: Node) -> TopPart | None:
    """Put a finished node where it belongs: in its parent, or given back as a TopPart."""
    if not stack:
        return None if isinstance(node, MappingNode) else TopPart("root", None, node)
    frame = stack[-1]
    if frame.streamed:
        return TopPart("item", stack[0].key, node)
    if not isinstance(frame.node, MappingNode):
        frame.node.value.append(node)
    elif frame.key is None:
        frame.key = node
    elif len(stack) == 1:  # a top-level entry: given, not kept
        part, frame.key = TopPart("entry", frame.key, node), None
        return part
    else:
        frame.node.value.append((frame.key, node))
        frame.key = None
    return None


def _anchor(anchors: dict[str, Node], event: Any, node: Node) -> None:
    if event.anchor is None:
        return
    if event.anchor in anchors:
        first = anchors[event.anchor].start_mark
        message = f"found duplicate anchor {event.anchor!r}; first occurrence"
        raise ComposerError(message, first, "second occurrence", event.start_mark)
    anchors[event.anchor] = node


def _scalar_tag(event: ScalarEvent) -> str:
    """The tag `yaml.compose` gives a scalar: its own, or the one resolved from its text."""
    if event.tag not in (None, "!"):
        return event.tag
    value = event.value
    if not event.implicit[0] or (value and value[0] not in _CAN_RESOLVE):
        return _STR_TAG  # quoted, or plain text no implicit type can start with
    return _resolver.resolve(ScalarNode, value, event.implicit)


def location(file: str, node: Node) -> SourceLocation:
    mark = node.start_mark
    return SourceLocation(file, mark.line + 1, mark.column + 1)


_constructor = yaml.constructor.SafeConstructor()




_BOOL_TAG = "tag:yaml.org,2002:bool"
_BOOLS = yaml.constructor.SafeConstructor.bool_values  # "yes" -> True, "off" -> False, ...


def scalar_value(node: ScalarNode) -> Any:
    """The Python value of a scalar node (str, int, bool, None, date, ...)."""
    if node.tag == _STR_TAG:  # what the constructor gives for a string, without its dispatch
        return node.value
    if node.tag == _BOOL_TAG and node.value.lower() in _BOOLS:  # `match: true`: 38,000 in 20,000 rules
        return _BOOLS[node.value.lower()]
    try:
        return _constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError):
        # An explicit tag its text does not fit (`!!int abc`, `!!bool maybe`): the text, which
        # the key's own check then judges, never a crash.
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
