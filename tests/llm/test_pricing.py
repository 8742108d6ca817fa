"""Prices and usage: cached prompt tokens read from each provider's usage and priced."""

from __future__ import annotations

from typing import Any

import pytest

from asyncgen.llm.pricing import DEFAULT_PRICES, Price, price_for, usage_from, worst_case_cost

SIM = Price(0.50, 1.50, 0.05)


@pytest.mark.parametrize(
    ("raw", "cached", "written", "cost"),
    [
        # OpenAI: cached tokens in prompt_tokens_details, no cost
        ({"prompt_tokens": 2000, "completion_tokens": 100,
          "prompt_tokens_details": {"cached_tokens": 1536}},
         1536, 0, (464 * 0.50 + 1536 * 0.05 + 100 * 1.50) / 1e6),
        # no details at all: nothing cached
        ({"prompt_tokens": 2000, "completion_tokens": 100}, 0, 0, (2000 * 0.5 + 150) / 1e6),
        # OpenRouter: usage.cost is the bill, whatever the table says
        ({"prompt_tokens": 2000, "completion_tokens": 100, "cost": 0.00042,
          "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 900}},
         1024, 900, 0.00042),
        # DeepSeek's own field
        ({"prompt_tokens": 1000, "completion_tokens": 0, "prompt_cache_hit_tokens": 640},
         640, 0, (360 * 0.50 + 640 * 0.05) / 1e6),
        # junk and impossible counts: never negative, never more than the prompt
        ({"prompt_tokens": 100, "completion_tokens": 1,
          "prompt_tokens_details": {"cached_tokens": 5000}}, 100, 0, (100 * 0.05 + 1.5) / 1e6),
        ({"prompt_tokens": 100, "completion_tokens": 1,
          "prompt_tokens_details": {"cached_tokens": -3}}, 0, 0, (100 * 0.5 + 1.5) / 1e6),
        ({"prompt_tokens": 100, "completion_tokens": 1,
          "prompt_tokens_details": None}, 0, 0, (100 * 0.5 + 1.5) / 1e6),
        ({"prompt_tokens": 100, "completion_tokens": 1,
          "prompt_tokens_details": {"cached_tokens": True}}, 0, 0, (100 * 0.5 + 1.5) / 1e6),
    ],
)
def test_usage_reads_cached_tokens(raw: dict[str, Any], cached: int, written: int,
                                   cost: float) -> None:
    usage = usage_from(raw, SIM)
    assert usage.cached_tokens == cached and usage.cache_write_tokens == written
    assert usage.cost_usd == pytest.approx(cost, rel=1e-12)


def test_unknown_price_and_no_reported_cost_gives_no_cost() -> None:
    raw = {"prompt_tokens": 2000, "completion_tokens": 1,
           "prompt_tokens_details": {"cached_tokens": 1024}}
    usage = usage_from(raw, None)
    assert usage.cost_usd is None and usage.cached_tokens == 1024


def test_cost_is_uncached_input_plus_cached_plus_output() -> None:
    price = Price(0.50, 1.50, 0.05)
    assert price.cost(3000, 200, 2048) == pytest.approx(
        (952 * 0.50 + 2048 * 0.05 + 200 * 1.50) / 1e6
    )
    assert price.cache_saving(2048) == pytest.approx(2048 * 0.45 / 1e6)
    no_discount = Price(0.50, 1.50)
    assert no_discount.cost(3000, 200, 2048) == no_discount.cost(3000, 200)
    assert no_discount.cache_saving(2048) == 0.0


def test_worst_case_reservation_stays_uncached() -> None:
    prompt = "x" * 8000
    assert worst_case_cost(SIM, prompt, 10) == pytest.approx(Price(0.50, 1.50).cost(8032, 10))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, DEFAULT_PRICES["gpt-4o-mini"]),
        ({"price_cached": 0.01}, Price(0.15, 0.60, 0.01)),
        ({"price_in": 1.0, "price_out": 2.0}, Price(1.0, 2.0)),
        ({"price_in": 1.0, "price_out": 2.0, "price_cached": 0.1}, Price(1.0, 2.0, 0.1)),
    ],
)
def test_price_overrides(options: dict[str, float], expected: Price) -> None:
    assert price_for("gpt-4o-mini", **options) == expected


def test_cached_price_alone_cannot_price_an_unknown_model() -> None:
    assert price_for("some/model", price_cached=0.1) is None


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
def test_bad_cached_price_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="cached_per_m"):
        Price(1.0, 1.0, bad)


def test_every_default_cached_price_is_a_discount() -> None:
    for model, price in DEFAULT_PRICES.items():
        assert price.cached_input_per_m <= price.input_per_m, model
