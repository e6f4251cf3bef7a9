"""Token usage read from what agents already return, without the user writing anything.

Shapes recognised (SDK objects and their plain-dict forms alike, at the top level or
under ``usage``):

- OpenAI Chat Completions: ``usage.prompt_tokens``/``completion_tokens`` and
  ``prompt_tokens_details.cached_tokens``; its stream's final usage chunk;
- OpenAI Responses: ``usage.input_tokens``/``output_tokens`` and
  ``input_tokens_details.cached_tokens``; its stream's ``response.completed`` event;
- Anthropic ``Message.usage``: ``input_tokens`` plus ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` (Anthropic's ``input_tokens`` leaves them out); its
  stream's ``message_start`` (input side) and ``message_delta`` (output) events;
- LangChain ``AIMessage.usage_metadata`` (and its chunks), also inside a LangGraph
  state's ``messages``, where only the messages this call added count.

Every reader answers None for a value it does not recognise: a guess would turn into
tokens and money that were never spent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentperf.usage.model import Tokens, Usage

#: Outputs that never carry usage: checked first, so a plain agent pays one lookup.
PLAIN_TYPES = frozenset({str, int, float, bool, type(None), bytes, tuple, set, frozenset})
_PLAIN = PLAIN_TYPES
_FINISH_LENGTH = {"length", "max_tokens", "max_output_tokens"}


def usage_of(output: Any, input_data: Any = None) -> Usage | None:
    """The usage an agent's result reports, or None when it reports none.

    Never raises: a result whose attributes misbehave when read (a property that
    raises, a proxy) reports no usage rather than failing a task that succeeded.
    """
    if type(output) in _PLAIN:
        return None
    usage = Usage()
    try:
        found = _collect(output, input_data, usage)
    except Exception:
        return None
    return usage if found else None


def add_chunk(chunk: Any, usage: Usage) -> None:
    """Add what one streamed chunk reports (OpenAI's final usage chunk, LangChain's
    ``usage_metadata`` on chunks, which add up over the stream)."""
    if type(chunk) in _PLAIN:
        return
    try:
        kind = _get(chunk, "type")
        if kind in ("message_start", "message_delta"):
            _anthropic_event(chunk, kind, usage)
        elif kind in ("response.completed", "response.incomplete"):  # OpenAI Responses
            _collect_one(_get(chunk, "response"), usage)
        elif not _collect(chunk, None, usage):
            _finish(usage, _finish_reason(chunk))
    except Exception:  # a chunk that misbehaves when read reports nothing (see usage_of)
        return


def _anthropic_event(event: Any, kind: str, usage: Usage) -> None:
    """Anthropic's stream: ``message_start`` carries the input side of the usage (its
    output count is a placeholder), ``message_delta`` the final output count."""
    if kind == "message_start":
        message = _get(event, "message")
        tokens = tokens_from(_get(message, "usage"))
        if tokens is not None:
            tokens.output_tokens = 0
            tokens.model, tokens.provider = _text(_get(message, "model")), "anthropic"
            usage.add(tokens)
        return
    output = _int(_get(_get(event, "usage"), "output_tokens"))
    if output is not None:
        model = next((p.model for p in usage.parts if p.provider == "anthropic"), None)
        usage.add(Tokens(0, output, model=model, provider="anthropic", calls=0))
    _finish(usage, _get(_get(event, "delta"), "stop_reason"))


def _collect(output: Any, input_data: Any, usage: Usage) -> bool:
    messages = _messages(output)
    if messages is not None:
        found = False
        for message in _added(messages, input_data):
            found = _collect_one(message, usage) or found
        return found
    return _collect_one(output, usage)


def _collect_one(obj: Any, usage: Usage) -> bool:
    metadata = _get(obj, "usage_metadata")
    if metadata is not None:  # LangChain AIMessage / AIMessageChunk
        tokens = _langchain_tokens(metadata)
        if tokens is None:
            return False
        response = _get(obj, "response_metadata") or {}
        tokens.model = _text(_get(response, "model_name") or _get(response, "model"))
        tokens.provider = _text(_get(response, "model_provider"))
        usage.add(tokens)
        _finish(usage, _get(response, "finish_reason") or _get(response, "stop_reason"))
        return True
    raw = _get(obj, "usage")
    source = raw if raw is not None else obj
    tokens = tokens_from(source)
    if tokens is None:
        return False
    tokens.model = _text(_get(obj, "model"))
    tokens.provider = _provider(obj, raw, source)
    usage.add(tokens)
    _finish(usage, _finish_reason(obj))
    return True


def tokens_from(raw: Any) -> Tokens | None:
    """Counts from a usage object or mapping of any recognised provider, else None."""
    if raw is None or type(raw) in _PLAIN:
        return None
    prompt = _int(_get(raw, "prompt_tokens"))
    if prompt is not None:  # OpenAI Chat Completions
        details = _get(raw, "prompt_tokens_details")
        return Tokens(
            prompt,
            _int(_get(raw, "completion_tokens")) or 0,
            _int(_get(details, "cached_tokens")) or 0,
        )
    given = _int(_get(raw, "input_tokens"))
    output = _int(_get(raw, "output_tokens"))
    if given is None and output is None:
        return None
    read = _int(_get(raw, "cache_read_input_tokens"))
    written = _int(_get(raw, "cache_creation_input_tokens"))
    if read is not None or written is not None or _has(raw, "cache_read_input_tokens"):
        read, written = read or 0, written or 0  # Anthropic: input_tokens leaves both out
        return Tokens((given or 0) + read + written, output or 0, read, written)
    details = _get(raw, "input_tokens_details")  # OpenAI Responses
    if details is not None:
        return Tokens(given or 0, output or 0, _int(_get(details, "cached_tokens")) or 0)
    return _langchain_tokens(raw)


def _langchain_tokens(raw: Any) -> Tokens | None:
    given = _int(_get(raw, "input_tokens"))
    output = _int(_get(raw, "output_tokens"))
    if given is None and output is None:
        return None
    details = _get(raw, "input_token_details") or {}
    return Tokens(
        given or 0,
        output or 0,
        _int(_get(details, "cache_read")) or 0,
        _int(_get(details, "cache_creation")) or 0,
    )


def _messages(output: Any) -> list[Any] | None:
    """A LangGraph state's message list, when ``output`` is such a state."""
    if type(output) is dict or isinstance(output, Mapping):
        messages = output.get("messages")
    elif not hasattr(output, "usage") and not hasattr(output, "usage_metadata"):
        messages = getattr(output, "messages", None)
    else:
        return None
    return messages if isinstance(messages, list) else None


