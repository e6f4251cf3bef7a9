"""Errors that reach the user as one line and a documented exit code.

Every command shares these exit codes, so a CI job can tell a slow build from a
broken spec from a flaky agent without reading the log.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, identical for every command."""

    OK = 0
    GATE_FAILED = 1  # a threshold, regression gate or leak gate failed
    USAGE = 2  # bad option, bad spec, missing file, unimportable dotted path
    WORKLOAD_FAILED = 3  # the workload's own failures exceeded max_error_rate
    INTERRUPTED = 130  # SIGINT / SIGTERM


class AgentperfError(Exception):
    """An error the CLI turns into one line on stderr and an exit code.

    The message must name what is wrong and where (file, key, line), because the
    user sees nothing else unless they pass ``--debug``.
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpecError(AgentperfError):
    """A workload spec or reference that cannot be used; always exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.source = source
        self.key = key
        self.line = line
        self.column = column
        super().__init__(self._format(message))

    def _format(self, message: str) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key:
            where = f"{where}: {self.key}" if where else self.key
        return f"{where}: {message}" if where else message


class DependencyMissingError(AgentperfError):
    """An optional extra is needed; the message says what to install."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the '{module}' package: pip install 'agentperf[{extra}]'"
        )


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
