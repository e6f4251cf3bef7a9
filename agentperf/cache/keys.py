"""Deterministic cache keys: the same logical input gives the same key in every process.

Python's ``hash`` changes with ``PYTHONHASHSEED`` and ``pickle``/``repr`` are not stable
across versions, so inputs are written in a small canonical, type-tagged form (sorted
mapping keys, ``repr`` floats, length-prefixed strings and bytes) and hashed with
SHA-256. A value with no canonical form raises :class:`UnkeyableError` naming where it
is, so a caller either reports it or skips the cache for that input, never guessing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import inspect
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.workload.adapters import NO_INPUT

KEY_VERSION = b"agentperf-cache-key-v2\x00"  # v2: the code fingerprint joined the key


class UnkeyableError(TypeError):
    """An input with no canonical form; ``reason`` is short enough to count by."""

    def __init__(self, where: Where, type_name: str) -> None:
        where = _where(where)
        self.where = where
        self.reason = f"unserializable {type_name}"
        super().__init__(f"{where}: cannot build a cache key from a value of type {type_name} "
                         "(use JSON-like data, dataclasses, enums or datetimes; or pass key=)")


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value``; raises :class:`UnkeyableError`."""
    out: list[bytes] = []
    _encode(value, out, "input")
    return b"".join(out)


def make_key(identity: str, value: Any, context: Mapping[str, Any] | None = None,
             version: str | None = None, fingerprint: str | None = None) -> str:
    """The SHA-256 hex key of an agent identity, its version and code fingerprint, one
    input and its context fields."""
    context = context or {}
    return KeyBuilder(identity, version=version, context=context, key_fields=context,
                      fingerprint=fingerprint).key(value)


class KeyBuilder:
    """Builds keys for one agent: its identity, its code and the context fields that
    change answers.

    ``fingerprint`` is the hash of the agent's source (see
    :mod:`agentperf.workload.fingerprint`): edited code gets new keys, so a cache never
    answers with what code that no longer exists returned.
    """

    def __init__(self, identity: str, *, version: str | None = None,
                 context: Mapping[str, Any] | None = None, key_fields: Iterable[str] = (),
                 fingerprint: str | None = None) -> None:
        context = context or {}
        self.identity = identity
        self.version = version
        self.fingerprint = fingerprint
        self.fields = {name: context[name] for name in key_fields if name in context}
        prefix = hashlib.sha256(KEY_VERSION)
        prefix.update(canonical_bytes([identity, version, fingerprint]))
        self._prefix = prefix
        try:  # the context is the same for every key: encode it once
            self._context: bytes | None = canonical_bytes_at(self.fields, "context")
        except UnkeyableError:
            self._context = None  # each key() raises, naming it

    def key(self, value: Any) -> str:
        digest = self._prefix.copy()
        out: list[bytes] = []
        _encode(value, out, "input")
        if self._context is None:
            _encode(self.fields, out, "context")
        else:
            out.append(self._context)
        digest.update(b"".join(out))
        return digest.hexdigest()


class CaptureError(AgentperfError):
    """A function captures a value with no canonical form, so no key can tell two of its
    closures apart; the message says what, and that ``version=`` or ``key=`` fixes it."""


def function_identity(func: Any, *, lenient: bool = False) -> tuple[str, str]:
    """``(name, digest)`` of what makes ``func`` compute what it computes.

    The name is ``module:qualname``; the digest covers the function's code (bytecode
    and constants, nested functions included), its defaults and the values its
    closure captures, canonicalised now: a captured variable rebound later is not
    seen. A default with no canonical form (a sentinel ``object()``) is keyed by its
    type. A captured value with no canonical form raises :class:`CaptureError`, unless
    ``lenient`` (the caller gave ``version=`` or ``key=``), when its type stands in.
    """
    from agentperf.workload.fingerprint import code_digest

    name = f"{getattr(func, '__module__', None)}:{getattr(func, '__qualname__', repr(func))}"
    code = getattr(func, "__code__", None)
    if code is None:
        return name, ""
    digest = hashlib.sha256(b"agentperf-function-v1\x00")
    digest.update(code_digest(code).encode())
    captured = _captured(func, name, lenient, depth=0)
    digest.update(canonical_bytes(captured))
    return name, digest.hexdigest()


def _captured(func: Any, name: str, lenient: bool, depth: int) -> list[Any]:
    code = func.__code__
    parts: list[Any] = []
    for label, value in (("defaults", func.__defaults__), ("kwdefaults", func.__kwdefaults__)):
        # Defaults are often sentinels (``object()``): their type stands in for them.
        parts.append([label, _capture_form(value, f"{name} {label}", True, depth)])
    for var, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet bound
            parts.append([var, "<unbound>"])
            continue
        parts.append([var, _capture_form(value, f"{name} captured '{var}'", lenient, depth)])
    return parts


def _capture_form(value: Any, where: str, lenient: bool, depth: int) -> Any:
    if isinstance(value, types.FunctionType):
        from agentperf.workload.fingerprint import code_digest

        inner = [f"{value.__module__}:{value.__qualname__}", code_digest(value.__code__)]
        if depth < 3:  # nested captures, bounded: a recursive closure captures itself
            inner.append(_captured(value, inner[0], lenient, depth + 1))
        return ["function", *inner]
    if inspect.isclass(value) or inspect.ismodule(value) or inspect.isbuiltin(value):
        return ["object", getattr(value, "__module__", "") or "",
                getattr(value, "__qualname__", None) or getattr(value, "__name__", "")]
    try:
        return canonical_bytes(value)
    except UnkeyableError as exc:
        if lenient:
            return ["uncanonical", type(value).__qualname__]
        raise CaptureError(
            f"@cached: {where} is a {type(value).__name__}, which has no canonical form "
            f"({exc.where.replace('input', 'value')}), so two closures could not be told "
            "apart; pass version= (or key=) to say what identifies this function") from None


