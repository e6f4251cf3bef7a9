"""The ``agentperf`` entry point: :func:`main`, and ``app`` for tests and docs.

It imports nothing but the standard library. ``multiprocessing`` runs the script that
started agentperf again in every worker process it starts (as ``__mp_main__``, for
``processes`` mode, auto's probes and spawned Dask workers), and the ``agentperf``
console script imports :func:`main` from here: whatever this module imports, each worker
imports again. When it imported Typer and the app, that was about 2 MB a worker and
20 ms of a one-input run in processes mode. The app is in :mod:`agentperf.cli.application`.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Run the command line (the console script and ``python -m agentperf``)."""
    from agentperf.cli.application import run

    run(sys.argv[1:])


def __getattr__(name: str) -> Any:
    """``app``, every command registered, built on first use (PEP 562)."""
    if name == "app":
        from agentperf.cli.application import full_app

        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
