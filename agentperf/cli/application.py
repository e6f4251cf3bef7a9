"""The ``agentperf`` Typer app; each command lives in its own module.

Command modules import their heavy dependencies inside the command function, so
``agentperf --help`` stays fast and imports neither Redis, Dask, memory-profiler nor
psutil. The entry point, :mod:`agentperf.cli.app`, imports this module only when it runs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable

import typer

from agentperf import __version__
from agentperf.cli.common import EXIT_CODES_HELP, PANEL_OUTPUT, claim_process
from agentperf.cli.help import AgentperfGroup

#: Every command module registers itself with ``register(app)``; keyed by command name.
COMMAND_MODULES = {"run-batch": "run_batch", "bench": "bench", "profile": "profile",
                   "monitor": "monitor", "cache": "cache"}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentperf {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit.",
                                 rich_help_panel=PANEL_OUTPUT),
) -> None:
    """Benchmark, profile and monitor AI-agent workloads."""


def build_app(commands: Iterable[str] = COMMAND_MODULES) -> typer.Typer:
    """The Typer app with ``commands`` (by command name) registered."""
    app = typer.Typer(
        name="agentperf",
        cls=AgentperfGroup,
        help="Benchmark, profile and monitor AI-agent workloads.\n\n" + EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    for command in commands:
        importlib.import_module(f"agentperf.cli.{COMMAND_MODULES[command]}").register(app)
    return app


@functools.cache
def full_app() -> typer.Typer:
    return build_app()


def run(args: list[str]) -> None:
    """Run the command line; a command's own run builds only that command.

    Typer turns every registered command's signature into Click options each time the
    app is called, and ``agentperf run-batch ...`` needs one (with the other four
    command modules' imports, about 10 ms of every run).
    Help, a bad command name and ``--version`` get the whole app (:func:`full_app`).
    """
    claim_process()
    if args and args[0] in COMMAND_MODULES and "--help" not in args:
        build_app([args[0]])()
    else:
        full_app()()
