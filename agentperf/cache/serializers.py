"""How cached values become bytes, safely.

JSON (default) and msgpack cannot run code when read. Pickle can, so it is used only
when the user allows it, and every pickled value carries an HMAC-SHA256 signature
made with a key from an environment variable: an entry without a valid signature is
refused before ``pickle.loads`` ever sees it (unlike diskcache, CVE-2025-69872).

Every stored value starts with a one-byte tag naming its format, so a reader decodes
whatever a safe writer stored, and refuses pickle it was not told to trust.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
from dataclasses import dataclass
from typing import Any

from agentperf.errors import AgentperfError

JSON_TAG, MSGPACK_TAG, PICKLE_TAG = b"J", b"M", b"P"
_SIGNATURE_BYTES = hashlib.sha256().digest_size


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached result: the value and what computing it cost (for "time saved")."""

    value: Any
    latency_s: float = 0.0
    ok: bool = True  # False: a cached failure, value is {"type": ..., "message": ...}


class UnstorableError(ValueError):
    """A value the serializer cannot store faithfully; ``reason`` is short, for counting."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RefusedError(ValueError):
    """A stored value that must not be decoded: unsigned or tampered pickle."""


class CorruptError(ValueError):
    """Stored bytes that do not decode: the entry is treated as a miss and removed."""


class Codec:
    """Encodes entries with the configured serializer; decodes any safe format."""

    def __init__(self, serializer: str = "json", *, hmac_key: bytes | None = None) -> None:
        if serializer not in ("json", "msgpack", "pickle"):
            raise AgentperfError(f"unknown cache serializer '{serializer}'")
        if serializer == "pickle" and not hmac_key:
            raise AgentperfError("the pickle cache serializer needs a signing key")
        if serializer == "msgpack":
            _msgpack()
        self.serializer = serializer
        self._key = hmac_key

    @classmethod
    def from_settings(cls, serializer: str, allow_pickle: bool, hmac_key_env: str) -> Codec:
        """Build from config; a pickle cache without its key in the environment is an error."""
        key = os.environ.get(hmac_key_env, "").encode() if allow_pickle else b""
        if serializer == "pickle" and not key:
            raise AgentperfError(f"cache serializer 'pickle' needs a signing key: set "
                                 f"${hmac_key_env} to a long random secret")
        return cls(serializer, hmac_key=key or None)

    def encode(self, entry: Entry) -> bytes:
        """Bytes for ``entry``; :class:`UnstorableError` rather than store a changed value."""
        record = {"v": entry.value, "l": entry.latency_s, "ok": entry.ok}
        if self.serializer == "pickle":
            return self._sign(record)
        data = _dump_json(record) if self.serializer == "json" else _dump_msgpack(record)
        try:
            same = bool(self.decode(data).value == entry.value)
        except Exception:  # a value whose == is not a truth value (arrays) cannot be checked
            same = False
        if not same:
            raise UnstorableError(f"{self.serializer} changes the value (tuple, set or "
                                  "non-string keys?)")
        return data

    def decode(self, data: bytes) -> Entry:
        tag, body = data[:1], data[1:]
        if tag == JSON_TAG:
            record = _load(json.loads, body)
        elif tag == MSGPACK_TAG:
            record = _load(_load_msgpack, body)
        elif tag == PICKLE_TAG:
            record = self._verified_pickle(body)
        else:
            raise CorruptError(f"unknown format tag {tag!r}")
        if not isinstance(record, dict) or "v" not in record:
            raise CorruptError("not a cache record")
        return Entry(value=record["v"], latency_s=float(record.get("l") or 0.0),
                     ok=bool(record.get("ok", True)))

    def _sign(self, record: dict[str, Any]) -> bytes:
        assert self._key is not None
        try:
            body = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise UnstorableError(f"pickle: {type(exc).__name__}") from None
        signature = hmac.new(self._key, body, hashlib.sha256).digest()
        return PICKLE_TAG + signature + body

    def _verified_pickle(self, body: bytes) -> Any:
        if self._key is None:
            raise RefusedError("pickled entry refused: pickle is not allowed")
        signature, payload = body[:_SIGNATURE_BYTES], body[_SIGNATURE_BYTES:]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        if len(signature) != _SIGNATURE_BYTES or not hmac.compare_digest(signature, expected):
            raise RefusedError("pickled entry refused: bad or missing signature")
        return _load(pickle.loads, payload)


def _dump_json(record: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnstorableError(f"json: {_short(exc)}") from None
    return JSON_TAG + text.encode("utf-8", "surrogatepass")


def _dump_msgpack(record: dict[str, Any]) -> bytes:
    msgpack = _msgpack()
    try:
        return MSGPACK_TAG + msgpack.packb(record, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UnstorableError(f"msgpack: {_short(exc)}") from None


def _load_msgpack(body: bytes) -> Any:
    return _msgpack().unpackb(body, raw=False, strict_map_key=False)


def _load(loader: Any, body: bytes) -> Any:
    try:
        return loader(body)
    except Exception as exc:  # any decoder failure means the bytes are damaged
        raise CorruptError(f"undecodable entry: {type(exc).__name__}") from None


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."


def _msgpack() -> Any:
    try:
        import msgpack
    except ModuleNotFoundError:
        from agentperf.errors import DependencyMissingError

        raise DependencyMissingError("the msgpack cache serializer", "msgpack", "msgpack") from None
    return msgpack