def _added(messages: list[Any], input_data: Any) -> Iterable[Any]:
    """The messages a call added to the state: those whose id the input did not have,
    or, when the input's messages carry no ids, those past the input's count."""
    before = _messages(input_data) or []
    ids = {m_id for m in before if (m_id := _get(m, "id"))}
    if ids:
        return [m for m in messages if _get(m, "id") not in ids]
    return messages[len(before) :]


def _finish_reason(obj: Any) -> Any:
    choices = _get(obj, "choices")
    if isinstance(choices, list) and choices:
        return _get(choices[0], "finish_reason")
    stop = _get(obj, "stop_reason")  # Anthropic
    if stop is not None:
        return stop
    details = _get(obj, "incomplete_details")  # OpenAI Responses
    return _get(details, "reason") if details is not None else None


def _finish(usage: Usage, reason: Any) -> None:
    if isinstance(reason, str) and reason:
        usage.finish_reasons.append(reason)


def is_cut(reason: str) -> bool:
    """Whether a finish reason says the output hit the token limit."""
    return reason in _FINISH_LENGTH


def _provider(obj: Any, raw: Any, source: Any) -> str | None:
    module = type(obj).__module__.split(".", 1)[0]
    if module in ("openai", "anthropic"):
        return module
    if _has(source, "cache_read_input_tokens"):
        return "anthropic"
    return _text(_get(obj, "provider"))


def _get(obj: Any, name: str) -> Any:
    if type(obj) is dict:  # the common case, before the slower ABC check
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _has(obj: Any, name: str) -> bool:
    return name in obj if type(obj) is dict or isinstance(obj, Mapping) else hasattr(obj, name)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
