"""How processes mode starts its workers, and starting their server early.

This module imports only :mod:`multiprocessing`, so a run can start the forkserver
before it imports the rest of the executor.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

#: Imported once by the forkserver, so every worker it forks starts with them loaded:
#: the worker's loop, the RSS reader its call-peak meter imports before it is ready,
#: and last the module that freezes all of it (:mod:`.forkserver_freeze`).
PRELOAD = ["agentperf.execution.proc_worker", "agentperf.measure.rss",
           "agentperf.execution.forkserver_freeze"]


def start_method() -> str:
    """``forkserver`` where it exists: ``fork`` copies the parent's threads' locks (a
    sampler or a live display may hold one), and ``spawn`` re-imports everything for
    each replacement worker."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def worker_context(method: str) -> BaseContext:
    context = mp.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


def prestart_workers() -> None:
    """Start the forkserver now rather than when the first worker is asked for.

    Its interpreter then starts and imports the worker's modules while this one is still
    importing the run's own: on two cores the two overlap, which takes about a third
    off a one-input run in processes mode (``benchmarks/executor.py --startup``).
    """
    if start_method() != "forkserver":
        return
    worker_context("forkserver")
    from multiprocessing import forkserver

    forkserver.ensure_running()
