"""Agents for benchmarks/report_screens.py (imported by dotted path from its specs)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

_slow_after = time.monotonic() + 2.0


def echo(x: Any) -> Any:
    """Next to free, failing one call in a hundred: a 100,000-task run in seconds."""
    if isinstance(x, int) and x % 100 == 7:
        raise ValueError(f"input {x} rejected by the validator")
    return x


async def degrading(x: Any, context: dict[str, Any]) -> Any:
    """A model call that gets slower after two seconds and times out now and then."""
    base = float(context.get("latency_s", 0.03))
    if time.monotonic() > _slow_after:
        base *= 2.5
    await asyncio.sleep(base * random.uniform(0.7, 1.3))
    if random.random() < 0.02:
        raise TimeoutError("upstream model did not answer")
    return {"answer": str(x)[:20]}
