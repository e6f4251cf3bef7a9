"""How cached values become bytes, safely, and how stored bytes are trusted.

Every stored entry is an envelope: a format marker, the codec's tag, the absolute expiry
time and, when the cache has a signing key, an HMAC-SHA256 over the codec tag, the cache
key, the expiry and the payload. Binding the key means a signed blob copied to another
key is refused (a replay); binding the codec and requiring a signature means an unsigned
JSON entry written over a signed one is refused (a downgrade). JSON (default) and
msgpack cannot run code when read; pickle can, so it is decoded only when allowed and
only after its signature checks (unlike diskcache, CVE-2025-69872).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any

from agentperf.errors import AgentperfError

JSON_TAG, MSGPACK_TAG, PICKLE_TAG = b"J", b"M", b"P"
_TAGS = {"json": JSON_TAG, "msgpack": MSGPACK_TAG, "pickle": PICKLE_TAG}
MIN_KEY_BYTES = 32
ENVELOPE = b"A2"
_HEAD = struct.Struct(">2scc d")  # envelope marker, codec tag, signed flag, expires (0 never)
_SIGNED, _UNSIGNED = b"S", b"-"
_MAC_BYTES = hashlib.sha256().digest_size
_MAC_DOMAIN = b"agentperf-cache-mac-v1\x00"


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached result: the value and what computing it cost (for "time saved")."""

    value: Any
    latency_s: float = 0.0
    ok: bool = True  # False: a cached failure, value is {"type": ..., "message": ...}
    #: The LLM usage the call reported (``Usage.to_dict()``), so a hit knows what it saved.
    usage: dict[str, Any] | None = None


class UnstorableError(ValueError):
    """A value the serializer cannot store faithfully; ``reason`` is short, for counting."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RefusedError(ValueError):
    """A stored value that must not be trusted: unsigned, tampered, replayed or pickle."""


class CorruptError(ValueError):
    """Stored bytes that do not decode: the entry is treated as a miss and removed."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded envelope: the entry and its absolute expiry (unix time, None = never)."""

    entry: Entry
    expires: float | None


