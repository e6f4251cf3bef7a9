"""Secrets never reach a report or the results file: URL passwords, secret values, tokens.

Reports and the ``--output`` JSONL land in CI logs, job summaries and uploaded artifacts
that many people can read. Everything written passes through one :class:`Redactor`,
which masks values of keys named like a secret, the password part of URLs, ``Bearer``
tokens and secret query parameters, and — because an agent's error message or output may
echo its API key — every literal occurrence of a secret value found in the context, the
cache settings or the environment's secret variables (``OPENAI_API_KEY``, ``GITHUB_TOKEN``).

It sits below every layer (like ``errors``) so the pipeline's results file and the
report renderers share it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
#: Any of these words anywhere in a key name makes its value secret.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential",
    "credentials", "auth", "authorization", "cookie", "signature",
})
#: Secret-looking values shorter than this are not scrubbed from free text (too many hits).
_MIN_SCRUB_LENGTH = 4
#: Environment values are scrubbed from text from this length: short ones are flags.
_MIN_ENV_SCRUB_LENGTH = 8
#: Variables named like a secret that hold a path, not a secret.
_ENV_NOT_SECRET = frozenset({"PWD", "OLDPWD"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s:]*(?::[^/@\s]*)?)@")
_QUERY_SECRET = re.compile(r"(?P<key>[?&;][^=&#\s]+)=(?P<value>[^&#\s]*)")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}")


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """``api_key``, ``OPENAI_API_KEY``, ``password``, ``access_token``: yes.

    ``max_tokens``, ``key_fields``, ``cache_key_prefix``: no — a key is secret when a
    secret word is one of its words, or when its last word is ``key``.
    """
    words = [w.lower() for w in _WORD.findall(str(name))]
    if not words:
        return False
    return words[-1] == "key" or any(w in _SECRET_WORDS for w in words)


def redact_url(url: str) -> str:
    """``redis://:pw@host:6379/0`` -> ``redis://:***@host:6379/0``; query secrets masked too."""
    return _redact_patterns(url)


def _redact_patterns(text: str) -> str:
    def userinfo(match: re.Match[str]) -> str:
        user, sep, _password = match["userinfo"].partition(":")
        masked = f"{user}:{MASK}" if sep else MASK
        return f"{match['scheme']}{masked}@"

    def query(match: re.Match[str]) -> str:
        if is_secret_key(match["key"][1:]):
            return f"{match['key']}={MASK}"
        return match.group(0)

    if "://" in text:
        text = _URL_USERINFO.sub(userinfo, text)
    if "=" in text:
        text = _QUERY_SECRET.sub(query, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


class Redactor:
    """Masks secrets in strings and JSON-able structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if len(s) >= _MIN_SCRUB_LENGTH}
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(found, key=len, reverse=True)

    @classmethod
    def from_context(cls, *sources: Any, environ: Mapping[str, str] | None = None
                     ) -> Redactor:
        """A redactor that scrubs every secret value found in ``sources`` (the context,
        cache settings: mappings and dataclasses) and in the environment's secret variables.

        ``environ`` defaults to ``os.environ``; pass ``{}`` to leave the environment out.
        """
        values: list[str] = []
        for source in sources:
            _collect(source, False, values)
        values += environment_secrets(os.environ if environ is None else environ)
        return cls(values)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _redact_patterns(text)

    def strings(self, obj: Any) -> Any:
        """A copy of a JSON-able structure with every string scrubbed as :meth:`text` does.

        Keys are not judged: an agent's output field named ``token_count`` is data, but
        a secret value it repeats is still masked.
        """
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {k: self.strings(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.strings(v) for v in obj]
        return obj

    def value(self, obj: Any, *, secret: bool = False) -> Any:
        """A copy of a JSON-able structure with secrets masked (``secret``: mask all leaves)."""
        if isinstance(obj, Mapping):
            return {str(k): self.value(v, secret=secret or is_secret_key(str(k)))
                    for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v, secret=secret) for v in obj]
        if obj is None or isinstance(obj, bool):
            return obj
        if secret:
            return MASK
        return self.text(obj) if isinstance(obj, str) else obj


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """Values of variables named like a secret (``*_API_KEY``, ``*_TOKEN``, ``*PASSWORD*``)."""
    return [value for name, value in environ.items()
            if name not in _ENV_NOT_SECRET and not name.endswith("_SOCK")
            and len(value) >= _MIN_ENV_SCRUB_LENGTH and is_secret_key(name)]


def _collect(obj: Any, secret: bool, out: list[str]) -> None:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            _collect(value, secret or is_secret_key(str(key)), out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect(value, secret, out)
    elif isinstance(obj, str):
        if secret:
            out.append(obj)
        for match in _URL_USERINFO.finditer(obj):
            password = match["userinfo"].partition(":")[2]
            if password:
                out.append(password)
    elif secret and isinstance(obj, int) and not isinstance(obj, bool):
        out.append(str(obj))
