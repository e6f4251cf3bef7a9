"""Usage gathered around each agent call: ``record_usage``, result shapes and streams.

Every agent call goes through :func:`meter_sync` or :func:`meter_async` (the adapter
wraps the agent once). The wrapper opens a :class:`Usage` for the call that
:func:`record_usage` adds to from inside the agent, consumes a generator or async
generator to its end while timing its chunks, and reads usage from the result. When
it found any, the result travels as :class:`Metered`; :class:`TaskResult` unwraps it
into its ``usage`` field, so every execution mode (threads, asyncio, processes, Dask)
carries usage back with the task's result without knowing about it.
"""

from __future__ import annotations

import functools
import inspect
import io
import operator
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from time import perf_counter
from types import CoroutineType
from typing import Any

from agentperf.usage.model import StreamTiming, Tokens, Usage
from agentperf.usage.recognize import PLAIN_TYPES as _PLAIN
from agentperf.usage.recognize import add_chunk, tokens_from, usage_of

_CURRENT: ContextVar[list[Usage] | None] = ContextVar("agentperf_usage", default=None)

Extractor = Callable[[Any], Any]


class Metered:
    """An agent's output and the usage its call reported, on their way to a TaskResult."""

    __slots__ = ("usage", "value")

    def __init__(self, value: Any, usage: Usage) -> None:
        self.value = value
        self.usage = usage

    def __reduce__(self) -> tuple[Any, ...]:
        return (Metered, (self.value, self.usage))


def record_usage(
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    model: str | None = None,
    provider: str | None = None,
    finish_reason: str | None = None,
) -> None:
    """Report one LLM call's usage from inside an agent run by agentperf.

    Several calls in one task add up. ``input_tokens`` counts every input token,
    cached ones included. When an agent records its usage, its result is not read for
    more (that would count the same call twice). Outside an agentperf run this does
    nothing, so an agent keeps working on its own.
    """
    counts = (input_tokens, output_tokens, cached_input_tokens, cache_write_tokens)
    for name, value in zip(
        ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"),
        counts,
        strict=True,
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"record_usage: {name} must be a non-negative int, got {value!r}")
    if cached_input_tokens + cache_write_tokens > input_tokens:
        raise ValueError(
            "record_usage: input_tokens counts every input token, cached ones "
            "included, so it cannot be below cached_input_tokens + "
            "cache_write_tokens"
        )
    slot = _CURRENT.get()
    if slot is None:
        return
    if not slot:
        slot.append(Usage())
    slot[0].add(
        Tokens(
            input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, model, provider
        )
    )
    if finish_reason:
        slot[0].finish_reasons.append(finish_reason)


def meter_sync(
    fn: Callable[[Any], Any], extractor: Extractor | None = None
) -> Callable[[Any], Any]:
    """``fn`` with its usage gathered; a generator or iterator result is consumed and timed.

    The common case (a plain result, no ``record_usage``) costs a context-variable set
    and reset and one type lookup: a no-op agent's dispatch feels every step here.
    """
    set_slot, reset_slot = _CURRENT.set, _CURRENT.reset

    def metered(data: Any) -> Any:
        slot: list[Usage] = []
        token = set_slot(slot)
        try:
            start = perf_counter()
            output = fn(data)
            if type(output) in _PLAIN and not slot and extractor is None:
                return output
            stream = None
            if _is_stream(output):
                output, stream = _drain(output, start)
        finally:
            reset_slot(token)
        return _finish(output, data, slot, stream, extractor)

    return metered


def meter_async(
    fn: Callable[[Any], Any], extractor: Extractor | None = None
) -> Callable[[Any], Awaitable[Any]]:
    """The async form of :func:`meter_sync`: awaits a coroutine, consumes an async
    generator or async iterator (or a sync one) to its end."""
    set_slot, reset_slot = _CURRENT.set, _CURRENT.reset
    parts = AsyncMetering(fn, extractor)

    async def metered(data: Any) -> Any:
        slot: list[Usage] = []
        token = set_slot(slot)
        try:
            start = perf_counter()
            output = fn(data)
            awaited = type(output) is CoroutineType
            if awaited:
                output = await output
            if type(output) in _PLAIN and not slot and extractor is None:
                return output
            output, stream = await parts.settle(output, start, awaited)
        finally:
            reset_slot(token)
        return _finish(output, data, slot, stream, extractor)

    return metered


