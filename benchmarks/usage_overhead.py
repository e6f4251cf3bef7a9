"""What metering every agent call costs: the adapter's call against the bare function.

    python benchmarks/usage_overhead.py

Every agent call goes through agentperf.usage.metering (record_usage's context, stream
detection, result-shape recognition). Each row times the same agent called directly and
through its adapter, interleaved, best of seven, and prints the time added per call.
Target (2 cores): at most 1 us added per call for a plain result (the common case of a
no-op agent in the executor benchmarks), at most 10 us where usage is read or recorded
(an agent that reports usage makes an LLM call: 10 us is 0.01 % of a 100 ms call).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agentperf
from agentperf.workload.adapters import build_adapter

CALLS = 100_000
REPEATS = 7
PLAIN_TARGET_US = 1.0
USAGE_TARGET_US = 10.0
OPENAI_SHAPED = {
    "model": "gpt-4o-mini",
    "choices": [{"finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 812,
        "completion_tokens": 64,
        "prompt_tokens_details": {"cached_tokens": 512},
    },
}


def plain(x: Any) -> Any:
    return x


def openai_shaped(x: Any) -> Any:
    return OPENAI_SHAPED


def recorded(x: Any) -> Any:
    agentperf.record_usage(input_tokens=812, output_tokens=64, model="gpt-4o-mini")
    return x


async def async_plain(x: Any) -> Any:
    return x


def per_call(fn: Callable[[Any], Any]) -> float:
    t0 = time.perf_counter()
    for i in range(CALLS):
        fn(i)
    return (time.perf_counter() - t0) / CALLS


def per_call_async(fn: Callable[[Any], Any]) -> float:
    async def run() -> float:
        t0 = time.perf_counter()
        for i in range(CALLS):
            await fn(i)
        return (time.perf_counter() - t0) / CALLS

    return asyncio.run(run())


def row(
    label: str, agent: Callable[[Any], Any], target_us: float, *, is_async: bool = False
) -> bool:
    adapter = build_adapter(agent)
    metered = adapter.coroutine_function if is_async else adapter.call
    timer = per_call_async if is_async else per_call
    raw, wrapped = [], []
    for _ in range(REPEATS):
        raw.append(timer(agent))
        wrapped.append(timer(metered))  # type: ignore[arg-type]
    bare, through = min(raw) * 1e6, min(wrapped) * 1e6
    added = through - bare
    ok = added <= target_us
    print(
        f"{label:<34} {bare:>8.2f} {through:>10.2f} {added:>+9.2f}  "
        f"{'PASS' if ok else 'FAIL'} (<= {target_us:g} us)"
    )
    return ok


def main() -> int:
    print(f"{CALLS:,} calls, best of {REPEATS} interleaved runs; microseconds per call")
    print(f"{'agent':<34} {'direct':>8} {'metered':>10} {'added':>9}  target")
    results = [
        row("sync, plain result", plain, PLAIN_TARGET_US),
        row("async, plain result", async_plain, PLAIN_TARGET_US, is_async=True),
        row("sync, OpenAI-shaped dict result", openai_shaped, USAGE_TARGET_US),
        row("sync, record_usage() once", recorded, USAGE_TARGET_US),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
