"""Async agent calls metered and watched inside the asyncio backend's own worker coroutine.

Every async call is metered (:mod:`agentperf.usage.metering`: ``record_usage``, streams,
usage read from the result) and watched (:mod:`agentperf.execution.loopwatch`: how long
each step held the loop). Done with ``meter_async``'s coroutine and a :class:`Stepped`
around it, a call that returns at once (no I/O, a cached answer) cost ~1.4 us of
bookkeeping, half of what a whole run may add per task. Most calls need neither, so the
worker (``asyncio_backend._Run._work``) does the common case itself:

- **one usage slot per worker**, opened once by :meth:`AsyncCalls.open_slot` in the
  worker task's own context instead of a context variable set and reset per call
  (0.2 us). ``record_usage`` inside a call adds to it, tasks the call starts and awaits
  included; the worker empties it after each call. A task the agent leaves running
  after its call returned, recording usage later, has it counted with that worker's
  next call (a per-call slot would drop it);
- **the first step run by the worker** (one ``send``): a call that finished there with
  a plain result and no usage recorded is done, that step timed by the worker's two
  clock reads.

Anything else (a call that suspends, reports usage, returns a usage-bearing result,
streams, or is not a coroutine) goes to :meth:`AsyncCalls.rest`: an :class:`Unfinished`
awaitable that steps the rest of the call on a clock and settles its usage with the
same parts ``meter_async`` is built from (:class:`~agentperf.usage.metering.AsyncMetering`).
"""

from __future__ import annotations

from collections.abc import Generator
from types import CoroutineType
from typing import Any

from agentperf.execution.loopwatch import LoopBlocking, Stepped
from agentperf.usage.metering import AsyncMetering
from agentperf.usage.model import Usage
from agentperf.usage.recognize import PLAIN_TYPES

#: No first step was run (the call did not return a coroutine).
NOT_STARTED: Any = object()


class AsyncCalls:
    """The calls of one async agent, for the workers of one asyncio run."""

    __slots__ = ("_metering", "blocking", "final", "fn")

    def __init__(self, metering: AsyncMetering, blocking: LoopBlocking) -> None:
        self._metering = metering
        self.blocking = blocking
        #: The agent function, unwrapped: its call returns the coroutine to step.
        self.fn = metering.fn
        #: A call's result of one of these types, with no usage recorded, is final as it
        #: is (``AsyncMetering.plain``); none is when a ``usage:`` function reads results.
        self.final = PLAIN_TYPES if metering.extractor is None else frozenset()

    def open_slot(self) -> list[Usage]:
        """The calling worker's usage slot for all its calls; call once, inside the worker.

        A worker task runs in a context of its own, so the slot is that worker's alone.
        """
        slot: list[Usage] = []
        self._metering.enter(slot)
        return slot

    def rest(
        self,
        output: Any,
        data: Any,
        slot: list[Usage],
        start: float,
        step_s: float = 0.0,
        *,
        yielded: Any = NOT_STARTED,
        awaited: bool = False,
    ) -> Unfinished:
        """What is left of a call the worker started at ``start`` and counted.

        ``output`` is the coroutine, suspended in its first step (of ``step_s``) after
        yielding ``yielded``; or what that step returned (``awaited``); or, with
        neither, what the call returned when it was no coroutine. Await the result for
        the call's output.
        """
        clock = Stepped(output, yielded) if yielded is not NOT_STARTED else Stepped(None)
        clock.note(step_s)
        return Unfinished(self, output, data, slot, start, clock, awaited)

    def finish(self, call: Unfinished) -> Generator[Any, Any, Any]:
        """Step the rest of ``call``, then settle its usage; the slot is emptied after."""
        clock, metering, output, slot = call.clock, self._metering, call.output, call.slot
        stream = None
        try:
            if not call.awaited and type(output) is CoroutineType:
                output = yield from clock.__await__()
                call.awaited = True
            if type(output) not in self.final or slot:
                settling = metering.settle(output, call.start, call.awaited)
                output, stream = yield from clock.then(settling).__await__()
            return metering.finish(output, call.data, slot, stream)
        finally:
            slot.clear()
            self.blocking.held(clock.longest_s, clock.held_s)


class Unfinished:
    """A call that suspended or has usage to settle: ``await`` it for the output."""

    __slots__ = ("awaited", "calls", "clock", "data", "output", "slot", "start")

    def __init__(
        self,
        calls: AsyncCalls,
        output: Any,
        data: Any,
        slot: list[Usage],
        start: float,
        clock: Stepped,
        awaited: bool,
    ) -> None:
        self.calls = calls
        self.output = output  # the coroutine (started or not) or what the call returned
        self.data = data
        self.slot = slot
        self.start = start
        self.clock = clock
        self.awaited = awaited  # output is the coroutine's result, not something to await

    def __await__(self) -> Generator[Any, Any, Any]:
        return self.calls.finish(self)