class AsyncMetering:
    """:func:`meter_async` in parts, for a caller that meters inside its own coroutine.

    The asyncio backend runs every call in its worker coroutine: the extra coroutine
    frame of ``meter_async`` costs ~0.4 us per call, a sixth of a no-op task's budget.
    The caller opens the call's slot (:meth:`enter`), calls :attr:`fn` and runs its
    coroutine, and needs no more when :meth:`plain` says so; otherwise it awaits
    :meth:`settle` and wraps the output with :meth:`finish` after closing the slot
    (:meth:`leave`). ``meter_async`` is built from the same parts.
    """

    __slots__ = ("extractor", "fn")

    enter = staticmethod(_CURRENT.set)
    leave = staticmethod(_CURRENT.reset)

    def __init__(self, fn: Callable[[Any], Any], extractor: Extractor | None = None) -> None:
        self.fn = fn
        self.extractor = extractor

    def plain(self, output: Any, slot: list[Usage]) -> bool:
        """Whether a call's output is final as it is: a plain value and no usage to add."""
        return type(output) in _PLAIN and not slot and self.extractor is None

    async def settle(self, output: Any, start: float, awaited: bool) -> tuple[Any, Usage | None]:
        """The call's output and its stream's usage: awaited unless it was (``awaited``),
        then an async or sync stream consumed and timed from ``start``. Runs inside the
        call's slot, so the agent's ``record_usage`` calls while streaming count."""
        if not awaited and inspect.isawaitable(output) and not hasattr(type(output), "__anext__"):
            output = await output
        if hasattr(type(output), "__anext__"):
            return await _adrain(output, start)
        if _is_stream(output):
            return _drain(output, start)
        return output, None

    def finish(self, output: Any, data: Any, slot: list[Usage], stream: Usage | None) -> Any:
        """The output, wrapped in :class:`Metered` with its usage when it reported any."""
        return _finish(output, data, slot, stream, self.extractor)


def _is_stream(output: Any) -> bool:
    """A generator or another iterator (an SDK's stream object); never a file."""
    kind = type(output)
    return (
        hasattr(kind, "__next__")
        and hasattr(kind, "__iter__")
        and not isinstance(output, io.IOBase)
    )


class _Chunks:
    """Chunks of one stream as they arrive: timing, and the usage they report."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.items: list[Any] = []
        self.first: float | None = None
        self.last = start
        self.gaps: list[float] = []
        self.usage = Usage()

    def add(self, chunk: Any) -> None:
        now = perf_counter()
        if self.first is None:
            self.first = now - self.start
        else:
            self.gaps.append(now - self.last)
        self.last = now
        self.items.append(chunk)
        add_chunk(chunk, self.usage)

    def result(self) -> tuple[Any, Usage]:
        self.usage.stream = StreamTiming(
            len(self.items), self.first, self.gaps, perf_counter() - self.start
        )
        return _joined(self.items), self.usage


def _drain(stream: Iterator[Any], start: float) -> tuple[Any, Usage]:
    chunks = _Chunks(start)
    for chunk in stream:
        chunks.add(chunk)
    return chunks.result()


async def _adrain(stream: AsyncIterator[Any], start: float) -> tuple[Any, Usage]:
    chunks = _Chunks(start)
    async for chunk in stream:
        chunks.add(chunk)
    return chunks.result()


def _joined(items: list[Any]) -> Any:
    """A stream's output: text chunks joined, LangChain message chunks added, else a list."""
    if not items:
        return ""
    kind = type(items[0])
    if kind is str and all(type(i) is str for i in items):
        return "".join(items)
    if kind.__module__.startswith("langchain") and all(type(i) is kind for i in items):
        try:
            return functools.reduce(operator.add, items)
        except TypeError:
            return items
    return items


def _finish(
    output: Any, data: Any, slot: list[Usage], stream: Usage | None, extractor: Extractor | None
) -> Any:
    """The output, wrapped with its usage when the call reported any.

    Precedence: ``record_usage`` calls, else the spec's ``usage:`` extractor, else the
    stream's chunks, else the result's own shape. Stream timing is kept in every case.
    """
    if type(output) is Metered and not slot and stream is None:
        return output  # metered already by the adapter this one wraps (auto, Dask workers)
    usage = slot[0] if slot else None
    if usage is None:
        if extractor is not None:
            usage = extracted(extractor, output)
        elif stream is not None and stream.has_tokens:
            usage = stream
        else:
            usage = usage_of(output, data)
    if stream is not None:
        if usage is None:
            usage = stream
        elif usage is not stream:
            usage.stream = stream.stream
            if not usage.finish_reasons:
                usage.finish_reasons = stream.finish_reasons
    return output if usage is None else Metered(output, usage)


def extracted(extractor: Extractor, output: Any) -> Usage | None:
    """Usage from the spec's ``usage:`` function, which may return a :class:`Usage`, a
    :class:`Tokens`, None, or any recognised usage object or mapping."""
    raw = extractor(output)
    if raw is None or isinstance(raw, Usage):
        return raw
    if isinstance(raw, Tokens):
        usage = Usage()
        usage.add(raw)
        return usage
    found = usage_of(raw)
    if found is not None:
        return found
    tokens = tokens_from(raw)
    if tokens is None:
        raise TypeError(
            f"the usage function returned {type(raw).__name__}, which holds no "
            "token counts (return a dict with input_tokens and output_tokens)"
        )
    usage = Usage()
    usage.add(tokens)
    return usage
