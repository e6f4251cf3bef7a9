"""What a task's tokens cost: from the spec's prices exactly, or estimated from genai-prices.

With ``pricing:`` in the spec the cost is computed from those prices (USD per million
tokens) exactly; a price that is not given but needed for a non-zero count is an error
that names it. Without it, the price of each model comes from the ``genai-prices``
package (``agentperf[pricing]``): only the data bundled with the installed version is
used, never fetched, and the figure is labelled an estimate with that version. A model
the database does not know gets a warning and no cost, never a made-up one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agentperf.usage.model import Tokens, Usage

PRICE_KEYS = (
    "input_per_million",
    "output_per_million",
    "cached_input_per_million",
    "cache_write_per_million",
)
_COUNT_OF_PRICE = {
    "input_per_million": "input tokens (not cached)",
    "output_per_million": "output tokens",
    "cached_input_per_million": "cached input tokens",
    "cache_write_per_million": "cache write tokens",
}


class PricingError(Exception):
    """A price needed for the counts observed is missing from the spec's ``pricing:``."""


@dataclass(frozen=True)
class Pricing:
    """Explicit prices in USD per million tokens; None: not given."""

    input_per_million: float | None = None
    output_per_million: float | None = None
    cached_input_per_million: float | None = None
    cache_write_per_million: float | None = None

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any], fail: Callable[[str, str], Exception]) -> Pricing:
        """Validate the spec's ``pricing:`` mapping (``fail(message, key)`` makes the error)."""
        unknown = sorted(set(map(str, raw)) - set(PRICE_KEYS))
        if unknown:
            raise fail(
                f"unknown key '{unknown[0]}'; expected {', '.join(PRICE_KEYS)}",
                f"pricing.{unknown[0]}",
            )
        for key, value in raw.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise fail(
                    f"expected a non-negative number of USD per million tokens, got {value!r}",
                    f"pricing.{key}",
                )
        if not raw:
            raise fail("expected at least one price, e.g. input_per_million: 0.15", "pricing")
        return cls(**{k: float(v) for k, v in raw.items()})

    def cost(self, tokens: Tokens) -> float:
        uncached = tokens.input_tokens - tokens.cached_input_tokens - tokens.cache_write_tokens
        counts = {
            "input_per_million": max(uncached, 0),
            "output_per_million": tokens.output_tokens,
            "cached_input_per_million": tokens.cached_input_tokens,
            "cache_write_per_million": tokens.cache_write_tokens,
        }
        total = 0.0
        for key, count in counts.items():
            if not count:
                continue
            price = getattr(self, key)
            if price is None:
                raise PricingError(
                    f"pricing.{key} is not given but {count:,} {_COUNT_OF_PRICE[key]} were counted"
                )
            total += count * price
        return total / 1_000_000


@dataclass
class Pricer:
    """Prices tasks' usage by one method; ``problems`` collects what could not be priced."""

    pricing: Pricing | None
    priced_by: str
    estimate: bool
    problems: dict[str, str] = field(default_factory=dict)  # model -> why it has no cost
    error: str | None = None  # a missing explicit price: a spec error for the run
    _pending: bool = field(default=False, repr=False)  # the database not looked up yet

    @classmethod
    def create(cls, pricing: Pricing | None) -> Pricer:
        if pricing is not None:
            return cls(pricing, "spec pricing", estimate=False)
        # The database is looked up when the first task reports usage: importlib.metadata
        # costs ~15 ms of every run's start-up, and most runs make no LLM call.
        pricer = cls(None, "genai-prices (estimate)", estimate=True)
        pricer._pending = True
        return pricer

    def _look_up_database(self) -> None:
        self._pending = False
        version = database_version()
        if version is None:
            self.priced_by, self.estimate = "none", False
            self.problems["*"] = (
                "no pricing: in the spec and genai-prices is not installed "
                "(pip install 'agentperf[pricing]'): no cost computed"
            )
        else:
            self.priced_by = f"genai-prices {version} (estimate)"

    def cost(self, usage: Usage) -> float | None:
        """The task's cost in USD, or None when some part of it cannot be priced."""
        if self._pending:
            self._look_up_database()
        if not usage.parts or self.error is not None:
            return None
        total = 0.0
        for part in usage.parts:
            price = self._part_cost(part)
            if price is None:
                return None
            total += price
        return total

    def _part_cost(self, part: Tokens) -> float | None:
        if self.pricing is not None:
            try:
                return self.pricing.cost(part)
            except PricingError as exc:
                self.error = str(exc)
                return None
        if "*" in self.problems:
            return None
        if not part.model:
            self.problems[""] = (
                "usage reported without a model name cannot be priced without pricing: in the spec"
            )
            return None
        price, problem = _estimate(
            part.model,
            part.provider,
            part.input_tokens,
            part.output_tokens,
            part.cached_input_tokens,
            part.cache_write_tokens,
        )
        if problem:
            self.problems[part.model] = problem
        return price


def database_version() -> str | None:
    """The installed genai-prices version, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - stdlib
        return None
    try:
        version("genai-prices")
    except PackageNotFoundError:
        return None
    return version("genai-prices")


@lru_cache(maxsize=4096)
def _estimate(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    written: int,
) -> tuple[float | None, str]:
    """(USD, "") from the bundled genai-prices data, or (None, why) for an unknown model."""
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    usage = PriceUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )
    for provider_id in [provider, None] if provider else [None]:
        try:
            return float(calc_price(usage, model, provider_id=provider_id).total_price), ""
        except LookupError:
            continue
    return None, (
        f"model '{model}' is not in genai-prices {database_version()}: its calls "
        "have no cost (set pricing: in the spec)"
    )
