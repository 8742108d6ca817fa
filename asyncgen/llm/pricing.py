"""Prices in USD per 1M input/cached-input/output tokens, and the cost of one response's usage.

Defaults as published by the providers (input and output checked 2026-11, cached input
2026-12-01; verify before relying on them, and override with `--price-in/--price-out/
--price-cached` or `ProviderConfig(price_in=..., price_out=..., price_cached=...)`).
OpenRouter reports the billed cost itself (`usage.cost`, cache discount applied); the table is
then only used to reserve budget before sending and to show what caching saved.

Cached prompt tokens are the part of `prompt_tokens` the provider served from its prefix cache
(`usage.prompt_tokens_details.cached_tokens`, OpenAI and OpenRouter; DeepSeek's
`prompt_cache_hit_tokens`). A model with no cached price bills them at the input price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DIGITS = 9  # USD figures are shown and compared at 1e-9 (nano-dollars)


def figure(spent_usd: float, held_usd: float) -> float:
    """The one spend figure: settled plus still held, at nano-dollar precision (the budget,
    run.progress, run.finished, report and the spend journal all show this one)."""
    return round(spent_usd + held_usd, DIGITS)


_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M input (prompt), output (completion) and cached prompt tokens;
    `cached_per_m` None: the provider gives no cache discount (cached = input price)."""

    input_per_m: float
    output_per_m: float
    cached_per_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_per_m", "output_per_m", "cached_per_m"):
            value = getattr(self, name)
            if value is None and name == "cached_per_m":
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    @property
    def cached_input_per_m(self) -> float:
        """USD per 1M cached prompt tokens (the input price when there is no discount)."""
        return self.input_per_m if self.cached_per_m is None else self.cached_per_m

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """USD for this many tokens; `cached_tokens` are part of `prompt_tokens`."""
        cached = min(cached_tokens, prompt_tokens)
        return (
            (prompt_tokens - cached) * self.input_per_m
            + cached * self.cached_input_per_m
            + completion_tokens * self.output_per_m
        ) * _PER_TOKEN

    def cache_saving(self, cached_tokens: int) -> float:
        """USD that `cached_tokens` served from cache cost less than uncached ones."""
        return cached_tokens * (self.input_per_m - self.cached_input_per_m) * _PER_TOKEN


DEFAULT_PRICES: Mapping[str, Price] = {
    # OpenAI, https://openai.com/api/pricing (cached input: 50% for gpt-4o*, 25% for gpt-4.1*;
    # the legacy completions models have no prompt caching)
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-3.5-turbo-instruct": Price(1.50, 2.00),
    "davinci-002": Price(2.00, 2.00),  # base model, /completions (the paper used davinci)
    "babbage-002": Price(0.40, 0.40),
    # OpenRouter, https://openrouter.ai/models (it also reports usage.cost per response; OpenAI
    # models are cached and billed as at OpenAI; the Llama hosts give no cache discount)
    "openai/gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "openai/gpt-4o": Price(2.50, 10.00, 1.25),
    "openai/gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "meta-llama/llama-3.1-8b-instruct": Price(0.02, 0.03),
    "meta-llama/llama-3.3-70b-instruct": Price(0.10, 0.32),
    # the built-in simulator (asyncgen.sim.PRICE_IN_PER_M / PRICE_OUT_PER_M / PRICE_CACHED_PER_M)
    "sim-1": Price(0.50, 1.50, 0.05),
}


def price_for(
    model: str,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    price_cached: float | None = None,
    table: Mapping[str, Price] = DEFAULT_PRICES,
) -> Price | None:
    """The model's price: the overrides if given, else the table; None when unknown.
    `price_cached` alone overrides the table's cached price; with `price_in`/`price_out`
    and no `price_cached`, cached tokens cost the input price."""
    if (price_in is None) != (price_out is None):
        raise ValueError("price_in and price_out must be given together")
    if price_in is not None and price_out is not None:
        return Price(price_in, price_out, price_cached)
    price = table.get(model)
    if price is not None and price_cached is not None:
        return replace(price, cached_per_m=price_cached)
    return price


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one billed response. `cost_usd` is None when the price is unknown;
    `estimated` is True when the server sent no usage and tokens were counted as chars/4.
    `cached_tokens` (part of `prompt_tokens`) were served from the provider's prefix cache;
    `cache_write_tokens` were written to it (OpenRouter, for models that bill writes)."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    estimated: bool = False
    cached_tokens: int = 0
    cache_write_tokens: int = 0


