"""LLM usage read from real SDK objects, record_usage, pricing, gates and health rules.

The openai and anthropic SDKs talk to tests/llm_server.py on 127.0.0.1; LangChain models
are langchain_core chat models with set usage, run inside a LangGraph graph.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import llm_server
import pytest
import sdk_agents as sa
import usage_agents as ua
from llm_server import LLMServer

import agentperf
from agentperf.analysis.health import HealthInput, HealthLimits, evaluate
from agentperf.analysis.health_model import UsageHealthInput
from agentperf.analysis.thresholds import RUN_BATCH_METRICS, evaluate_thresholds, parse_thresholds
from agentperf.errors import SpecError
from agentperf.execution.base import TaskResult
from agentperf.measure.usage_tally import UsageTally
from agentperf.usage.model import Tokens, Usage
from agentperf.usage.pricing import Pricer, Pricing
from agentperf.usage.recognize import usage_of
from agentperf.workload.adapters import build_adapter


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


def run_one(agent: Any, data: Any = "hello", **adapter: Any) -> TaskResult:
    """One call through the adapter every executor uses, as a TaskResult."""
    return TaskResult(0, True, build_adapter(agent, **adapter).call(data))


def only(usage: Usage | None) -> Tokens:
    assert usage is not None and len(usage.parts) == 1
    return usage.parts[0]


def test_openai_chat_completion_object(server: LLMServer) -> None:
    result = run_one(sa.openai_chat, "a long one", context={"base_url": server.url})
    part = only(result.usage)
    assert (part.input_tokens, part.cached_input_tokens, part.output_tokens) == (120, 20, 30)
    assert (part.model, part.provider) == ("gpt-4o-mini", "openai")
    assert result.usage.finish_reasons == ["length"]
    assert type(result.output).__name__ == "ChatCompletion"  # the output is unwrapped


def test_openai_responses_and_anthropic_message(server: LLMServer) -> None:
    context = {"base_url": server.url}
    part = only(run_one(sa.openai_responses, context=context).usage)
    assert (part.input_tokens, part.cached_input_tokens, part.output_tokens) == (80, 30, 15)
    part = only(run_one(sa.anthropic_message, context=context).usage)
    # Anthropic's input_tokens leaves out cache reads and writes: ours counts them all.
    assert part.input_tokens == 50 + 100 + 10
    assert (part.cached_input_tokens, part.cache_write_tokens) == (100, 10)
    assert (part.output_tokens, part.provider) == (25, "anthropic")


@pytest.mark.parametrize("agent", [sa.openai_stream, sa.openai_stream_object])
def test_openai_stream_times_chunks_and_reads_the_usage_chunk(
    server: LLMServer, agent: Any
) -> None:
    result = run_one(agent, context={"base_url": server.url})
    part = only(result.usage)
    assert (part.input_tokens, part.output_tokens, part.cached_input_tokens) == (120, 30, 20)
    stream = result.usage.stream
    assert stream is not None and stream.chunks == len(llm_server.STREAM_WORDS) + 1
    assert llm_server.FIRST_CHUNK_S <= stream.first_chunk_s < llm_server.FIRST_CHUNK_S + 2.0
    # No chunk can arrive before the server sent it: the last one comes after all the
    # server's delays (a loaded client may read two chunks back to back, so single gaps
    # have no lower bound).
    sent_last = llm_server.FIRST_CHUNK_S + len(llm_server.STREAM_WORDS) * llm_server.CHUNK_GAP_S
    assert stream.first_chunk_s + sum(stream.gaps_s) >= sent_last - 0.005
    assert all(gap < 1.0 for gap in stream.gaps_s)
    assert result.usage.finish_reasons == ["stop"]


def test_langgraph_counts_only_the_messages_this_call_added() -> None:
    state_in = {"messages": [{"role": "user", "content": "hi"}]}
    part = only(run_one(ua.langgraph_agent, state_in, init={}).usage)
    assert (part.input_tokens, part.output_tokens, part.cached_input_tokens) == (60, 6, 20)
    assert part.calls == 2
    # A state that already holds an earlier answer (with its id): that one is not counted.
    earlier = run_one(ua.langgraph_agent, state_in, init={}).output
    result = run_one(ua.langgraph_agent, {"messages": earlier["messages"]}, init={})
    assert only(result.usage).output_tokens == 6


def test_langchain_stream_and_astream_with_call_stream() -> None:
    for call in ("sync", "async"):
        adapter = build_adapter(ua.streaming_chat, init={}, call="stream")
        output = adapter.call("hi") if call == "sync" else asyncio.run(adapter.acall("hi"))
        result = TaskResult(0, True, output)
        assert only(result.usage).input_tokens == 30, call
        assert result.output.content == "abc"  # chunks added into one message
        assert result.usage.stream.chunks >= 3
        assert result.usage.stream.first_chunk_s >= 0.03


def test_plain_generators_and_dict_shapes() -> None:
    result = run_one(ua.slow_gen, 1)
    assert result.output == "w0w1w2" and result.usage.stream.chunks == 3
    assert not result.usage.has_tokens and 0.05 <= result.usage.stream.first_chunk_s < 1.0
    shapes = [
        ({"prompt_tokens": 9, "completion_tokens": 2}, (9, 2, 0, 0)),
        (
            {
                "usage": {
                    "input_tokens": 9,
                    "output_tokens": 2,
                    "input_tokens_details": {"cached_tokens": 4},
                }
            },
            (9, 2, 4, 0),
        ),
        (
            {
                "usage": {
                    "input_tokens": 5,
                    "output_tokens": 2,
                    "cache_read_input_tokens": 3,
                    "cache_creation_input_tokens": 1,
                }
            },
            (9, 2, 3, 1),
        ),
        (
            {"input_tokens": 9, "output_tokens": 2, "input_token_details": {"cache_read": 4}},
            (9, 2, 4, 0),
        ),
    ]
    for shape, expected in shapes:
        part = only(usage_of(shape))
        assert (
            part.input_tokens,
            part.output_tokens,
            part.cached_input_tokens,
            part.cache_write_tokens,
        ) == expected, shape
    for plain in ("text", 3, None, {"answer": 1}, {"usage": "n/a"}, [1, 2]):
        assert usage_of(plain) is None

    class Touchy:
        @property
        def usage(self) -> Any:
            raise RuntimeError("not loaded")

    result = run_one(lambda x: Touchy())  # a result that raises when read is not a failure
    assert result.usage is None and isinstance(result.output, Touchy)


def test_anthropic_stream_events() -> None:
    def events(x: str) -> Iterator[dict[str, Any]]:
        yield {
            "type": "message_start",
            "message": {
                "model": "claude-3-5-haiku-latest",
                "usage": {
                    "input_tokens": 50,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 10,
                    "output_tokens": 1,
                },
            },
        }
        yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}
        yield {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 25},
        }
        yield {"type": "message_stop"}

    result = run_one(events)
    part = only(result.usage)
    assert (part.input_tokens, part.cached_input_tokens, part.cache_write_tokens) == (160, 100, 10)
    assert (part.output_tokens, part.calls, part.model) == (25, 1, "claude-3-5-haiku-latest")
    assert result.usage.finish_reasons == ["max_tokens"] and result.usage.stream.chunks == 4

    def responses_events(x: str) -> Iterator[dict[str, Any]]:
        yield {"type": "response.output_text.delta", "delta": "hi"}
        yield {
            "type": "response.completed",
            "response": {
                "model": "gpt-4o-mini",
                "usage": {
                    "input_tokens": 80,
                    "output_tokens": 15,
                    "input_tokens_details": {"cached_tokens": 30},
                },
            },
        }

    part = only(run_one(responses_events).usage)
    assert (part.input_tokens, part.cached_input_tokens, part.output_tokens) == (80, 30, 15)


def test_record_usage_adds_up_and_wins_over_the_result_shape() -> None:
    part = only(run_one(ua.recorded, 2).usage)
    assert (part.input_tokens, part.output_tokens, part.cached_input_tokens) == (40, 6, 8)

    def both(x: int) -> dict[str, Any]:
        agentperf.record_usage(input_tokens=1, output_tokens=1)
        return {"usage": {"prompt_tokens": 500, "completion_tokens": 500}}

    assert only(run_one(both).usage).input_tokens == 1  # never counted twice

    async def in_async(x: int) -> int:
        agentperf.record_usage(input_tokens=7, output_tokens=1)
        await asyncio.sleep(0)
        agentperf.record_usage(input_tokens=7, output_tokens=1)
        return x

    assert (
        only(TaskResult(0, True, asyncio.run(build_adapter(in_async).acall(1))).usage).input_tokens
        == 14
    )
    agentperf.record_usage(input_tokens=1)  # outside a run: nothing to add to, no error
    with pytest.raises(ValueError, match="cached_input_tokens"):
        agentperf.record_usage(input_tokens=1, cached_input_tokens=5)
    with pytest.raises(ValueError, match="non-negative int"):
        agentperf.record_usage(output_tokens=-1)


def test_an_adapter_around_another_adapters_call_keeps_its_usage_whole() -> None:
    """auto's probe and Dask's memory meter wrap ``adapter.call`` in a second adapter:
    the inner call's usage must come through as it was, not be re-read from its wrapper."""
    from agentperf.workload.adapters import AgentAdapter

    inner = build_adapter(ua.recorded)
    outer = AgentAdapter(inner.call, is_async=False, protocol=inner.protocol, name=inner.name)
    part = only(TaskResult(0, True, outer.call(2)).usage)
    assert (part.input_tokens, part.output_tokens, part.cached_input_tokens) == (40, 6, 8)


