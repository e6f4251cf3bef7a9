"""What every command shares: error handling, exit codes, consoles."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from agentperf.errors import AgentperfError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 a threshold, regression or leak gate failed; "
    "2 usage or spec error; 3 the workload's own failures exceeded max_error_rate; "
    "130 interrupted."
)

DEBUG_OPTION = typer.Option(False, "--debug", help="Show full tracebacks for errors.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q",
                            help="No progress output; print only the summary.")
JSON_OPTION = typer.Option(False, "--json", help="Print a machine-readable JSON summary on stdout.")


def stdout_console() -> Console:
    return Console(highlight=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    stderr_console().print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
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
            raise fail(_escape(exc.message), exc.exit_code) from None
        except KeyboardInterrupt:
            stderr_console().print("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
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
