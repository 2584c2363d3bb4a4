"""Imports run one way (docs/design.md, "Packages and what they may import").

An AST walk over every module of ours, counting imports inside functions and under
TYPE_CHECKING too: a lazy import is still a dependency.

    faces          monitor/cli/, monitor/web/        (nothing of ours imports them)
    orchestration  monitor/*.py                       daemon, pipeline, writer, config, ...
    the wire       monitor/fetch/                     may import parse/
    bodies         monitor/parse/                     imports neither fetch/ nor the orchestration (rules/ yes)
    alerts/        may import storage/
    storage/       only its own modules
    rules/         nothing of ours

`monitor/exceptions.py` and `monitor/durations.py` are leaves every monitor layer may use
(the root error and the duration syntax); `monitor/__main__.py` is the process entry point.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("monitor", "rules", "storage", "alerts")
LEAVES = {"monitor.exceptions", "monitor.durations"}

# layer -> the layers it may import (its own always allowed)
ALLOWED = {
    "rules": set(),
    "storage": set(),
    "alerts": {"storage"},
    "leaf": {"rules", "storage", "alerts"},  # monitor/exceptions.py gathers every package's root error
    "parse": {"rules", "storage", "leaf"},  # rules/ is pure: story words fold Urdu as the matcher does
    "fetch": {"parse", "storage", "leaf"},
    "orchestration": {"fetch", "parse", "rules", "storage", "alerts", "leaf"},
    # `serve`, and `run` with [web] listen, start the console (monitor/web/server.py); the web
    # face never imports the CLI.
    "cli": {"web", "orchestration", "fetch", "parse", "rules", "storage", "alerts", "leaf"},
    "web": {"orchestration", "fetch", "parse", "rules", "storage", "alerts", "leaf"},
    "entry": {"cli", "web", "orchestration", "leaf"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "monitor":
        return parts[0]
    if module in LEAVES:
        return "leaf"
    if module == "monitor.__main__":
        return "entry"
    if len(parts) > 1 and parts[1] in {"cli", "web", "fetch", "parse"}:
        return parts[1]
    return "orchestration"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of ours in the file, wherever it sits."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from monitor.cli import alerts` imports the module monitor.cli.alerts;
            # `from monitor.pipeline import Pipeline` resolves to monitor.pipeline below
            names = [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.append((node.lineno, name))
    return found


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that an imported dotted name refers to (longest known prefix)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def violations() -> list[str]:
    modules = our_modules()
    found = []
    for module, path in modules.items():
        source_layer = layer_of(module)
        for line, name in imports_of(path, module):
            target = resolve(name, modules)
            if target is None:
                continue
            target_layer = layer_of(target)
            if target_layer == source_layer or target_layer in ALLOWED[source_layer]:
                continue
            found.append(f"{path.relative_to(REPO)}:{line}: {source_layer} module {module} imports {target} ({target_layer})")
    return sorted(set(found))


def test_imports_run_one_way():
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("monitor.cli.main", "cli"),
        ("monitor.web", "web"),
        ("monitor.fetch.pool", "fetch"),
        ("monitor.parse.feed", "parse"),
        ("monitor.pipeline", "orchestration"),
        ("monitor.exceptions", "leaf"),
        ("rules.match", "rules"),
        ("storage.db", "storage"),
    ],
)
def test_every_module_has_the_layer_its_folder_says(module, expected):
    assert layer_of(module) == expected


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    # the checker itself must notice an import inside a function and a relative one
    source = tmp_path / "monitor" / "parse" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from monitor import daemon\nfrom ..cli import main\n")
    names = {name for _, name in imports_of(source, "monitor.parse.x")}
    assert "monitor.daemon" in names
    assert "monitor.cli.main" in names
