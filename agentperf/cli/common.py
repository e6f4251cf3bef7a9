"""What every command shares: error handling, exit codes, consoles, and the flag vocabulary.

The vocabulary lives here so a new option slots in at merge time without a second
convention: give it ``rich_help_panel=PANEL_...`` (one of the constants below) and, when
its value is not plain text, a ``metavar=`` constant. A short flag is allowed only for
an entry of :data:`SHORT_FLAGS`; ``tests/test_cli_conventions.py`` walks every command and
fails otherwise. docs/cli-conventions.md is the same table for readers.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from agentperf.errors import AgentperfError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])

#: Help panels, in the order a reader needs them. Every option names one of these.
PANEL_WORKLOAD = "Workload"
PANEL_EXECUTION = "Execution"
PANEL_MEASURE = "Measurement"
PANEL_WATCH = "Watch"
PANEL_CACHE = "Cache"
PANEL_GATES = "Gates"
PANEL_REPORTS = "Reports"
PANEL_OUTPUT = "Output"

#: Metavars for values that are not plain TEXT/INTEGER/NUMBER/PATH (those come from the type).
METAVAR_SPEC = "SPEC"
METAVAR_WORKLOAD = "WORKLOAD"
METAVAR_JSON = "JSON"
METAVAR_MODE = "MODE"
METAVAR_SECONDS = "SECONDS"
METAVAR_DURATION = "DURATION"
METAVAR_PCT = "PCT"
METAVAR_SIZE = "SIZE"
METAVAR_GATE = "GATE"
METAVAR_URL = "URL"
METAVAR_FILE = "FILE"

#: The only short flags, each with one meaning (and the long names it abbreviates) in
#: every command. ``-n`` is "how many timed measurements": bench's samples, profile's calls.
SHORT_FLAGS: dict[str, tuple[str, ...]] = {
    "-i": ("--input",),
    "-w": ("--workers",),
    "-m": ("--mode",),
    "-t": ("--threshold",),
    "-o": ("--output",),
    "-q": ("--quiet",),
    "-n": ("--samples", "--iterations"),
    "-p": ("--pid",),
    "-s": ("--seconds",),
    "-e": ("--export",),
}

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 a threshold, regression or leak gate failed; "
    "2 usage or spec error; 3 the workload's own failures exceeded max_error_rate "
    "(or the command monitor started failed); 130 interrupted."
)

DEBUG_OPTION = typer.Option(False, "--debug", help="Show full tracebacks for errors.",
                            rich_help_panel=PANEL_OUTPUT)
QUIET_OPTION = typer.Option(False, "--quiet", "-q", rich_help_panel=PANEL_OUTPUT,
                            help="No progress or live view; print only the summary.")
JSON_OPTION = typer.Option(False, "--json", rich_help_panel=PANEL_OUTPUT,
                           help="Print the machine-readable JSON summary on stdout.")


def positive_seconds(value: float | None) -> float | None:
    """A time that must be more than 0 (``--timeout 0`` would expire every task at once);
    the help says "more than 0" so it matches what is refused."""
    if value is not None and value <= 0:
        raise typer.BadParameter(f"must be more than 0, got {value:g}")
    return value


#: Execution overrides as the options that carry them, for errors that name the option.
EXECUTION_OPTIONS = {"mode": "--mode", "workers": "--workers", "max_in_flight": "--max-in-flight",
                     "timeout_s": "--timeout", "retries": "--retries", "scheduler": "--scheduler"}


def check_execution_options(overrides: dict[str, Any]) -> None:
    """Refuse a bad ``--mode``/``--workers``/... by its option name, before a spec loads."""
    from agentperf.execution.settings import ExecutionSettings

    given = {k: v for k, v in overrides.items() if v is not None}
    for key, problem in ExecutionSettings(**given).problems():
        raise AgentperfError(f"{EXECUTION_OPTIONS.get(key, key)}: {problem}")


_owns_process = False


def claim_process() -> None:
    """Called when the command line runs as the program (:func:`agentperf.cli.app.main`):
    the command is the whole process, which ends when the command does."""
    global _owns_process
    _owns_process = True


def owns_process() -> bool:
    """Whether a command may change process-wide state for good (it freezes the garbage
    collector's view, :mod:`agentperf.measure.collector`); False for an in-process caller
    (Typer's test runner, a notebook), whose process is left as it was."""
    return _owns_process


def stdout_console() -> Any:
    """A Rich console on stdout (imported here: ``--help`` needs no Rich)."""
    from rich.console import Console

    return Console(highlight=False)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """``error: WHERE: WHAT`` on one line of stderr, however long (CI logs keep it whole)."""
    stderr_console().print(f"[bold red]error:[/] {escape(message)}", markup=True,
                           soft_wrap=True)


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    print_error(message)
    return typer.Exit(int(code))


def handle_errors(func: F) -> F:
    """Turn :class:`AgentperfError` into one line and its exit code; ``--debug`` re-raises."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        try:
            return func(*args, **kwargs)
        except AgentperfError as exc:
            if debug:
                raise
            raise fail(exc.message, exc.exit_code) from None
        except KeyboardInterrupt:
            stderr_console().print("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper  # type: ignore[return-value]


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def check_writable(path: Path | None, option: str) -> None:
    """Fail on an output path that cannot be written now, not after the run (as hyperfine).

    Nothing is created: the file is written when there is something to write.
    """
    if path is None:
        return
    parent = path.resolve().parent
    if not parent.is_dir():
        raise AgentperfError(f"{option} {path}: directory {parent} does not exist")
    if path.is_dir():
        raise AgentperfError(f"{option} {path}: is a directory, expected a file name")
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise AgentperfError(f"{option} {path}: cannot write to {target}")


def is_terminal() -> bool:
    return sys.stdout.isatty()
