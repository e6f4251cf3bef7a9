"""What an agent's exception says about retrying: its class names, HTTP status, Retry-After.

Read once, where the exception is raised, and carried as plain values in
:class:`~agentperf.execution.base.TaskError`: in processes and Dask modes the exception
itself never crosses the process boundary, but the retry decision (made in the parent
for processes mode) needs these facts. Providers' SDKs agree on the shape closely
enough: openai and anthropic errors carry ``status_code`` and an httpx ``response``
with its headers, httpx's ``HTTPStatusError`` a ``response``, aiohttp's
``ClientResponseError`` a ``status`` and ``headers``, and some libraries a plain
``retry_after`` attribute.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

#: Base classes every exception shares; they say nothing about what went wrong.
_GENERIC = frozenset({"BaseException", "Exception", "object"})


def class_names(exc: BaseException) -> tuple[str, ...]:
    """The names of the exception's class and its bases, most specific first, so that
    ``retry_on: [APIStatusError]`` matches openai's ``RateLimitError`` too."""
    return tuple(cls.__name__ for cls in type(exc).__mro__ if cls.__name__ not in _GENERIC)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status the exception carries (``status_code``, ``status`` or
    ``response.status_code``), or None."""
    for holder, name in ((exc, "status_code"), (exc, "status"),
                         (getattr(exc, "response", None), "status_code"),
                         (getattr(exc, "response", None), "status")):
        value = _attr(holder, name)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def retry_after_s(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked to wait before the next try, or None.

    From a ``retry_after`` attribute (seconds), or the ``retry-after-ms`` / ``retry-after``
    header of the exception's response (or its own ``headers``): seconds or an HTTP-date.
    """
    value = _attr(exc, "retry_after")
    if value is not None:
        return _seconds(value, now)
    for holder in (getattr(exc, "response", None), exc):
        headers = _attr(holder, "headers")
        if headers is None:
            continue
        millis = _header(headers, "retry-after-ms")
        if millis is not None and (seconds := _seconds(millis, now)) is not None:
            return seconds / 1000.0
        header = _header(headers, "retry-after")
        if header is not None:
            return _seconds(header, now)
    return None


def _attr(holder: Any, name: str) -> Any:
    """``getattr`` that survives properties raising (some SDK attributes are lazy)."""
    if holder is None:
        return None
    try:
        return getattr(holder, name, None)
    except Exception:
        return None


def _header(headers: Any, name: str) -> Any:
    """A header from httpx/requests headers (case-insensitive) or a plain mapping."""
    try:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.title())
    except Exception:
        return None
    return value


def _seconds(value: Any, now: float | None) -> float | None:
    """A non-negative number of seconds from a number, a numeric string or an HTTP-date."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(float(value), 0.0)
    if hasattr(value, "total_seconds"):  # a timedelta
        return max(float(value.total_seconds()), 0.0)
    if not isinstance(value, (str, bytes)):
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
