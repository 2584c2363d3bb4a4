"""docs/reliability.md names the tests that prove each promise (issue 15.11): every
`FILE.py::test_name` it names (and each `...::test_name` after it, same file) exists. A bare
file name is looked up in tests/."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

DOC = REPO / "docs" / "reliability.md"


def _references() -> list[tuple[str, str]]:
    found, last_file = [], None
    for path, name in re.findall(r"`([\w/]+\.py|\.\.\.)::(test_\w+)`", DOC.read_text()):
        if path != "...":
            last_file = path if path.startswith("tests/") else _in_tests(path)
        found.append((last_file, name))
    return found


def _in_tests(file_name: str) -> str:
    (found,) = (REPO / "tests").rglob(file_name)  # one file of that name
    return str(found.relative_to(REPO))


def test_every_test_the_reliability_doc_names_exists():
    references = _references()
    assert len(references) >= 30  # the issue-15 table and the notifications table
    defined: dict[str, set[str]] = {}
    missing = []
    for path, name in references:
        if path not in defined:
            tree = ast.parse((REPO / path).read_text())
            defined[path] = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        if name not in defined[path]:
            missing.append(f"{path}::{name}")
    assert not missing, missing
