"""A second module with a function named like one in bench_agents, for name clashes."""

from __future__ import annotations


def spin_base() -> int:
    total = 0
    for i in range(2_000):
        total += i
    return total
