"""Single flight: many callers asking for the same missing key share one computation.

The first caller (the leader) computes; the others wait and get its outcome, so a burst
of identical requests costs one call (the cache stampede that dogpile's lock and
diskcache's ``memoize_stampede`` also prevent).

Only the call's own outcome reaches the waiters: its value, or the ``Exception`` it
raised (each waiter gets its own copy of the exception). A leader interrupted from
outside (``KeyboardInterrupt``, ``SystemExit``, a cancelled or timed-out coroutine) takes
nobody with it: for threads, a waiter is promoted and runs the call; for coroutines the
call runs in its own task that every caller awaits through a shield, so a caller that
leaves leaves alone, and the task is cancelled only when no caller is left.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
#: A waiter whose leader keeps being interrupted gives up after this many promotions.
MAX_PROMOTIONS = 8


def private_error(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one waiter (with the original traceback), or ``exc`` itself
    when it does not copy; waiters then never share (and mutate) one exception object."""
    try:
        clone = copy.copy(exc)
    except Exception:
        return exc
    if type(clone) is not type(exc):
        return exc
    clone.__cause__, clone.__context__ = exc.__cause__, exc.__context__
    return clone.with_traceback(exc.__traceback__)


class _Call(Generic[T]):
    __slots__ = ("abandoned", "error", "event", "value")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class SingleFlight:
    """For threads: ``do(key, fn)`` returns ``(value, shared)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[Any]] = {}

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        for _ in range(MAX_PROMOTIONS):
            with self._lock:
                call = self._calls.get(key)
                leader = call is None
                if call is None:
                    call = self._calls[key] = _Call()
            if leader:
                return self._lead(key, call, fn), False
            call.event.wait()
            if call.abandoned:
                continue  # the leader was interrupted: this waiter may lead the call now
            if call.error is not None:
                raise private_error(call.error)
            return call.value, True
        return fn(), False

    def _lead(self, key: str, call: _Call[T], fn: Callable[[], T]) -> T:
        try:
            call.value = fn()
        except Exception as exc:
            call.error = exc
            raise
        except BaseException:
            call.abandoned = True  # not the call's outcome: an interruption of this thread
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.event.set()
        return call.value

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)


class _Flight:
    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.waiters = 0


class AsyncSingleFlight:
    """For coroutines, one table per event loop (tasks belong to their loop)."""

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                dict[str, _Flight]] = (
            weakref.WeakKeyDictionary())

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        loop = asyncio.get_running_loop()
        table = self._tables.setdefault(loop, {})
        for _ in range(MAX_PROMOTIONS):
            flight = table.get(key)
            if flight is not None and flight.task.cancelled():
                del table[key]  # cancelled, its clean-up callback not run yet: start anew
                flight = None
            shared = flight is not None
            if flight is None:
                flight = table[key] = _Flight(loop.create_task(_call(fn)))
                flight.task.add_done_callback(
                    lambda task, f=flight: _finished(table, key, f))
            flight.waiters += 1
            try:
                value = await asyncio.shield(flight.task)
            except asyncio.CancelledError:
                if flight.task.cancelled() and not _being_cancelled():
                    continue  # the call itself was cancelled, not this caller: run it again
                self._leave(flight)
                raise
            except Exception as exc:
                flight.waiters -= 1
                if not shared:
                    raise
                error = exc
            else:
                flight.waiters -= 1
                return value, shared
            raise private_error(error)
        raise asyncio.CancelledError(f"the call for {key[:12]} kept being cancelled")

    @staticmethod
    def _leave(flight: _Flight) -> None:
        """A caller left (cancelled, timed out); the last one out cancels the call."""
        flight.waiters -= 1
        if flight.waiters <= 0 and not flight.task.done():
            flight.task.cancel()


def _being_cancelled() -> bool:
    """Whether the current task has a cancellation pending (Python 3.11+ can tell; on
    3.10 a call cancelled at the same moment as its caller counts as the call's)."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return bool(cancelling and cancelling())


def _finished(table: dict[str, _Flight], key: str, flight: _Flight) -> None:
    if table.get(key) is flight:
        del table[key]
    if not flight.task.cancelled():
        flight.task.exception()  # retrieved: no "never retrieved" warning when nobody waits


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
