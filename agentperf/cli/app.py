"""The ``agentperf`` Typer app; each command lives in its own module.

Command modules import their heavy dependencies inside the command function, so
``agentperf --help`` stays fast and imports neither Redis, Dask, memory-profiler nor
psutil.
"""

from __future__ import annotations

import importlib

import typer

from agentperf import __version__
from agentperf.cli.common import EXIT_CODES_HELP, PANEL_OUTPUT
from agentperf.cli.help import AgentperfGroup

app = typer.Typer(
    name="agentperf",
    cls=AgentperfGroup,
    help="Benchmark, profile and monitor AI-agent workloads.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

#: Every command module registers itself with ``register(app)``.
COMMAND_MODULES = ("run_batch", "bench", "profile", "monitor", "cache")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentperf {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit.",
                                 rich_help_panel=PANEL_OUTPUT),
) -> None:
    """Benchmark, profile and monitor AI-agent workloads."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        qualified = f"agentperf.cli.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                continue  # not built yet: a command appears in --help only when it works
            raise
        module.register(app)


_register_commands()


def main() -> None:
    app()
