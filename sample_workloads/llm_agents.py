"""A streaming chat agent on a fake chat model: tokens, cost and time to first token
without a network or an API key.

``FakeChatModel.stream`` yields chunks shaped like OpenAI's Chat Completions stream
(text deltas, then a final chunk with ``usage``), with a set delay before the first
chunk and between chunks, so agentperf's Usage and Streaming sections have something
real to measure. Swap it for ``openai.OpenAI().chat.completions.create(...,
stream=True, stream_options={"include_usage": True})`` and nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any


class FakeChatModel:
    """Counts a token per word (plus a fixed system prompt) and answers word by word."""

    SYSTEM_PROMPT_TOKENS = 200

    def __init__(self, model: str, first_token_s: float, token_gap_s: float) -> None:
        self.model = model
        self.first_token_s = first_token_s
        self.token_gap_s = token_gap_s

    def stream(self, prompt: str, max_tokens: int) -> Iterator[dict[str, Any]]:
        words = [f"{w} " for w in f"Here is a short answer to: {prompt}".split()]
        cut = len(words) > max_tokens
        words = words[:max_tokens]
        time.sleep(self.first_token_s)
        for i, word in enumerate(words):
            if i:
                time.sleep(self.token_gap_s)
            last = i == len(words) - 1
            yield {
                "model": self.model,
                "choices": [
                    {
                        "delta": {"content": word},
                        "finish_reason": ("length" if cut else "stop") if last else None,
                    }
                ],
            }
        yield {
            "model": self.model,
            "choices": [],
            "usage": {
                "prompt_tokens": self.SYSTEM_PROMPT_TOKENS + len(prompt.split()),
                "completion_tokens": len(words),
                "prompt_tokens_details": {"cached_tokens": self.SYSTEM_PROMPT_TOKENS},
            },
        }


def chat_agent(prompt: str, context: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A streaming agent: agentperf consumes the generator, timing every chunk."""
    model = FakeChatModel(context["model"], context["first_token_s"], context["token_gap_s"])
    yield from model.stream(prompt, int(context["max_tokens"]))
