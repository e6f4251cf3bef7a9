"""Agents calling the real openai and anthropic SDKs, for tests/llm_server.py.

The SDKs are imported with this module, which a spec loads before the run starts, so
no task's time (a first chunk's above all) includes importing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai

MODEL = "gpt-4o-mini"


def _openai(context: dict[str, Any]) -> Any:
    return openai.OpenAI(base_url=f"{context['base_url']}/v1", api_key="test", max_retries=0)


def openai_chat(prompt: str, context: dict[str, Any]) -> Any:
    """Returns the SDK's ChatCompletion object as it is."""
    return _openai(context).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}]
    )


def openai_stream(prompt: str, context: dict[str, Any]) -> Iterator[Any]:
    """Yields the SDK's ChatCompletionChunk objects; the last one carries the usage."""
    yield from _openai(context).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )


def openai_stream_object(prompt: str, context: dict[str, Any]) -> Any:
    """Returns the SDK's Stream object itself (an iterator, not a generator)."""
    return _openai(context).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )


def openai_responses(prompt: str, context: dict[str, Any]) -> Any:
    return _openai(context).responses.create(model=MODEL, input=prompt)


def anthropic_message(prompt: str, context: dict[str, Any]) -> Any:
    client = anthropic.Anthropic(base_url=context["base_url"], api_key="test", max_retries=0)
    return client.messages.create(
        model="claude-3-5-haiku-latest",
        max_tokens=100,
        messages=[{"role": "user", "content": prompt}],
    )
