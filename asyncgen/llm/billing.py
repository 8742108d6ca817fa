"""What an attempt reserves, settles at and counts: the client's books (priced usage, the
prefix bounds it learns, the settlement of each reservation), and how a response's cost is
read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asyncgen.llm.clock import SYSTEM_CLOCK
from asyncgen.llm.errors import (
    InFlightBudget,
    ProviderError,
    RateLimited,
    SporadicRateLimit,
    check_response,
)
from asyncgen.llm.limits import ProviderLimits
from asyncgen.llm.pricing import (
    PROMPT_OVERHEAD_TOKENS,
    Price,
    Usage,
    prefix_bound,
    price_for,
    unknown_cost_bound,
    usage_from,
)
from asyncgen.llm.providers import ProviderConfig
from asyncgen.llm.wire import (
    MS_PER_S,
    Completion,
)
from asyncgen.observe import events

if TYPE_CHECKING:  # asyncgen.llm.budget imports asyncgen.llm: no import cycle at run time
    from asyncgen.llm.budget import Budget, Reservation
    from asyncgen.llm.costs import CostModel
    from asyncgen.llm.transport.rescue import Answer


CACHED_KEPT = 3
"""Responses after a few-shot prefix whose cached tokens bound an unknown-cost attempt's."""


@dataclass(frozen=True, slots=True)
class _WorstCase:
    """What bounds one request's attempts: the cost its prompt's bytes bound, and its fixed
    few-shot prefix ("" when none), the rest and max_tokens for the bound learnt per prefix."""

    bytes_usd: float
    fixed: str
    rest: str
    max_tokens: int


_NO_COST = _WorstCase(0.0, "", "", 0)


def _billing(err: ProviderError) -> dict[str, Any]:
    """Usage fields for an event about a failed attempt that was billed (else none)."""
    usage = err.billed
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
    }


def _dearest(prices: list[Price | None]) -> Price | None:
    """The price to reserve for when any of these models may answer (None if one is unknown):
    with fallback models the budget holds the dearest one's worst case."""
    if not prices or any(price is None for price in prices):
        return None
    known = [price for price in prices if price is not None]
    if len(known) == 1:
        return known[0]
    cached = [price.cached_per_m for price in known]
    return Price(
        max(price.input_per_m for price in known),
        max(price.output_per_m for price in known),
        None if None in cached else max(c for c in cached if c is not None),
    )


def provider_price(config: ProviderConfig) -> Price | None:
    """The price the client reserves and prices at: the dearest of the models that may answer
    (None when one of them has no known price)."""
    return _dearest([
        price_for(model, price_in=config.price_in, price_out=config.price_out,
                  price_cached=config.price_cached)
        for model in config.answering_models
    ])


def settled_amount(reserved_usd: float, cost: float | None, unsure: bool) -> float:
    """What an attempt's reservation settles at: the billed cost; the whole reservation when
    the cost is unknown and it may have been billed (`unsure`), at least that when unsure."""
    if cost is None:
        return reserved_usd if unsure else 0.0
    return max(cost, reserved_usd) if unsure else cost


def billed_usd(answer: Answer, price: Price | None) -> float:
    """What the provider billed for a rescued answer, read as the client reads a response it
    receives (`_account_success` / `_account_failure`): the same settlement rule."""
    try:
        body = check_response(answer.status, answer.headers, answer.body, attempt=1,
                              now=SYSTEM_CLOCK.wall(), secret=None)
    except ProviderError as err:
        cost = None if err.usage is None else usage_from(err.usage, price).cost_usd
        return settled_amount(answer.reserved_usd, cost, err.maybe_billed)
    raw = body.get("usage")
    if not isinstance(raw, dict):  # the client estimates such a response: unsure
        return answer.reserved_usd
    return settled_amount(answer.reserved_usd, usage_from(raw, price).cost_usd, False)


