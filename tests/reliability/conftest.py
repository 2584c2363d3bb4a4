"""Fixtures and options of the reliability suite (tests/reliability).

`--crash-kills N` (or the MINERALS_CRASH_KILLS environment variable) sets how many
times the crash test kills the daemon; the default keeps the suite fast. The option
is known when pytest is pointed at this folder (`pytest tests/reliability --crash-kills 20`);
the environment variable works from anywhere.
"""

from __future__ import annotations

import os

import pytest

# The SMTP server, certificate and webhook fixtures of the alerts tests, reused as they are.
from tests.alerts.conftest import certificate, smtp_server  # noqa: F401 (fixtures)

DEFAULT_CRASH_KILLS = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--crash-kills", type=int, default=None,
        help="how many times the reliability crash test SIGKILLs the daemon (default 5; env MINERALS_CRASH_KILLS)",
    )


@pytest.fixture
def crash_kills(request: pytest.FixtureRequest) -> int:
    chosen = request.config.getoption("--crash-kills", default=None)
    if chosen is None:
        chosen = int(os.environ.get("MINERALS_CRASH_KILLS", DEFAULT_CRASH_KILLS))
    return max(1, int(chosen))


@pytest.fixture
def crash_seed() -> int:
    """The crash loop's seed (kill moments, item texts); MINERALS_CRASH_SEED replays a failing run."""
    return int(os.environ.get("MINERALS_CRASH_SEED", "20261127"))
