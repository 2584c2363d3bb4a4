"""Errors of the monitor package, and the list of every package's root error.

`rules/` and `storage/` import nothing of ours, so each package has its own root;
the CLI turns any of `PROJECT_ERRORS` into one clear line and an exit code.
"""

from __future__ import annotations

from alerts.exceptions import AlertsError
from rules.exceptions import RulesError
from storage.exceptions import StorageError


class MonitorError(Exception):
    """Root of the monitor package's errors."""


class ConfigError(MonitorError):
    """The config file is unusable; `problems` has one line per problem."""

    kind = "config error"  # how the CLI labels each problem line

    def __init__(self, problems: list[str]):
        # One problem, one line, even when a key or value in the file holds a line break.
        problems = [p.replace("\r", "\\r").replace("\n", "\\n") for p in problems]
        super().__init__("\n".join(problems))
        self.problems = problems


class RulesFileError(ConfigError):
    """The rules files have problems when the monitor starts: it does not start on a bad or
    empty set (it would store articles matched against no rules). One FILE:LINE:COL line each."""

    kind = "rules error"


class FetchError(MonitorError):
    """A feed could not be fetched (network, HTTP status, caps)."""


class ParseError(MonitorError):
    """A feed body yielded no entries at all."""


PROJECT_ERRORS: tuple[type[Exception], ...] = (MonitorError, RulesError, StorageError, AlertsError)
