"""Command-line values converted without pydantic where the result is certain (issue 17.1).

Typer 0.29 converts every parameter it processes through a pydantic TypeAdapter, built the
first time the parameter is seen, even for an option left out (value None) or a default it
already holds as an int. Importing pydantic and building those adapters is ~0.1 s of a
0.3 s start-up budget, spent by every command (`hits list` with no option builds four).

`install()` gives Typer a lazy stand-in for each parameter's converter: the cases whose
result is certain are answered here (None, a plain `str`, a decimal `int` within its
bounds, an existing `Path`, lists of these), the same value Typer's adapter returns; every
other value (a bad number, an odd file name, an Enum, a Typer that works otherwise) goes to
Typer's own converter, built then, so its messages stay Typer's.
tests/monitor/cli/test_coercion.py compares both on every parameter of every command.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

# A value outside these goes to Typer's own converter: pydantic's int parsing accepts more
# spellings (signs, spaces, underscores) and we need not know which.
_PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]{0,17}")


class _Defer(Exception):
    """This value is not a certain case: let Typer's own converter handle it."""


def install() -> bool:
    """Route Typer's parameter conversion through the fast path; False (nothing changed)
    when this Typer does not convert through `typer.core.build_runtime_param`."""
    try:
        from typer import _coercion
        from typer import core as typer_core
    except ImportError:
        return False
    original = getattr(typer_core, "build_runtime_param", None)
    if original is None or not hasattr(_coercion, "RuntimeParam") or getattr(original, "_fast_path", False):
        return original is not None

    class LazyRuntimeParam(_coercion.RuntimeParam):
        """Answers the certain cases; builds Typer's converter for the rest, on first need."""

        def __init__(self, descriptor: Any) -> None:
            super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
            object.__setattr__(self, "_descriptor", descriptor)
            object.__setattr__(self, "_typers", None)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _certain(self.annotation, self.parameter_info, value, param, ctx)
            except _Defer:
                pass
            if self._typers is None:
                object.__setattr__(self, "_typers", original(self._descriptor))
            return self._typers._coerce_value(value, param=param, ctx=ctx)

    def build_runtime_param(descriptor: Any) -> Any:
        if descriptor.file_annotation is not None:  # opens files: no adapter involved, nothing to save
            return original(descriptor)
        return LazyRuntimeParam(descriptor)

    build_runtime_param._fast_path = True  # type: ignore[attr-defined]
    typer_core.build_runtime_param = build_runtime_param
    return True


def _certain(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """The converted value when it is certain, else raises _Defer. (None never reaches here:
    Typer's RuntimeParam.coerce answers it before converting.)"""
    if getattr(info, "parser", None) is not None:
        raise _Defer
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation) or (None,)
        if item_type is None or not isinstance(value, (list, tuple)):
            raise _Defer
        return [_certain(item_type, info, item, param, ctx) for item in value]
    if annotation is str:
        if type(value) is str and _plain_text(value):
            return value
        raise _Defer
    if annotation is int:
        if getattr(info, "clamp", False):
            raise _Defer
        if type(value) is str and _PLAIN_DECIMAL.fullmatch(value):
            number = int(value)
        elif type(value) is int:
            number = value
        else:
            raise _Defer
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        if (low is not None and number < low) or (high is not None and number > high):
            raise _Defer  # Typer's message says which bound
        return number
    if annotation is Path:
        return _existing_path(info, value, param, ctx)
    raise _Defer


def _existing_path(info: Any, value: Any, param: Any, ctx: Any) -> Path:
    """A Path, checked (exists, file or folder, readable...) by Typer's own checker."""
    if type(value) is not str or not value or not _plain_text(value):
        raise _Defer
    if getattr(info, "path_type", None) not in (None, Path) or getattr(info, "allow_dash", False):
        raise _Defer  # "-" handling and other path types: Typer's way
    if str(Path(value)) != value:
        # Typer checks Path(value) ("x.yaml/" is then "x.yaml") but quotes the text as typed:
        # only for text that is its own Path are both the same string.
        raise _Defer
    from typer._param_types import coerce_cli_path

    checked = coerce_cli_path(value, info, path_type=None, param=param, ctx=ctx)
    if type(checked) is not str:
        raise _Defer
    return Path(checked)


def _plain_text(value: str) -> bool:
    """No lone surrogates (undecodable argv bytes) nor NUL: pydantic may refuse those."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
