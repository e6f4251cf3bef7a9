"""Sample agents to copy: one per common shape of agent workload.

Each stands in for a real agent (a model call, a tool, a parser) with the same
performance character, so agentperf's numbers on it mean something.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from typing import Any


class SeedAgent:
    """The performance guide's agent style: ``execute(input_data, context)``."""

    def __init__(self, latency_s: float = 0.01) -> None:
        self.latency_s = latency_s

    def execute(self, input_data: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        time.sleep(self.latency_s)
        text = str(input_data.get("text", input_data))
        return {
            "agent_type": context.get("agent_type", "seed"),
            "words": len(text.split()),
            "summary": text[:40],
        }


def cpu_bound_agent(input_data: dict[str, Any]) -> str:
    """CPU-bound: repeated hashing, like tokenising or parsing a large document."""
    rounds = int(input_data.get("rounds", 2_000))
    digest = str(input_data.get("text", "")).encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


async def io_bound_agent(input_data: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """I/O-bound async: waits like a model API call (simulated latency, no network)."""
    base = float(context.get("latency_s", 0.05))
    await asyncio.sleep(base * random.uniform(0.8, 1.2))
    answer = f"reply to {input_data.get('text', '')!s}"[:60]
    return {"answer": answer, "model": context.get("model")}


class FlakyAgent:
    """Fails a fraction of calls, like a rate-limited API; retries recover most of them."""

    def __init__(self, failure_rate: float = 0.2, seed: int | None = None) -> None:
        self.failure_rate = failure_rate
        self._random = random.Random(seed)

    def execute(self, input_data: Any, context: dict[str, Any]) -> Any:
        time.sleep(0.002)
        if self._random.random() < self.failure_rate:
            raise ConnectionError("upstream API returned 503")
        return {"ok": True, "input": input_data}


class MemoryHeavyAgent:
    """Builds a large intermediate structure per call, then keeps only a small answer."""

    def __init__(self, items: int = 200_000) -> None:
        self.items = items

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        rows = [{"id": i, "text": f"row {i}"} for i in range(self.items)]
        return sum(len(r["text"]) for r in rows)
