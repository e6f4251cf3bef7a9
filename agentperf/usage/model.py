"""What one task spent on LLM calls: tokens per model, finish reasons, stream timing.

One meaning for each count, whatever the provider:

- ``input_tokens``: every input token of the call, cached ones included (OpenAI
  ``prompt_tokens``; Anthropic ``input_tokens + cache_read_input_tokens +
  cache_creation_input_tokens``; LangChain ``input_tokens``);
- ``cached_input_tokens``: the part of them read from the provider's prompt cache;
- ``cache_write_tokens``: the part written to it (Anthropic);
- ``output_tokens``: every output token, reasoning included.

Plain dataclasses of plain values, so a :class:`Usage` pickles across a worker process
or a Dask worker with the task's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Tokens:
    """The counts of one model's calls within one task (several calls add up)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    model: str | None = None
    provider: str | None = None
    calls: int = 1

    def add(self, other: Tokens) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.calls += other.calls


@dataclass(slots=True)
class StreamTiming:
    """How a streamed answer arrived, in seconds from the start of the agent call.

    ``first_chunk_s`` is the offset of the first chunk within the call (the pipeline
    turns it into ``ttft`` from the task's start, like latency); ``gaps_s`` are the
    inter-chunk latencies; ``call_s`` is the call's own duration as timed here.
    """

    chunks: int
    first_chunk_s: float | None
    gaps_s: list[float]
    call_s: float

    @property
    def chunks_per_s(self) -> float | None:
        return self.chunks / self.call_s if self.call_s > 0 and self.chunks else None


@dataclass(slots=True)
class Usage:
    """Everything one task's LLM calls reported; ``parts`` holds one entry per model."""

    parts: list[Tokens] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    stream: StreamTiming | None = None

    def add(self, tokens: Tokens) -> None:
        """Add one call's counts, merged with an earlier call of the same model."""
        for part in self.parts:
            if part.model == tokens.model and part.provider == tokens.provider:
                part.add(tokens)
                return
        self.parts.append(tokens)

    def merge(self, other: Usage) -> None:
        for part in other.parts:
            self.add(
                Tokens(
                    part.input_tokens,
                    part.output_tokens,
                    part.cached_input_tokens,
                    part.cache_write_tokens,
                    part.model,
                    part.provider,
                    part.calls,
                )
            )
        self.finish_reasons.extend(other.finish_reasons)
        if other.stream is not None:
            self.stream = other.stream

    @property
    def has_tokens(self) -> bool:
        """Whether any call reported token counts (a stream may report none)."""
        return bool(self.parts)

    @property
    def input_tokens(self) -> int:
        return sum(p.input_tokens for p in self.parts)

    @property
    def output_tokens(self) -> int:
        return sum(p.output_tokens for p in self.parts)

    @property
    def cached_input_tokens(self) -> int:
        return sum(p.cached_input_tokens for p in self.parts)

    @property
    def cache_write_tokens(self) -> int:
        return sum(p.cache_write_tokens for p in self.parts)

    @property
    def models(self) -> list[str]:
        return sorted({p.model for p in self.parts if p.model})

    def to_dict(self) -> dict[str, object]:
        """A JSON-able form, stored with a cache entry so a hit knows what it saved."""
        return {
            "parts": [
                [
                    p.input_tokens,
                    p.output_tokens,
                    p.cached_input_tokens,
                    p.cache_write_tokens,
                    p.model,
                    p.provider,
                    p.calls,
                ]
                for p in self.parts
            ]
        }

    @classmethod
    def from_dict(cls, data: object) -> Usage | None:
        """The inverse of :meth:`to_dict`; None for anything else (an older entry)."""
        if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
            return None
        usage = cls()
        for row in data["parts"]:
            if isinstance(row, (list, tuple)) and len(row) == 7:
                usage.parts.append(
                    Tokens(
                        int(row[0]),
                        int(row[1]),
                        int(row[2]),
                        int(row[3]),
                        row[4],
                        row[5],
                        int(row[6]),
                    )
                )
        return usage