def test_usage_function_from_the_spec() -> None:
    part = only(run_one(ua.custom_shape, 3, usage=ua.my_usage).usage)
    assert (part.input_tokens, part.output_tokens) == (21, 3)
    with pytest.raises(TypeError, match="holds no token counts"):
        run_one(ua.custom_shape, 3, usage=lambda result: "nothing")


def test_explicit_pricing_is_exact_and_names_a_missing_price() -> None:
    pricing = Pricing(input_per_million=2.0, output_per_million=8.0, cached_input_per_million=0.5)
    tokens = Tokens(input_tokens=1_000, output_tokens=500, cached_input_tokens=400)
    assert pricing.cost(tokens) == pytest.approx(
        (600 * 2.0 + 400 * 0.5 + 500 * 8.0) / 1e6, abs=1e-15
    )
    pricer = Pricer.create(Pricing(input_per_million=2.0, output_per_million=8.0))
    usage = Usage([tokens])
    assert pricer.cost(usage) is None
    assert pricer.error is not None and "cached_input_per_million" in pricer.error
    with pytest.raises(SpecError, match="unknown key 'input'"):
        Pricing.from_spec({"input": 1}, lambda message, key: SpecError(message, key=key))
    with pytest.raises(SpecError, match="non-negative number"):
        Pricing.from_spec(
            {"input_per_million": -1}, lambda message, key: SpecError(message, key=key)
        )


