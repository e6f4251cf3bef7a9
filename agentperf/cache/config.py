"""The ``cache:`` section of a spec, validated once, with the CLI's overrides applied.

A run uses a cache only when asked (:func:`requested_cache`): a cache that answers
from an earlier run would let a gate judge stored results instead of the agent. When
asked for, the defaults are the embedded ones (memory + disk, no server), so a CI job
gets a persistent cache by keeping one directory, and Redis joins only with a URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentperf.cache import requested
from agentperf.errors import did_you_mean

#: TTL strategies from the performance guide, in seconds.
STRATEGIES: dict[str, float] = {"aggressive": 7200.0, "moderate": 3600.0, "conservative": 900.0}
#: Context fields that change an agent's answer (the guide's list).
DEFAULT_KEY_FIELDS = ("agent_type", "model", "temperature", "max_tokens", "processing_mode",
                      "validation_rules")
TIERS = ("memory", "disk", "redis")
SERIALIZERS = ("json", "msgpack", "pickle")
DEFAULT_HMAC_ENV = "AGENTPERF_CACHE_KEY"

ErrorFactory = Callable[[str, str], Exception]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/agentperf`` or ``~/.cache/agentperf``: where CI cache actions look."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentperf"


def redact_url(url: str | None) -> str:
    """The URL with its password (and a lone user token) replaced by ``***``."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    userinfo = f"{user}:***" if parts.password is not None else "***"
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query,
                       parts.fragment))


@dataclass(frozen=True)
class CacheConfig:
    """Every key of a spec's ``cache:`` section, typed and defaulted."""

    enabled: bool = True
    tiers: tuple[str, ...] = ("memory", "disk")
    ttl: float | None = None  # seconds; None takes the strategy's
    strategy: str = "moderate"
    key_fields: tuple[str, ...] = DEFAULT_KEY_FIELDS
    redis_url: str | None = field(default=None, repr=False)
    dir: Path = field(default_factory=default_cache_dir)
    max_entries: int = 100_000  # each of the memory and disk tiers
    max_bytes: int = 128 * 1024 * 1024  # each of the memory and disk tiers
    serializer: str = "json"
    allow_pickle: bool = False
    hmac_key_env: str = DEFAULT_HMAC_ENV
    cache_failures: bool = False
    timeout_s: float = 0.5  # every Redis call
    retry_s: float = 5.0  # back-off before a failed tier is tried again
    window: int = 256  # inputs looked up per Redis round trip
    #: Not a spec key: the agent's code fingerprint (hex), set by the run before it
    #: starts so that every process (and every Dask worker) builds the same keys.
    fingerprint: str | None = None
    fingerprint_sources: tuple[str, ...] = ()

    @property
    def ttl_s(self) -> float:
        return self.ttl if self.ttl is not None else STRATEGIES[self.strategy]

    @property
    def display_url(self) -> str:
        return redact_url(self.redis_url)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, error: ErrorFactory,
                     overrides: Mapping[str, Any] | None = None) -> CacheConfig:
        """Validate a ``cache:`` mapping; ``error(message, "cache.key")`` builds the exception."""
        values = _parse(raw or {}, error)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = _coerce_override(key, value)
        if values.get("redis_url") and "redis" not in values.get("tiers", cls.tiers):
            values["tiers"] = (*values.get("tiers", cls.tiers), "redis")
        config = cls(**values)
        _check_consistency(config, raw or {}, error)
        return config


_KNOWN = {f.name for f in fields(CacheConfig)} - {"fingerprint", "fingerprint_sources"}
_POSITIVE_INT = ("max_entries", "max_bytes", "window")
_POSITIVE_NUMBER = ("ttl", "timeout_s", "retry_s")
_BOOLS = ("enabled", "allow_pickle", "cache_failures")


def requested_cache(raw: Mapping[str, Any] | None, *, error: ErrorFactory,
                    cache: bool | None = None, dir: str | Path | None = None,
                    redis_url: str | None = None) -> CacheConfig | None:
    """The run's cache, or None when nobody asked for one.

    ``raw`` is the spec's ``cache:`` section (None when the spec has none); ``cache``
    is ``--cache`` (True) or ``--no-cache`` (False). A section turns the cache on unless
    it says ``enabled: false``; ``--cache``, ``--cache-dir`` or ``--redis-url`` turn it
    on whatever the spec says, with the tiers they name (memory always first);
    ``--no-cache`` turns it off. The section is validated either way, so a typo in it
    is an error even in a run without the cache.
    """
    config = CacheConfig.from_mapping(raw, error=error,
                                      overrides={"dir": dir, "redis_url": redis_url})
    if cache is False or not requested(raw, cache=cache, dir=dir, redis_url=redis_url):
        return None
    asked = bool(cache or dir or redis_url)
    if raw is None or "tiers" not in raw:
        named = ["memory"]
        if raw is not None or cache or dir:
            named.append("disk")
        if redis_url or config.redis_url:
            named.append("redis")
        config = replace(config, tiers=tuple(named))
    elif dir and "disk" not in config.tiers:
        config = replace(config, tiers=tuple(sorted((*config.tiers, "disk"), key=TIERS.index)))
    if asked:
        config = replace(config, enabled=True)
    return config if config.enabled else None