class Accounting:
    """The client's books, mixed into `LLMClient` (its one writer): the bounds learnt from a
    few-shot prefix's reported tokens, and each attempt's settlement, counts and event."""

    __slots__ = ()

    price: Price | None
    costs: CostModel | None
    _budget: Budget | None
    _limits: ProviderLimits
    _log: Any
    _totals: dict[str, float]
    _errors: Counter[str]
    _prefix_tokens: dict[str, int]
    _prefix_cached: dict[str, tuple[int, ...]]
    _write_factor: float

    def _worst_usd(self, worst: _WorstCase) -> float:
        """What an attempt reserves, at the time it reserves: the prompt's byte bound, or the
        bound its few-shot prefix's reported tokens give when that is lower."""
        seen = self._prefix_tokens.get(worst.fixed) if worst.fixed else None
        if seen is None or self.price is None:
            return worst.bytes_usd
        return min(worst.bytes_usd, prefix_bound(self.price, seen, worst.rest, worst.max_tokens,
                                                 self._write_factor))

    def _learn(self, fixed: str, usage: Usage) -> None:
        """Keep the fewest prompt tokens the provider reported for a prompt after this fixed
        prefix (`prefix_bound`), if its bill is the price table's for them (tokens that
        understate the bill, or a usage the client estimated, teach nothing)."""
        price = self.price
        if usage.estimated or usage.prompt_tokens <= 0 or price is None:
            return
        if usage.cost_usd is None or usage.cost_usd > (
            price.cost(usage.prompt_tokens, usage.completion_tokens) * (1 + 1e-9) + 1e-12
        ):
            return
        seen = self._prefix_tokens.get(fixed)
        if seen is None or usage.prompt_tokens < seen:
            self._prefix_tokens[fixed] = usage.prompt_tokens
        recent = self._prefix_cached.get(fixed, ())
        self._prefix_cached[fixed] = (*recent[-(CACHED_KEPT - 1):], usage.cached_tokens)

    def _unknown_usd(self, worst: _WorstCase, reserved_usd: float) -> float:
        """What an attempt of unknown cost (timeout, hang, reset) settles at: its reservation,
        or less once the provider has been caching its prefix (`unknown_cost_bound`: the
        prefix's reported prompt tokens plus a token per byte of the rest, the fewest cached
        tokens of the last CACHED_KEPT responses after it at the cached price); never less
        than the provider can bill. Not where cache writes may cost extra (OpenRouter)."""
        price = self.price
        seen = self._prefix_tokens.get(worst.fixed) if worst.fixed else None
        cached = self._prefix_cached.get(worst.fixed, ()) if worst.fixed else ()
        if price is None or seen is None or len(cached) < CACHED_KEPT or self._write_factor > 1:
            return reserved_usd
        tokens = seen + len(worst.rest.encode("utf-8")) + PROMPT_OVERHEAD_TOKENS
        bound = unknown_cost_bound(price, tokens, min(cached), worst.max_tokens)
        return min(reserved_usd, bound)

    def _account_failure(
        self, err: ProviderError, reservation: Reservation | None, worst: _WorstCase = _NO_COST
    ) -> None:
        """Count a failed attempt, price it if it was billed, settle it (an unknown cost at
        `_unknown_usd`); slow down on a 429 that is a rate limit (not on a sporadic one),
        hold everyone on an in-flight budget."""
        self._errors[err.kind] += 1
        if err.usage is not None:
            err.billed = usage_from(err.usage, self.price)
            self._count_usage(err.billed)
        if reservation is not None:
            cost = None if err.billed is None else err.billed.cost_usd
            if err.billed is None and err.maybe_billed:  # unknown: at its cached-aware bound
                self._settle(reservation, self._unknown_usd(worst, reservation.amount_usd), False)
            else:
                self._settle(reservation, cost, err.maybe_billed)
        if isinstance(err, SporadicRateLimit):
            self._limits.record_noise()
        elif isinstance(err, RateLimited):
            self._limits.record_rate_limited(err.retry_after_s)
        elif isinstance(err, InFlightBudget) and err.retry_after_s is not None:
            self._limits.pause(err.retry_after_s)

    def _account_success(
        self, completion: Completion, status: int, estimate: int, reservation: Reservation | None
    ) -> None:
        """Settle, reconcile the token estimate, count and log a successful attempt."""
        usage = completion.usage
        if reservation is not None:
            self._settle(reservation, usage.cost_usd, usage.estimated)
        if self.costs is not None:
            self.costs.observe(completion.stage, usage)
        limits = self._limits
        limits.record_success(
            stage=completion.stage,
            latency_s=completion.latency_ms / MS_PER_S,
            token_charge=limits.token_charge(estimate),
            actual_tokens=usage.prompt_tokens + usage.completion_tokens,
        )
        self._count_usage(usage)
        self._totals["completed"] += 1
        self._log.info(
            events.REQUEST_COMPLETED,
            stage=completion.stage,
            model=completion.model,
            status=status,
            attempt=completion.attempts,
            latency_ms=round(completion.latency_ms, 1),
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            **self._cache_fields(usage),
        )

    def _count_usage(self, usage: Usage) -> None:
        """Add a billed response to the totals."""
        totals = self._totals
        totals["prompt_tokens"] += usage.prompt_tokens
        totals["cached_tokens"] += usage.cached_tokens
        totals["completion_tokens"] += usage.completion_tokens
        if usage.cost_usd is not None:
            totals["cost_usd"] += usage.cost_usd

    def _cache_fields(self, usage: Usage) -> dict[str, Any]:
        """What the prompt cache saved on a response (when the price is known), and the tokens
        it wrote (when the provider says)."""
        fields: dict[str, Any] = {}
        if usage.cached_tokens and self.price is not None:
            # to the pico-dollar: the float's noise was a third of the event's bytes
            fields["cache_saved_usd"] = round(self.price.cache_saving(usage.cached_tokens), 12)
        if usage.cache_write_tokens:
            fields["cache_write_tokens"] = usage.cache_write_tokens
        return fields

    def _settle(self, reservation: Reservation, cost: float | None, unsure: bool) -> None:
        """Settle with the billed cost; unknown or uncertain cost settles the whole hold."""
        assert self._budget is not None
        self._budget.settle(reservation, settled_amount(reservation.amount_usd, cost, unsure))