#: Where a value sits in the input, built lazily: a string, or ``(parent, "i", index)`` /
#: ``(parent, "k", mapping_key)``, formatted only when a value turns out unkeyable.
Where = str | tuple[Any, str, Any]


def _where(where: Where) -> str:
    parts: list[str] = []
    while isinstance(where, tuple):
        where, kind, part = where
        parts.append(f"[{part}]" if kind == "i" else f"[{part!r}]")
    return where + "".join(reversed(parts))


def _length(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big")


def _encode_str(tag: bytes, text: str, out: list[bytes]) -> None:
    data = text.encode("utf-8", "surrogatepass")
    out.append(tag + _length(data) + data)


def _encode(value: Any, out: list[bytes], where: Where) -> None:
    # Exact type checks first: bool is an int, and subclasses of str/int may carry meaning.
    kind = type(value)
    encoder = _SCALARS.get(kind)
    if encoder is not None:
        encoder(value, out)
    elif kind is list or kind is tuple:
        out.append((b"L" if kind is list else b"T") + len(value).to_bytes(8, "big"))
        for i, item in enumerate(value):
            _encode(item, out, (where, "i", i))
    elif isinstance(value, Mapping):
        _encode_mapping(value, out, where)
    elif isinstance(value, (set, frozenset)):
        items = sorted(canonical_bytes_at(item, f"{_where(where)}{{}}") for item in value)
        out.append(b"S" + len(items).to_bytes(8, "big"))
        out.extend(items)
    else:
        _encode_other(value, out, where)


def canonical_bytes_at(value: Any, where: Where) -> bytes:
    out: list[bytes] = []
    _encode(value, out, where)
    return b"".join(out)


def _encode_mapping(value: Mapping[Any, Any], out: list[bytes], where: Where) -> None:
    entries: list[tuple[bytes, Any]] = []
    for k in value:
        if k.__class__ is str:  # the common case, encoded here as _encode_str would
            data = k.encode("utf-8", "surrogatepass")
            entries.append((b"s" + len(data).to_bytes(8, "big") + data, k))
        else:
            entries.append((canonical_bytes_at(k, f"{_where(where)} key"), k))
    entries.sort(key=_first)  # distinct keys never encode alike
    out.append(b"D" + len(entries).to_bytes(8, "big"))
    for encoded_key, key in entries:
        out.append(encoded_key)
        _encode(value[key], out, (where, "k", key))


def _first(entry: tuple[bytes, Any]) -> bytes:
    return entry[0]


def _encode_other(value: Any, out: list[bytes], where: Where) -> None:
    if value is NO_INPUT:
        out.append(b"0")
    elif isinstance(value, enum.Enum):
        _encode_str(b"E", f"{type(value).__module__}.{type(value).__qualname__}", out)
        _encode(value.value, out, where)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _encode_str(b"C", f"{type(value).__module__}.{type(value).__qualname__}", out)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        _encode_mapping(fields, out, where)
    elif hasattr(value, "model_dump") and callable(value.model_dump):  # pydantic v2 models
        _encode_str(b"C", f"{type(value).__module__}.{type(value).__qualname__}", out)
        _encode(value.model_dump(mode="python"), out, where)
    elif isinstance(value, (dt.datetime, dt.date, dt.time)):
        _encode_str(b"t", value.isoformat(), out)
    elif isinstance(value, (str, int, float, bytes)):  # subclasses: encode the base value
        _encode(_base_value(value), out, where)
    else:
        _encode_text_like(value, out, where)


def _encode_text_like(value: Any, out: list[bytes], where: Where) -> None:
    text_types: tuple[type, ...] = (decimal.Decimal, uuid.UUID, PurePath, dt.timedelta)
    if isinstance(value, text_types):
        _encode_str(b"X" + type(value).__name__.encode()[:1], str(value), out)
        return
    raise UnkeyableError(where, type(value).__name__)


def _base_value(value: Any) -> Any:
    for base in (bool, int, float, str, bytes):
        if isinstance(value, base):
            return base(value)
    return value


def _encode_int(value: int, out: list[bytes]) -> None:
    _encode_str(b"i", str(value), out)


def _encode_float(value: float, out: list[bytes]) -> None:
    _encode_str(b"f", repr(value), out)


def _encode_bytes(value: bytes | bytearray | memoryview, out: list[bytes]) -> None:
    data = bytes(value)
    out.append(b"b" + _length(data) + data)


_SCALARS: dict[type, Callable[[Any, list[bytes]], None]] = {
    type(None): lambda v, out: out.append(b"N"),
    bool: lambda v, out: out.append(b"B1" if v else b"B0"),
    int: _encode_int,
    float: _encode_float,
    str: lambda v, out: _encode_str(b"s", v, out),
    bytes: _encode_bytes,
    bytearray: _encode_bytes,
    memoryview: _encode_bytes,
}
