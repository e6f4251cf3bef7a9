"""Which code is the user's and which is the profiler's own, judged by file name.

agentperf's own frames, tracemalloc's and importlib's are filtered out of every table;
the standard library and site-packages are library code, everything else is the user's.
"""

from __future__ import annotations

import os
import sysconfig
import tracemalloc
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

_AGENTPERF_DIR = str(Path(__file__).resolve().parent.parent)
_S = TypeVar("_S", tracemalloc.Statistic, tracemalloc.StatisticDiff)


def excluded(tb: tracemalloc.Traceback) -> bool:
    """Whether an allocation is the profiler's own, judged by its innermost frame.

    Applied to grouped statistics rather than with ``Snapshot.filter_traces``, which
    runs fnmatch per trace in pure Python and cost seconds per snapshot.
    """
    return is_internal(innermost(tb).filename)


def without_internal(stats: Iterable[_S]) -> list[_S]:
    return [s for s in stats if not excluded(s.traceback)]


@lru_cache(maxsize=4096)
def is_user_code(filename: str) -> bool:
    """Code the user wrote: not the standard library, not an installed package, not us."""
    if filename.startswith("<") or filename.startswith(_AGENTPERF_DIR + os.sep):
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    return not any(filename.startswith(prefix) for prefix in _library_prefixes())


@lru_cache(maxsize=1)
def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(os.path.realpath(paths[k]) + os.sep for k in keys if k in paths) + tuple(
        paths[k] + os.sep for k in keys if k in paths)


@lru_cache(maxsize=4096)
def is_internal(filename: str) -> bool:
    return (filename.startswith(_AGENTPERF_DIR + os.sep) or filename == tracemalloc.__file__
            or filename.startswith(("<frozen importlib", "<unknown>")))


def format_traceback(tb: tracemalloc.Traceback) -> list[str]:
    """Frames oldest first, agentperf's and tracemalloc's own left out."""
    return [f"{f.filename}:{f.lineno}" for f in tb if not is_internal(f.filename)]


def innermost(tb: tracemalloc.Traceback) -> tracemalloc.Frame:
    return tb[-1]  # frames are sorted oldest to most recent since Python 3.7


