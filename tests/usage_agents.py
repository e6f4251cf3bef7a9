"""Agents for the usage tests: LangChain fake chat models inside a LangGraph graph,
record_usage() callers and plain shapes (the SDK agents are in tests/sdk_agents.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import agentperf

MODEL = "gpt-4o-mini"


def recorded(x: int) -> int:
    """Two LLM calls reported by hand: 10 + 5x input and 3 output tokens each."""
    for _ in range(2):
        agentperf.record_usage(
            input_tokens=10 + 5 * x,
            output_tokens=3,
            cached_input_tokens=4,
            model=MODEL,
            provider="openai",
        )
    return x


def priced_by_size(x: int) -> dict[str, Any]:
    """A plain dict in OpenAI's shape; input 9 costs 50x the others (a cost outlier)."""
    prompt = 5000 if x == 9 else 100
    return {
        "model": MODEL,
        "usage": {"prompt_tokens": prompt, "completion_tokens": 0},
        "choices": [{"finish_reason": "length" if x % 2 else "stop"}],
    }


def my_usage(result: dict[str, Any]) -> dict[str, int]:
    """The spec's ``usage:`` function for :func:`custom_shape`."""
    return {"input_tokens": result["tokens_in"], "output_tokens": result["tokens_out"]}


def custom_shape(x: int) -> dict[str, int]:
    return {"tokens_in": 7 * x, "tokens_out": x}


def slow_gen(x: int) -> Iterator[str]:
    """A plain generator: the first chunk after 50 ms, the others 20 ms apart."""
    time.sleep(0.05)
    for i in range(3):
        if i:
            time.sleep(0.02)
        yield f"w{i}"


def fake_chat_model(
    input_tokens: int = 30, output_tokens: int = 3, cached: int = 10, delay_s: float = 0.0
) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_token_details": {"cache_read": cached},
    }

    class FakeUsageChat(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "fake-usage"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            message = AIMessage(
                content="ok",
                usage_metadata=usage,
                response_metadata={"model_name": MODEL, "finish_reason": "stop"},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _stream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Iterator[ChatGenerationChunk]:
            words = ["a", "b", "c"]
            for i, word in enumerate(words):
                time.sleep(delay_s)
                last = i == len(words) - 1
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=word,
                        usage_metadata=usage if last else None,
                        response_metadata={"model_name": MODEL} if last else {},
                    )
                )

    return FakeUsageChat()


def langgraph_agent() -> Any:
    """A factory: a two-node LangGraph graph, each node one LLM call (30 in, 3 out)."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    model = fake_chat_model()

    def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("first", call)
    graph.add_node("second", call)
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    return graph.compile()


def streaming_chat() -> Any:
    """A factory for ``call: stream``: the fake chat model, 30 ms between chunks."""
    return fake_chat_model(delay_s=0.03)
