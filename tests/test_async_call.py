"""Asyncio mode meters and watches each async call inside its worker (execution/async_call.py).

Without a timeout the backend runs a call's first step itself and needs no metering
coroutine and no stepping wrapper when the call finished there with a plain result.
Every other shape (a call that suspends, reports usage, returns a usage-bearing dict,
streams, fails) must come out exactly as ``meter_async`` (the adapter's ``acall``,
which every other path uses) and the timeout path give it: each case runs both ways
and is checked against fixed expectations too, so a break common to both still fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import agentperf
from agentperf.execution import ExecutorInfo, Task, TaskResult, create_executor
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef, build_adapter

# -- agents: every shape an async call can take ----------------------------------------------


async def at_once(x: int) -> int:
    return x * 2


async def after_a_suspension(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def records_at_once(x: int) -> int:
    agentperf.record_usage(input_tokens=10 + x, output_tokens=2, model="m")
    return x


async def records_around_a_suspension(x: int) -> int:
    agentperf.record_usage(input_tokens=7, output_tokens=1, model="m")
    await asyncio.sleep(0.001)
    agentperf.record_usage(input_tokens=7, output_tokens=1, model="m")
    return x


async def dict_at_once(x: int) -> dict[str, Any]:
    return {"usage": {"prompt_tokens": 9 + x, "completion_tokens": 2}}


async def dict_after_a_suspension(x: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"usage": {"prompt_tokens": 9 + x, "completion_tokens": 2}}


async def streams(x: int) -> AsyncIterator[str]:
    for i in range(3):
        await asyncio.sleep(0.005)
        yield f"w{i}"


async def returns_a_stream(x: int) -> AsyncIterator[str]:
    return streams(x)


async def custom_shape(x: int) -> dict[str, int]:
    return {"tokens_in": 7 * x, "tokens_out": x}


def my_usage(result: dict[str, int]) -> dict[str, int]:
    return {"input_tokens": result["tokens_in"], "output_tokens": result["tokens_out"]}


async def fails_at_once(x: int) -> int:
    agentperf.record_usage(input_tokens=100, output_tokens=1)
    raise ValueError(f"bad {x}")


async def fails_after_a_suspension(x: int) -> int:
    agentperf.record_usage(input_tokens=100, output_tokens=1)
    await asyncio.sleep(0)
    raise KeyError(x)


#: (agent, usage extractor, expected output for input 3, expected (input, output) tokens).
CASES: dict[str, tuple[Callable[..., Any], Any, Any, tuple[int, int] | None]] = {
    "plain at once": (at_once, None, 6, None),
    "plain after a suspension": (after_a_suspension, None, 6, None),
    "record_usage at once": (records_at_once, None, 3, (13, 2)),
    "record_usage around a suspension": (records_around_a_suspension, None, 3, (14, 2)),
    "usage dict at once": (dict_at_once, None, None, (12, 2)),
    "usage dict after a suspension": (dict_after_a_suspension, None, None, (12, 2)),
    "spec usage function": (custom_shape, my_usage, {"tokens_in": 21, "tokens_out": 3}, (21, 3)),
    "async generator": (streams, None, "w0w1w2", None),
    "coroutine returning a stream": (returns_a_stream, None, "w0w1w2", None),
}


def run(
    fn: Callable[..., Any], inputs: list[Any], usage: Any = None, **settings: Any
) -> tuple[list[TaskResult], ExecutorInfo]:
    adapter = build_adapter(fn, usage=usage)
    ref = AgentRef(f"{__name__}:{fn.__name__}")
    with create_executor(
        ref, ExecutionSettings(mode="asyncio", **settings), adapter=adapter
    ) as executor:
        results = sorted(
            executor.run(Task(i, v) for i, v in enumerate(inputs)), key=lambda r: r.index
        )
    return results, executor.info


def tokens(result: TaskResult) -> tuple[int, int] | None:
    if result.usage is None or not result.usage.parts:
        return None
    return (
        sum(p.input_tokens for p in result.usage.parts),
        sum(p.output_tokens for p in result.usage.parts),
    )


def reference(fn: Callable[..., Any], value: Any, usage: Any = None) -> TaskResult:
    """The same call through ``meter_async`` (``acall``), as every other path makes it."""
    output = asyncio.run(build_adapter(fn, usage=usage).acall(value))
    return TaskResult(0, True, output)


@pytest.mark.parametrize("timeout_s", [None, 5.0], ids=["in the worker", "timeout path"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_call_shape_is_metered_as_meter_async_meters_it(
    case: str, timeout_s: float | None
) -> None:
    fn, extractor, output, expected = CASES[case]
    results, info = run(fn, [3, 3, 3], usage=extractor, workers=2, timeout_s=timeout_s)
    want = reference(fn, 3, extractor)
    for result in results:
        assert result.ok, result.error
        if output is not None:
            assert result.output == output == want.output
        assert tokens(result) == expected == tokens(want)
        streamed = result.usage is not None and result.usage.stream is not None
        assert streamed == (want.usage is not None and want.usage.stream is not None)
        if streamed:
            assert result.usage is not None and result.usage.stream is not None
            assert result.usage.stream.chunks == 3
            assert result.usage.stream.first_chunk_s is not None
            assert result.usage.stream.first_chunk_s >= 0.004
    assert info.extra["event_loop_blocking"]["calls"] == 3


@pytest.mark.parametrize("timeout_s", [None, 5.0], ids=["in the worker", "timeout path"])
def test_failures_are_results_and_their_usage_does_not_leak_into_the_next_call(
    timeout_s: float | None,
) -> None:
    for fn, kind in ((fails_at_once, "ValueError"), (fails_after_a_suspension, "KeyError")):
        results, info = run(fn, [1, 2], workers=1, timeout_s=timeout_s)
        assert [(r.ok, r.error.type if r.error else None) for r in results] == [
            (False, kind),
            (False, kind),
        ]
        assert info.extra["event_loop_blocking"]["calls"] == 2

    # One worker, so the call after a failed one ran in the same worker task.
    async def fail_then_record(x: int) -> int:
        if x == 0:
            await fails_at_once(x)
        if x == 1:
            await fails_after_a_suspension(x)
        return await records_at_once(x)

    mixed, _ = run(fail_then_record, [1, 0, 2, 3], workers=1, timeout_s=timeout_s)
    assert not mixed[0].ok and not mixed[1].ok
    assert [tokens(r) for r in mixed[2:]] == [(12, 2), (13, 2)]


# -- the loop-lag watchdog on both new paths ---------------------------------------------------


async def block_after_awaiting(x: dict[str, Any]) -> Any:
    await asyncio.sleep(0.001)
    time.sleep(x.get("block_s", 0))
    return x["n"]


async def block_at_once(x: dict[str, Any]) -> Any:
    time.sleep(x.get("block_s", 0))
    return x["n"]


async def block_then_dict(x: dict[str, Any]) -> dict[str, Any]:
    time.sleep(x.get("block_s", 0))
    return {"n": x["n"], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}


@pytest.mark.parametrize("agent", [block_at_once, block_after_awaiting, block_then_dict])
def test_a_call_blocking_the_loop_is_counted_once_and_quick_ones_are_not(
    agent: Callable[..., Any],
) -> None:
    inputs = [{"n": 0, "block_s": 0.3}] + [{"n": i, "block_s": 0.001} for i in range(1, 6)]
    results, info = run(agent, inputs, workers=2)
    assert all(r.ok for r in results)
    figures = info.extra["event_loop_blocking"]
    assert (figures["calls"], figures["blocking_calls"]) == (6, 1)
    assert figures["longest_s"] >= 0.3
    [note] = info.notes
    assert "1 of 6 calls" in note


def test_closing_mid_call_cancels_a_suspended_call() -> None:
    started = time.perf_counter()

    async def hangs(x: int) -> int:
        agentperf.record_usage(input_tokens=1, output_tokens=1)
        if x:
            await asyncio.sleep(30)
        return x

    adapter = build_adapter(hangs)
    with create_executor(
        AgentRef(f"{__name__}:hangs"), ExecutionSettings(mode="asyncio", workers=2), adapter=adapter
    ) as executor:
        stream = executor.run(Task(i, i) for i in range(2))
        first = next(iter(stream))
        assert first.index == 0 and tokens(first) == (1, 1)
        stream.close()  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 10


# -- one usage slot per worker -------------------------------------------------------------


async def gathers(x: int) -> int:
    await asyncio.gather(*(records_around_a_suspension(i) for i in range(3)))
    return x


def test_usage_recorded_by_tasks_a_call_awaits_counts_with_that_call() -> None:
    results, _ = run(gathers, [1, 2, 3, 4], workers=2)
    assert [tokens(r) for r in results] == [(42, 6)] * 4


def test_usage_recorded_after_its_call_returned_counts_with_the_workers_next_call() -> None:
    """The documented edge of a slot per worker: a task the agent leaves running that
    records later is counted with that worker's next call, not dropped."""
    left_running: list[asyncio.Task[None]] = []

    async def late(x: int) -> int:
        if x == 0:

            async def records_later() -> None:
                await asyncio.sleep(0.01)
                agentperf.record_usage(input_tokens=5, output_tokens=1)

            left_running.append(asyncio.get_running_loop().create_task(records_later()))
        else:
            await asyncio.sleep(0.1)
        return x

    results, _ = run(late, [0, 1, 2], workers=1)
    assert [tokens(r) for r in results] == [None, (5, 1), None]