def test_price_database_estimate_for_a_known_model_and_none_for_an_unknown() -> None:
    pricer = Pricer.create(None)
    assert pricer.estimate and pricer.priced_by.startswith("genai-prices ")
    usage = Usage([Tokens(1_000_000, 1_000_000, 0, 0, "gpt-4o-mini", "openai")])
    # gpt-4o-mini lists at $0.15 per million input and $0.60 per million output tokens.
    assert pricer.cost(usage) == pytest.approx(0.75)
    unknown = Usage([Tokens(10, 10, 0, 0, "no-such-model-here", None)])
    assert pricer.cost(unknown) is None
    assert "no-such-model-here" in pricer.problems["no-such-model-here"]


def _tally(costs: list[int], pricing: Pricing | None = None) -> UsageTally:
    tally = UsageTally(Pricer.create(pricing or Pricing(input_per_million=1_000_000.0)))
    for i, tokens in enumerate(costs):
        tally.add(
            TaskResult(i, True, None, latency_s=0.1, usage=Usage([Tokens(tokens, 0)])), f"input {i}"
        )
    return tally


def test_cost_and_token_gates_fail_and_pass() -> None:
    tally = _tally([1, 2, 3, 4])  # $1 per token: costs 1, 2, 3, 4
    specs = {
        "cost_usd": ["total < 9.5", "avg < 3"],
        "input_tokens": ["p(95) < 4000", "max < 4"],
        "tokens": ["total == 10"],
    }
    thresholds = parse_thresholds(
        specs, [], metrics=RUN_BATCH_METRICS, error=lambda m, k: SpecError(m, key=k)
    )
    results = {t.label: t.passed for t in evaluate_thresholds(thresholds, tally.usage_values())}
    assert results == {
        "cost_usd: total < 9.5": False,
        "cost_usd: avg < 3": True,
        "input_tokens: p(95) < 4000": True,
        "input_tokens: max < 4": False,
        "tokens: total == 10": True,
    }
    empty = evaluate_thresholds(thresholds, UsageTally(Pricer.create(None)).usage_values())
    assert not any(t.passed for t in empty) and {t.note for t in empty} == {"no observations"}
    for bad in ("ttft: total < 1s", "cost_usd: < 2", "output_tokens: p(95) < 4kb"):
        with pytest.raises(SpecError):
            parse_thresholds(
                {}, [bad], metrics=RUN_BATCH_METRICS, error=lambda m, k: SpecError(m, key=k)
            )


