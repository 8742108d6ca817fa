"""Prices in USD per 1M input/output tokens, and the cost of one response's usage.

Defaults as published by the providers (checked 2026-11; verify before relying on them, and
override with `--price-in/--price-out` or `ProviderConfig(price_in=..., price_out=...)`).
OpenRouter reports the billed cost itself (`usage.cost`); the table is then only used to
reserve budget before sending.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M input (prompt) and output (completion) tokens."""

    input_per_m: float
    output_per_m: float

    def __post_init__(self) -> None:
        for name in ("input_per_m", "output_per_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for this many tokens."""
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) * (
            _PER_TOKEN
        )


DEFAULT_PRICES: Mapping[str, Price] = {
    # OpenAI, https://openai.com/api/pricing
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-3.5-turbo-instruct": Price(1.50, 2.00),
    "davinci-002": Price(2.00, 2.00),  # base model, /completions (the paper used davinci)
    "babbage-002": Price(0.40, 0.40),
    # OpenRouter, https://openrouter.ai/models (it also reports usage.cost per response)
    "openai/gpt-4o-mini": Price(0.15, 0.60),
    "openai/gpt-4o": Price(2.50, 10.00),
    "openai/gpt-4.1-mini": Price(0.40, 1.60),
    "meta-llama/llama-3.1-8b-instruct": Price(0.02, 0.03),
    "meta-llama/llama-3.3-70b-instruct": Price(0.10, 0.32),
    # the built-in simulator (asyncgen.sim.PRICE_IN_PER_M / PRICE_OUT_PER_M)
    "sim-1": Price(0.50, 1.50),
}


def price_for(
    model: str,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    table: Mapping[str, Price] = DEFAULT_PRICES,
) -> Price | None:
    """The model's price: both overrides if given, else the table; None when unknown."""
    if (price_in is None) != (price_out is None):
        raise ValueError("price_in and price_out must be given together")
    if price_in is not None and price_out is not None:
        return Price(price_in, price_out)
    return table.get(model)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one billed response. `cost_usd` is None when the price is unknown;
    `estimated` is True when the server sent no usage and tokens were counted as chars/4."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    estimated: bool = False


PROMPT_OVERHEAD_TOKENS = 32
"""Chat-template and BOS tokens a prompt may gain on top of its own."""


def worst_case_cost(price: Price, prompt: str, max_tokens: int) -> float:
    """USD upper bound of one attempt: prompt tokens <= UTF-8 bytes + PROMPT_OVERHEAD_TOKENS
    (every byte-level BPE or byte-fallback token covers at least one byte), completion tokens
    <= max_tokens. See asyncgen.budget."""
    prompt_bound = len(prompt.encode("utf-8")) + PROMPT_OVERHEAD_TOKENS
    return price.cost(prompt_bound, max_tokens)


def estimate_tokens(text: str) -> int:
    """The simulator's and the limiter's token estimate: ceil(chars / 4)."""
    return -(-len(text) // 4)


def _count(value: Any) -> int:
    """A token count from a usage object (absent or junk -> 0)."""
    return value if isinstance(value, int) and value >= 0 else 0


def usage_from(raw: Mapping[str, Any], price: Price | None) -> Usage:
    """Usage from a response's `usage` object: OpenRouter's `cost` when present, else the price."""
    prompt = _count(raw.get("prompt_tokens"))
    completion = _count(raw.get("completion_tokens"))
    reported = raw.get("cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool) and reported >= 0:
        return Usage(prompt, completion, float(reported))
    return Usage(prompt, completion, None if price is None else price.cost(prompt, completion))
