"""Agents for the run-batch end-to-end tests (imported by dotted path from specs)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, TypedDict


def double(x: int) -> int:
    return x * 2


def fail_on_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd input {x}")
    return x


def slow(x: int) -> int:
    """Slow enough that a signal arrives mid-run; records that it started."""
    marker = os.environ.get("AGENTPERF_TEST_MARKER")
    if marker:
        Path(marker).touch()
    time.sleep(0.05)
    return x


def no_input() -> str:
    return "called"


class GraphState(TypedDict):
    text: str
    words: int
    shout: str


def build_graph() -> Any:
    """A real LangGraph StateGraph with pure-Python nodes and no model."""
    from langgraph.graph import END, START, StateGraph

    def count(state: GraphState) -> dict[str, Any]:
        return {"words": len(state["text"].split())}

    def shout(state: GraphState) -> dict[str, Any]:
        return {"shout": state["text"].upper()}

    graph = StateGraph(GraphState)
    graph.add_node("count", count)
    graph.add_node("shout", shout)
    graph.add_edge(START, "count")
    graph.add_edge("count", "shout")
    graph.add_edge("shout", END)
    return graph.compile()


def leaky(x: str, context: dict[str, Any]) -> dict[str, Any]:
    """Repeats its secrets in its output and, for "bad", in its exception message."""
    if x == "bad":
        raise ValueError(f"auth failed with {context['api_key']}")
    return {"echo": f"used {context['api_key']}", "db": context["db_url"],
            "env": os.environ.get("AGENTPERF_TEST_SERVICE_TOKEN", ""), "tokens_used": 3}


def five_then_fail(n: int = 5) -> Any:
    """An input generator whose source goes away after ``n`` inputs."""
    yield from range(n)
    raise ConnectionError("input source went away")


class BuildLog:
    """Appends where it was built (``main`` or ``worker``) to ``log`` on construction."""

    def __init__(self, log: str) -> None:
        import multiprocessing

        where = "main" if multiprocessing.parent_process() is None else "worker"
        with open(log, "a") as fh:
            fh.write(where + "\n")

    def execute(self, input_data: Any, context: Any) -> Any:
        return input_data


def optional_input(x: Any = None) -> str:
    """Called without an argument when there is no input; NO_INPUT must be recognised."""
    return f"called with {x!r}"


def hold_memory(megabytes: int) -> int:
    """Holds ``megabytes`` MiB (written, so resident) for 50 ms: memory-budget tests."""
    import time

    block = b"\x01" * (megabytes * 1024 * 1024)
    time.sleep(0.05)
    return len(block)