def _usage_health(**fields: Any) -> list[str]:
    base = {
        "tasks": 40,
        "finished_tasks": 40,
        "cut_tasks": 0,
        "tokens_spent": 4000,
        "tokens_saved": None,
        "repeated_fraction": 0.0,
        "median_cost": 0.001,
        "priced_tasks": 40,
        "costly": (),
    }
    report = evaluate(HealthInput(usage=UsageHealthInput(**{**base, **fields})), HealthLimits())
    return [f.rule for f in report.findings]


def test_usage_health_rules_fire_and_stay_quiet() -> None:
    assert _usage_health() == []
    assert _usage_health(cut_tasks=10) == ["outputs_cut"]
    assert _usage_health(cut_tasks=2) == []  # 5 %: at the limit, not above it
    assert _usage_health(tokens_saved=0, repeated_fraction=0.5) == ["cache_saves_no_tokens"]
    assert _usage_health(tokens_saved=1200, repeated_fraction=0.5) == []
    assert _usage_health(tokens_saved=0, repeated_fraction=0.0) == []  # nothing repeated
    findings = evaluate(
        HealthInput(
            usage=UsageHealthInput(
                40, 40, 0, 4000, None, 0.0, 0.001, 40, ((9, "the huge one", 0.05), (3, "x", 0.002))
            )
        )
    )
    assert [f.rule for f in findings.findings] == ["costly_inputs"]
    assert "#9 'the huge one'" in findings.findings[0].message
    assert "#3" not in findings.findings[0].message
    assert _usage_health(costly=((3, "x", 0.002),)) == []


def test_tally_ttft_counts_from_the_task_start_and_hits_count_as_saved() -> None:
    tally = UsageTally(Pricer.create(Pricing(input_per_million=1.0, output_per_million=1.0)))
    stream = Usage([Tokens(10, 5)])
    from agentperf.usage.model import StreamTiming

    stream.stream = StreamTiming(3, 0.2, [0.1, 0.1], 0.4)
    # A retried task: 1.0 s from its first try's start, the last try alone 0.4 s.
    tally.add(TaskResult(0, True, None, latency_s=1.0, attempts=2, service_s=0.4, usage=stream))
    tally.add(
        TaskResult(
            1,
            True,
            None,
            latency_s=0.001,
            attempts=0,
            cache_hit=True,
            usage=Usage([Tokens(100, 50)]),
        )
    )
    summary = tally.summary(wall_s=1.0, inputs=2)
    assert summary.input_tokens.total == 10 and summary.tasks == 1
    assert summary.saved_by_cache.input_tokens == 100
    assert summary.saved_by_cache.cost_usd == pytest.approx(150 / 1e6)
    assert tally.ttft.summary().max == pytest.approx(0.8, abs=0.001)
    assert tally.itl.count == 2
