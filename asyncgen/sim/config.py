"""The simulator's knobs: one frozen, keyword-only config, validated when built."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from asyncgen.sim.chat import CHAT_FORMATS, PLAIN

Style = Literal["openai", "openrouter"]
STYLES: tuple[Style, ...] = ("openai", "openrouter")

DEFAULT_MODEL = "sim-1"
PRICE_IN_PER_M = 0.50  # USD per 1M prompt tokens, reported in usage.cost
PRICE_OUT_PER_M = 1.50  # USD per 1M completion tokens
PRICE_CACHED_PER_M = 0.05  # USD per 1M prompt tokens served from the prompt cache
PROMPT_CACHE_TTL_S = 300.0  # a cached prefix is forgotten this long after its last use
CONTEXT_LENGTH = 32_768  # prompt + max_tokens above this is a 400 context_length_exceeded
BATCH_DELAY_S = 2.0  # a real Batch API takes minutes to hours; short here for demos
BATCH_DISCOUNT = 0.5  # OpenAI's Batch API bills half the live price
HANG_S = 3600.0  # far past any client timeout; cut short when the server stops

FAULT_FIELDS: tuple[str, ...] = (
    "fail_429", "fail_5xx", "fail_hang", "fail_reset", "fail_malformed", "fail_200_error",
    "sporadic_429",
)
SPORADIC_RETRY_AFTER_MS = 1000

BATCH_FAULT_FIELDS: tuple[str, ...] = ("batch_fail", "batch_expire", "batch_line_error")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """How the simulated provider behaves. Limits of 0 mean unlimited; p are probabilities."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port, chosen by the OS
    seed: int = 0
    model: str = DEFAULT_MODEL  # listed by /models; any model name is accepted
    latency_ms: float = 0.0
    latency_spread_ms: float = 0.0  # latency is uniform in latency_ms ± spread, at least 0
    tokens_per_s: float = 0.0  # 0 = instant; else completion_tokens / tokens_per_s is added
    rpm_limit: int = 0
    tpm_limit: int = 0
    style: Style = "openai"
    fail_429: float = 0.0
    fail_5xx: float = 0.0
    fail_hang: float = 0.0
    fail_reset: float = 0.0
    fail_malformed: float = 0.0
    fail_200_error: float = 0.0
    sporadic_429: float = 0.0  # 429s that are no rate limit (an overloaded upstream)
    sporadic_429_retry_after_ms: int = SPORADIC_RETRY_AFTER_MS
    silent_limits: bool = False  # enforced limits answer bare 429s: no headers, no Retry-After
    key_limit_usd: float | None = None  # GET /key: the key's credit limit (None: unlimited)
    key_usage_usd: float = 0.0  # GET /key: spent before this simulator started
    key_free_tier: bool = False  # GET /key: is_free_tier (50 free-model requests a day)
    hang_s: float = HANG_S
    context_length: int = CONTEXT_LENGTH
    price_in: float = PRICE_IN_PER_M  # USD per 1M tokens, billed in usage.cost and the books
    price_out: float = PRICE_OUT_PER_M
    price_cached: float = PRICE_CACHED_PER_M
    prompt_cache: bool = True  # cache prompt prefixes the OpenAI way (asyncgen.sim.prompt_cache)
    prompt_cache_ttl_s: float = PROMPT_CACHE_TTL_S
    usage_cost: bool = True  # send OpenRouter's usage.cost (False: tokens only, as OpenAI does)
    batch_delay_s: float = BATCH_DELAY_S  # Batch API: validating to completed, in all
    batch_discount: float = BATCH_DISCOUNT  # batch lines cost the live price times (1 - this)
    batch_cache: bool = False  # batch lines' prompts are served from the prompt cache too
    batch_fail: float = 0.0  # probability that a batch fails validation
    batch_expire: float = 0.0  # probability that a batch expires half done
    batch_line_error: float = 0.0  # probability that one batch line ends in a 500
    batch_page_size: int = 100  # OpenRouter's batch results: lines per page (and inline at most)
    stuck: bool = False  # the same two instructions, always; instances that always fail
    chat_format: str = PLAIN  # generation answers as chat models write lists (asyncgen.sim.chat)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.chat_format not in CHAT_FORMATS:
            raise ValueError(f"chat_format must be one of {', '.join(CHAT_FORMATS)}, "
                             f"got {self.chat_format!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        for name in ("latency_ms", "latency_spread_ms", "tokens_per_s", "price_in", "price_out",
                     "price_cached", "batch_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name in ("rpm_limit", "tpm_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = unlimited), got {getattr(self, name)}")
        if self.sporadic_429_retry_after_ms < 0:
            raise ValueError("sporadic_429_retry_after_ms must be >= 0")
        for name in ("key_limit_usd", "key_usage_usd"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not (math.isfinite(self.prompt_cache_ttl_s) and self.prompt_cache_ttl_s > 0):
            raise ValueError(
                f"prompt_cache_ttl_s must be a finite number > 0, got {self.prompt_cache_ttl_s}"
            )
        if not 1 <= self.batch_page_size <= 10_000:
            raise ValueError(f"batch_page_size must be in 1..10000, got {self.batch_page_size}")
        if not (self.hang_s > 0 and self.context_length > 0):
            raise ValueError("hang_s and context_length must be > 0")
        for name in (*FAULT_FIELDS, *BATCH_FAULT_FIELDS, "batch_discount"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if self.fault_total() > 1.0 + 1e-9:
            raise ValueError(
                f"fault probabilities add up to {self.fault_total():g}; their sum must be <= 1"
            )

    def fault_total(self) -> float:
        """The probability that a request gets an injected fault."""
        return float(sum(getattr(self, name) for name in FAULT_FIELDS))

    def flags(self) -> dict[str, object]:
        """The settings, by field name (for a startup log line)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
