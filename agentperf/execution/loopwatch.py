"""The loop-lag watchdog: which async call blocked the event loop, and for how long.

An ``async def`` agent that calls ``time.sleep`` or does seconds of CPU work between two
``await``s holds the event loop: no other task runs, and no timeout can fire, because
the timeout is itself a callback on that loop. asyncio cannot interrupt such a call, so
the watchdog does the next best thing: it times every step of every agent coroutine
(each stretch of code between two suspensions), attributes a step longer than
:data:`BLOCK_THRESHOLD_S` to the call that ran it, lets the backend mark that call timed
out when it overran the timeout, and sums the run's blocking up for a warning.

Stepping the coroutine itself, rather than watching the loop from a monitor thread,
gives exact attribution at any concurrency (a thread only sees that *some* task held
the loop) and needs no thread, no sampling interval and no clock race; it costs two
clock reads per step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from time import perf_counter
from typing import Any

#: A step holding the loop longer than this counts as blocking it: asyncio's own
#: debug mode flags callbacks slower than 0.1 s (``loop.slow_callback_duration``).
BLOCK_THRESHOLD_S = 0.1


#: No step is waiting to be handed to the loop (see :class:`Stepped`).
_NOTHING: Any = object()


class Stepped:
    """An awaitable that awaits ``awaitable`` exactly as ``await`` would, timing each step.

    What the inner coroutine yields goes to the loop unchanged, and what the loop sends
    or throws in (results, ``CancelledError``) goes back to it, as ``yield from`` does.
    After (or during) the await it tells how long the call held the loop: its longest
    step and all steps together. ``step_started`` is the start of the step running now
    (0.0 between steps), so another thread can see a call blocking its loop before the
    call returns, if ever. About 0.5 us per call, most of it the ``StopIteration`` that a
    Python-level ``send`` costs.

    A caller that ran a coroutine's first step itself (the asyncio backend does, so a
    call that never suspends needs no ``Stepped``) passes what that step yielded as
    ``pending`` and its time to :meth:`note`; the await then hands ``pending`` to the
    loop first. :meth:`then` steps a second awaitable on the same clock.
    """

    __slots__ = ("_awaitable", "_pending", "held_s", "longest_s", "step_started")

    def __init__(self, awaitable: Awaitable[Any] | None, pending: Any = _NOTHING) -> None:
        self._awaitable = awaitable
        self._pending = pending
        self.longest_s = 0.0
        self.held_s = 0.0
        self.step_started = 0.0

    @property
    def blocked(self) -> bool:
        return self.longest_s > BLOCK_THRESHOLD_S

    def note(self, step_s: float) -> None:
        """Count a step of this call that ran outside the clock."""
        self.held_s += step_s
        if step_s > self.longest_s:
            self.longest_s = step_s

    def then(self, awaitable: Awaitable[Any]) -> Stepped:
        """This clock, stepping ``awaitable`` next (its steps add to the call's)."""
        self._awaitable = awaitable
        return self

    def longest_so_far(self) -> float:
        """The longest step, counting the one still running (read from another thread)."""
        started = self.step_started
        running = perf_counter() - started if started else 0.0
        return max(self.longest_s, running)

    def __await__(self) -> Generator[Any, Any, Any]:
        assert self._awaitable is not None
        inner = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        yielded, self._pending = self._pending, _NOTHING
        sending = yielded is _NOTHING  # else the first step ran already: hand on its yield
        while True:
            if sending:
                self.step_started = t0 = perf_counter()
                try:
                    yielded = inner.send(value) if error is None else inner.throw(error)
                except StopIteration as stop:
                    return stop.value
                finally:
                    step = perf_counter() - t0
                    self.step_started = 0.0
                    self.held_s += step
                    if step > self.longest_s:
                        self.longest_s = step
            sending = True
            error = None
            try:
                value = yield yielded
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:  # forwarded to the agent, as yield from does
                value, error = None, exc


@dataclass
class LoopBlocking:
    """The run's blocking so far: how many calls held the loop past the threshold."""

    agent: str
    calls: int = 0
    blocking_calls: int = 0
    longest_s: float = 0.0
    held_s: float = 0.0  # loop time held by the blocking calls' steps, all together

    def add(self, clock: Stepped) -> None:
        self.calls += 1
        self.held(clock.longest_s, clock.held_s)

    def held(self, longest_s: float, held_s: float) -> None:
        """The steps of a call counted in :attr:`calls` already: its longest and all together.

        The asyncio backend counts a call as it starts it and, for one that finished in
        its first step, needs no :class:`Stepped`: that step is both figures."""
        if longest_s > BLOCK_THRESHOLD_S:
            self.blocking_calls += 1
            self.held_s += held_s
            self.longest_s = max(self.longest_s, longest_s)

    def as_extra(self) -> dict[str, Any]:
        """The figures for ``ExecutorInfo.extra["event_loop_blocking"]``."""
        return {"agent": self.agent, "calls": self.calls, "blocking_calls": self.blocking_calls,
                "longest_s": round(self.longest_s, 4), "held_s": round(self.held_s, 4),
                "threshold_s": BLOCK_THRESHOLD_S}

    def warning(self) -> str | None:
        """The summary's warning, or None when no call blocked the loop."""
        if not self.blocking_calls:
            return None
        return (f"agent {self.agent} blocks the event loop: {self.blocking_calls:,} of "
                f"{self.calls:,} calls held it longer than {BLOCK_THRESHOLD_S:g}s (longest "
                f"{self.longest_s:.1f}s), stalling every other task and every timeout; "
                "run it with --mode threads, or await the blocking work "
                "(asyncio.to_thread)")


def blocked_message(agent: str, clock: Stepped, elapsed_s: float, timeout_s: float) -> str:
    """Why a call that overran its timeout by blocking the loop is reported timed out."""
    if clock.longest_s > timeout_s:
        return (f"the agent {agent} blocked the event loop for {clock.longest_s:.1f}s "
                f"(> timeout {timeout_s:g}s); asyncio cannot cancel a blocking call")
    return (f"the agent {agent} blocked the event loop for {clock.held_s:.1f}s in all "
            f"(longest {clock.longest_s:.1f}s) and took {elapsed_s:.1f}s (> timeout "
            f"{timeout_s:g}s); asyncio cannot cancel a blocking call")


def late_timeout_message(elapsed_s: float, timeout_s: float) -> str:
    """Why a call that did not block the loop itself was only timed out well past its timeout."""
    return (f"no result within the {timeout_s:g} s timeout, which fired "
            f"{elapsed_s - timeout_s:.1f}s late: the event loop was blocked meanwhile, by "
            "another call or by a task the agent started")