def cache_for_workload(spec: Any, *, cache: bool | None = None, dir: str | Path | None = None,
                       redis_url: str | None = None) -> CacheConfig | None:
    """:func:`requested_cache` for a :class:`~agentperf.workload.spec.WorkloadSpec`, with the
    agent's code fingerprint computed once, here in the parent, for every task and worker."""
    config = requested_cache(spec.cache, error=spec.error, cache=cache, dir=dir,
                             redis_url=redis_url)
    if config is None:
        return None
    from agentperf.workload.fingerprint import agent_fingerprint

    code = agent_fingerprint(spec.agent, spec.fingerprint, spec.base_dir)
    return replace(config, fingerprint=code.digest, fingerprint_sources=code.sources)


def _parse(raw: Mapping[str, Any], error: ErrorFactory) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise error("expected a mapping of cache settings", "cache")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"cache.{key}"
        if key not in _KNOWN:
            hint = did_you_mean(str(key), sorted(_KNOWN))
            raise error(f"unknown cache setting{hint}; expected one of {', '.join(sorted(_KNOWN))}",
                        path)
        if value is None:
            continue
        values[key] = _parse_value(key, value, path, error)
    return values


def _parse_value(key: str, value: Any, path: str, error: ErrorFactory) -> Any:
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise error("expected true or false", path)
        return value
    if key in _POSITIVE_INT:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise error("expected a whole number of at least 1", path)
        return value
    if key in _POSITIVE_NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise error("expected a number of seconds above 0", path)
        return float(value)
    if key == "tiers":
        return _parse_tiers(value, path, error)
    if key == "key_fields":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise error("expected a list of context field names", path)
        return tuple(value)
    if key == "strategy":
        return _choice(value, tuple(STRATEGIES), path, error)
    if key == "serializer":
        return _choice(value, SERIALIZERS, path, error)
    if key == "dir":
        if not isinstance(value, str) or not value:
            raise error("expected a directory path", path)
        return Path(value).expanduser()
    if not isinstance(value, str) or not value:  # redis_url, hmac_key_env
        raise error("expected a string", path)
    if key == "redis_url" and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise error(f"expected a redis://, rediss:// or unix:// URL, got '{redact_url(value)}'",
                    path)
    return value


def _parse_tiers(value: Any, path: str, error: ErrorFactory) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise error(f"expected a list of tiers from {', '.join(TIERS)}", path)
    for tier in value:
        _choice(tier, TIERS, path, error)
    if len(set(value)) != len(value):
        raise error("a tier is listed twice", path)
    return tuple(sorted(value, key=TIERS.index))  # fastest first, whatever order was written


def _choice(value: Any, allowed: tuple[str, ...], path: str, error: ErrorFactory) -> str:
    if value not in allowed:
        hint = did_you_mean(str(value), list(allowed))
        raise error(f"unknown value '{value}'{hint}; expected one of {', '.join(allowed)}", path)
    return str(value)


def _coerce_override(key: str, value: Any) -> Any:
    if key == "dir":
        return Path(value).expanduser()
    if key == "tiers":
        return tuple(value)
    return value


def _check_consistency(config: CacheConfig, raw: Mapping[str, Any], error: ErrorFactory) -> None:
    if "ttl" in raw and "strategy" in raw and raw["ttl"] is not None:
        raise error("give either 'ttl' or 'strategy', not both", "cache.ttl")
    if config.serializer == "pickle" and not config.allow_pickle:
        raise error("the pickle serializer runs code from the cache store when it reads; set "
                    f"'allow_pickle: true' and put a signing key in ${config.hmac_key_env}",
                    "cache.serializer")
    if "redis" in config.tiers and not config.redis_url:
        raise error("the redis tier needs 'redis_url' (or --redis-url)", "cache.tiers")

