"""What a benchmark needs installed, checked before it starts.

A bench whose peer or meter is missing must fail (exit 1) with one line that names
the package, never run without it and report "all targets met" over an empty table.
`make bench` installs these (BENCH_PACKAGES in the Makefile).
"""

from __future__ import annotations

import importlib
import sys

# import name -> the package pip installs it from
PACKAGES = {"psutil": "psutil", "reader": "reader", "sgmllib": "sgmllib3k"}


def missing(*modules: str) -> list[str]:
    """The modules of `modules` that cannot be imported (absent, or broken)."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def require(*modules: str, script: str = "") -> None:
    """Exit 1 with one line naming each missing bench dependency."""
    absent = missing(*modules)
    if absent:
        packages = " ".join(PACKAGES.get(name, name) for name in absent)
        where = f"{script}: " if script else ""
        print(f"{where}missing bench dependencies: {', '.join(absent)} (install them: `make bench` does, "
              f"or .venv/bin/pip install {packages})", file=sys.stderr)
        sys.exit(1)
