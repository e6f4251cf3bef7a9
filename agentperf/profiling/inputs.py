"""What a profile calls the agent with: the inputs cycled, and the distinct ones traced.

``--max-peak`` gates the largest traced peak over the inputs, so every distinct input
(up to a limit, a seeded sample beyond) gets a traced call of its own, whatever the
order of the inputs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.workload.adapters import NO_INPUT

MAX_TRACED_INPUTS = 16  # distinct inputs traced one by one; a seeded sample beyond
SCAN_INPUTS = 10_000  # how far into the inputs the sample looks (a source may be endless)
LABEL_CHARS = 40


def cycle_inputs(source: Iterable[Any] | None) -> Iterator[Any]:
    """Inputs from the source, restarted when exhausted (a source is re-iterable)."""
    if source is None:
        while True:
            yield NO_INPUT
    while True:
        empty = True
        for item in source:
            empty = False
            yield item
        if empty:
            raise AgentperfError("the workload has no inputs to profile with")


def distinct_inputs(source: Iterable[Any] | None, limit: int = MAX_TRACED_INPUTS,
                    scan: int = SCAN_INPUTS, seed: int = 0) -> tuple[list[Any], bool]:
    """The inputs to trace one by one, in source order, and whether they are a sample.

    Every distinct input up to ``limit``; beyond, a seeded reservoir sample of ``limit``
    over the first ``scan`` inputs, so the same inputs give the same sample.
    """
    if source is None:
        return [NO_INPUT], False
    rng = random.Random(seed)
    seen: set[str] = set()
    chosen: list[tuple[int, Any]] = []
    count = 0
    for item in source:
        key = repr(item)
        if key in seen:
            continue
        seen.add(key)
        if count < limit:
            chosen.append((count, item))
        elif (slot := rng.randrange(count + 1)) < limit:
            chosen[slot] = (count, item)
        count += 1
        if count >= scan:
            break
    if not chosen:
        raise AgentperfError("the workload has no inputs to profile with")
    return [item for _, item in sorted(chosen, key=lambda pair: pair[0])], count > limit


def input_label(item: Any) -> str:
    text = "(no input)" if item is NO_INPUT else repr(item)
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 3] + "..."
