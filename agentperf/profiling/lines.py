"""Line-by-line RSS of one function with memory-profiler's line profiler (``@profile``).

memory-profiler reads the process RSS at every line event. An increment is therefore
the change in pages the OS gave the process while that line ran, not the size of the
Python objects it made; that is why its users see zeros and negative increments.
"""

from __future__ import annotations

import inspect
import linecache
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.profiling.result import LineProfile, LineRecord

RSS_NOTE = (
    "Mem usage is the process RSS after the line; Increment is the RSS change while it "
    "ran, summed over its occurrences. RSS moves in pages the allocator takes from or "
    "gives back to the OS: a line that frees a large object can show a negative increment, "
    "and small objects come from memory Python already holds, so they often show 0.0. "
    "For the size of the Python objects each line allocates, see the allocation sites "
    "(tracemalloc)."
)


def resolve_function(name: str, agent: Any, search_paths: tuple[str, ...] = ()
                     ) -> Callable[..., Any]:
    """The function ``--line`` names: a method of the agent, or a dotted path."""
    candidate = _named_near(agent, name)
    if candidate is None and (":" in name or "." in name):
        from agentperf.workload.loader import resolve

        candidate = resolve(name, search_paths=search_paths, key="--line")
    if candidate is None:
        raise AgentperfError(f"--line {name}: the agent has no method '{name}' and it is not "
                             "a dotted path like 'package.module:function'")
    function = inspect.unwrap(getattr(candidate, "__func__", candidate))
    code = getattr(function, "__code__", None)
    if code is None:
        raise AgentperfError(f"--line {name}: {function!r} is not a Python function")
    if not Path(code.co_filename).is_file():
        raise AgentperfError(f"--line {name}: source file {code.co_filename} not found")
    return function


def _named_near(agent: Any, name: str) -> Any:
    """``name`` as a method of the agent, the agent function itself, or a function of
    the module that defines the agent."""
    if agent is None:
        return None
    if getattr(agent, "__name__", None) == name and callable(agent):
        return agent
    attribute = getattr(agent, name, None)
    if attribute is not None:
        return attribute
    module_name = getattr(agent, "__module__", None) or type(agent).__module__
    return getattr(sys.modules.get(module_name), name, None)


def profile_lines(function: Callable[..., Any], run_calls: Callable[[int], None],
                  calls: int) -> LineProfile:
    """Run ``calls`` calls of the workload with ``function``'s lines profiled."""
    from memory_profiler import LineProfiler

    profiler = LineProfiler(backend="psutil")
    profiler.add_function(function)
    profiler.enable_by_count()
    try:
        run_calls(calls)
    finally:
        profiler.disable_by_count()
    code = function.__code__
    records: list[LineRecord] = []
    for filename, lines in profiler.code_map.items():
        for lineno, measure in lines:
            source = linecache.getline(filename, lineno).rstrip()
            if measure is None:
                records.append(LineRecord(lineno, source, None, None, 0))
            else:
                increment, usage, occurrences = measure
                records.append(LineRecord(lineno, source, round(usage, 3),
                                          round(increment, 3), int(occurrences)))
    return LineProfile(function=function.__qualname__, filename=code.co_filename, calls=calls,
                       lines=records, note=RSS_NOTE)