PROMPT_OVERHEAD_TOKENS = 32
"""Chat-template and BOS tokens a prompt may gain on top of its own."""


def worst_case_cost(price: Price, prompt: str, max_tokens: int) -> float:
    """USD upper bound of one attempt: prompt tokens <= UTF-8 bytes + PROMPT_OVERHEAD_TOKENS
    (every byte-level BPE or byte-fallback token covers at least one byte), completion tokens
    <= max_tokens, and no prompt token cached (a cache hit is never guaranteed).
    See asyncgen.llm.budget."""
    prompt_bound = len(prompt.encode("utf-8")) + PROMPT_OVERHEAD_TOKENS
    return price.cost(prompt_bound, max_tokens)


def unknown_cost_bound(price: Price, prompt_tokens: int, cached_tokens: int,
                       max_tokens: int) -> float:
    """What an attempt whose answer never came back (timeout, hang, reset) can have been
    billed at most, once the provider has been serving `cached_tokens` of such a prompt from
    its cache: the rest of its `prompt_tokens` (an upper bound) at the input price, the cached
    part at the cached price, `max_tokens` at the output price."""
    cached = max(0, min(cached_tokens, prompt_tokens))
    return price.cost(prompt_tokens, max_tokens, cached)


CACHE_WRITE_FACTOR = 1.25
"""What a prompt token may cost at most, in input prices, where the provider bills writes to
its prompt cache: Anthropic's (5-minute) cache writes through OpenRouter bill 1.25x the input
price. OpenAI, DeepSeek and the simulator bill writes nothing extra."""


def prefix_bound(price: Price, prefix_tokens: int, rest: str, max_tokens: int,
                 write_factor: float = 1.0) -> float:
    """USD upper bound of one attempt whose prompt is a fixed few-shot prefix and `rest`, once
    the provider has reported `prefix_tokens` prompt tokens for a prompt with the same prefix
    (another candidate after it; chat template included): that many, plus at most one per
    byte of `rest` and PROMPT_OVERHEAD_TOKENS for the seam, none cached (each possibly
    written to the cache at `write_factor`), completion tokens <= max_tokens. Same model,
    same tokenizer: the prefix tokenizes alike before any candidate. About a quarter of
    `worst_case_cost`'s prompt bound for English few-shot prompts."""
    tokens = prefix_tokens + len(rest.encode("utf-8")) + PROMPT_OVERHEAD_TOKENS
    return price.cost(math.ceil(tokens * write_factor), max_tokens)


def estimate_tokens(text: str) -> int:
    """The simulator's and the limiter's token estimate: ceil(chars / 4)."""
    return -(-len(text) // 4)


def _count(value: Any) -> int:
    """A token count from a usage object (absent or junk -> 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _cache_counts(raw: Mapping[str, Any], prompt: int) -> tuple[int, int]:
    """Cached and cache-write prompt tokens, at most `prompt` each."""
    details = raw.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        cached = _count(details.get("cached_tokens"))
        written = _count(details.get("cache_write_tokens"))
    else:
        cached = written = 0
    if not cached:  # DeepSeek
        cached = _count(raw.get("prompt_cache_hit_tokens"))
    return min(cached, prompt), min(written, prompt)


def usage_from(raw: Mapping[str, Any], price: Price | None) -> Usage:
    """Usage from a response's `usage` object: OpenRouter's `cost` when present, else the price
    (cached prompt tokens at the cached price)."""
    prompt = _count(raw.get("prompt_tokens"))
    completion = _count(raw.get("completion_tokens"))
    cached, written = _cache_counts(raw, prompt)
    reported = raw.get("cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool) and reported >= 0:
        cost: float | None = float(reported)
    else:
        cost = None if price is None else price.cost(prompt, completion, cached)
    return Usage(prompt, completion, cost, cached_tokens=cached, cache_write_tokens=written)
