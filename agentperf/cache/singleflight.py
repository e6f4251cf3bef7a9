"""Single flight: many callers asking for the same missing key share one computation.

The first caller (the leader) computes; the others wait and get its value, or its
exception, so a burst of identical requests costs one agent call (the cache stampede
that dogpile's lock and diskcache's ``memoize_stampede`` also prevent).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    __slots__ = ("error", "event", "value")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """For threads: ``do(key, fn)`` returns ``(value, shared)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[Any]] = {}

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            call.event.wait()
            if call.error is not None:
                raise call.error
            return call.value, True
        try:
            call.value = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.event.set()
        return call.value, False

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)


class AsyncSingleFlight:
    """For coroutines, one table per event loop (futures belong to their loop)."""

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                dict[str, asyncio.Future[Any]]] = (
            weakref.WeakKeyDictionary())

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        loop = asyncio.get_running_loop()
        table = self._tables.setdefault(loop, {})
        future = table.get(key)
        if future is not None:
            return await asyncio.shield(future), True
        future = table[key] = loop.create_future()
        try:
            value = await fn()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            future.set_result(value)
            return value, False
        finally:
            del table[key]