class Codec:
    """Encodes entries with the configured serializer; decodes any safe format.

    ``hmac_key`` makes this a signing cache: everything it writes is signed and
    everything it reads must carry a valid signature for the same key. ``allow_pickle``
    lets it decode signed pickle; without a key, pickle is never decoded.
    """

    def __init__(self, serializer: str = "json", *, hmac_key: bytes | None = None,
                 allow_pickle: bool | None = None) -> None:
        if serializer not in _TAGS:
            raise AgentperfError(f"unknown cache serializer '{serializer}'")
        if serializer == "pickle" and not hmac_key:
            raise AgentperfError("the pickle cache serializer needs a signing key")
        if hmac_key is not None and len(hmac_key) < MIN_KEY_BYTES:
            raise AgentperfError(f"the cache signing key is {len(hmac_key)} bytes; it needs at "
                                 f"least {MIN_KEY_BYTES} (a long random secret)")
        if serializer == "msgpack":
            _msgpack()
        self.serializer = serializer
        self.tag = _TAGS[serializer]
        self._key = hmac_key or None
        self.allow_pickle = bool(self._key) and (allow_pickle if allow_pickle is not None
                                                 else serializer == "pickle")

    @property
    def signed(self) -> bool:
        return self._key is not None

    @classmethod
    def from_settings(cls, serializer: str, allow_pickle: bool, hmac_key_env: str) -> Codec:
        """Build from config: a key in ``$hmac_key_env`` makes the cache a signing one; a
        pickle cache without one is an error."""
        raw = os.environ.get(hmac_key_env, "")
        if serializer == "pickle" and not raw:
            raise AgentperfError(f"cache serializer 'pickle' needs a signing key: set "
                                 f"${hmac_key_env} to a long random secret")
        if raw and len(raw.encode()) < MIN_KEY_BYTES:
            raise AgentperfError(f"${hmac_key_env} is {len(raw.encode())} bytes; a cache "
                                 f"signing key needs at least {MIN_KEY_BYTES}")
        return cls(serializer, hmac_key=raw.encode() or None, allow_pickle=allow_pickle)

    def encode_checked(self, entry: Entry, key: str = "", expires: float | None = None
                       ) -> tuple[bytes, Entry]:
        """Bytes for ``entry`` and the entry decoded back from them (a private copy);
        :class:`UnstorableError` rather than store a changed value."""
        record = {"v": entry.value, "l": entry.latency_s, "ok": entry.ok}
        if entry.usage is not None:
            record["u"] = entry.usage
        if self.serializer == "pickle":
            payload = _dump_pickle(record)
        elif self.serializer == "json":
            payload = _dump_json(record)
        else:
            payload = _dump_msgpack(record)
        blob = self._wrap(payload, key, expires)
        try:
            back = self.decode(blob, key).entry
        except (CorruptError, RefusedError) as exc:
            raise UnstorableError(f"{self.serializer}: {exc}") from None
        if self.serializer != "pickle":
            try:
                same = bool(back.value == entry.value)
            except Exception:  # a value whose == is not a truth value (arrays) cannot be checked
                same = False
            if not same:
                raise UnstorableError(f"{self.serializer} changes the value (tuple, set or "
                                      "non-string keys?)")
        return blob, back

    def encode(self, entry: Entry, key: str = "", expires: float | None = None) -> bytes:
        return self.encode_checked(entry, key, expires)[0]

    def decode(self, data: bytes, key: str = "") -> Decoded:
        """The entry in ``data`` stored under ``key``; :class:`CorruptError` for bytes that
        are not an entry, :class:`RefusedError` for bytes this cache must not trust."""
        if not isinstance(data, (bytes, bytearray)) or len(data) < _HEAD.size:
            raise CorruptError("truncated or unknown entry")
        marker, tag, flag, expires = _HEAD.unpack_from(data)
        if marker != ENVELOPE or flag not in (_SIGNED, _UNSIGNED) or tag not in (
                JSON_TAG, MSGPACK_TAG, PICKLE_TAG):
            raise CorruptError("not a cache entry (unknown format)")
        start = _HEAD.size + (_MAC_BYTES if flag == _SIGNED else 0)
        payload = bytes(data[start:])
        if self._key is not None:
            if flag != _SIGNED or len(data) < start:
                raise RefusedError("unsigned entry refused: this cache signs its entries")
            expected = self._mac(tag, key, data[_HEAD.size - 8:_HEAD.size], payload)
            if not hmac.compare_digest(bytes(data[_HEAD.size:start]), expected):
                raise RefusedError("entry refused: its signature does not match this key, "
                                   "codec and expiry (tampered, or copied from another key)")
        if tag == PICKLE_TAG and not self.allow_pickle:
            raise RefusedError("pickled entry refused: pickle is not allowed")
        record = _load(tag, payload)
        return Decoded(_entry(record), expires if expires > 0 else None)

    def _wrap(self, payload: bytes, key: str, expires: float | None) -> bytes:
        head = _HEAD.pack(ENVELOPE, self.tag, _SIGNED if self._key else _UNSIGNED,
                          expires or 0.0)
        if self._key is None:
            return head + payload
        return head + self._mac(self.tag, key, head[-8:], payload) + payload

    def _mac(self, tag: bytes, key: str, expires: bytes, payload: bytes) -> bytes:
        assert self._key is not None
        mac = hmac.new(self._key, _MAC_DOMAIN, hashlib.sha256)
        encoded = key.encode("utf-8", "surrogatepass")
        mac.update(len(encoded).to_bytes(4, "big") + encoded + tag + expires)
        mac.update(payload)
        return mac.digest()


def _entry(record: Any) -> Entry:
    if type(record) is not dict or "v" not in record:
        raise CorruptError("not a cache record")
    latency, ok = record.get("l", 0.0), record.get("ok", True)
    if type(latency) not in (int, float) or not latency >= 0 or type(ok) is not bool:
        raise CorruptError("malformed cache record")
    if not ok and not (type(record["v"]) is dict
                       and all(type(record["v"].get(k, "")) is str for k in ("type", "message"))):
        raise CorruptError("malformed cached failure")
    usage = record.get("u")
    return Entry(value=record["v"], latency_s=float(latency), ok=ok,
                 usage=usage if type(usage) is dict else None)


def _dump_pickle(record: dict[str, Any]) -> bytes:
    try:
        return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnstorableError(f"pickle: {type(exc).__name__}") from None


def _dump_json(record: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnstorableError(f"json: {_short(exc)}") from None
    return text.encode("utf-8", "surrogatepass")


def _dump_msgpack(record: dict[str, Any]) -> bytes:
    msgpack = _msgpack()
    try:
        return msgpack.packb(record, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UnstorableError(f"msgpack: {_short(exc)}") from None


def _load(tag: bytes, body: bytes) -> Any:
    try:
        if tag == JSON_TAG:
            return json.loads(body)
        if tag == MSGPACK_TAG:
            return _msgpack().unpackb(body, raw=False, strict_map_key=False)
        return pickle.loads(body)
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
