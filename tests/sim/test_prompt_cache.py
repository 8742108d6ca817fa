"""The simulator's prompt cache (OpenAI's rules) and its usage and bill on the wire."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asyncgen.sim import SimConfig, serve
from asyncgen.sim.books import books_url
from asyncgen.sim.prompt_cache import MIN_TOKENS, STEP_TOKENS, PromptCache, boundaries

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


FIXED = "".join(f"demo {i:04d} " for i in range(600))  # 6,000 characters = 1,500 tokens


@pytest.mark.parametrize(
    ("chars", "expected"),
    [(4095, []), (4096, [1024]), (4607, [1024]), (4608, [1024, 1152]),
     (6000, [1024, 1152, 1280, 1408])],
)
def test_boundaries_start_at_1024_tokens_in_128_token_steps(chars: int,
                                                             expected: list[int]) -> None:
    assert list(boundaries(chars)) == expected


@pytest.mark.parametrize(
    ("first", "second", "cached"),
    [
        (FIXED + "task A", FIXED + "task B", 1408),  # shared 1,500 tokens -> 1408
        (FIXED[:4100] + "A" * 2000, FIXED[:4100] + "B" * 2000, 1024),
        (FIXED[:4000] + "A" * 2000, FIXED[:4000] + "B" * 2000, 0),  # shared < 1,024 tokens
        ("x" + FIXED, "y" + FIXED, 0),  # a prefix cache: the first character differs
        (FIXED, FIXED + "more", 1408),
        (FIXED[:2000], FIXED[:2000], 0),  # too short to be cached at all
    ],
)
def test_second_prompt_gets_the_longest_shared_step(first: str, second: str, cached: int) -> None:
    cache = PromptCache(clock=Clock())
    assert cache.lookup("m", first) == 0
    assert cache.lookup("m", second) == cached
    assert cached % STEP_TOKENS == 0 and (cached == 0 or cached >= MIN_TOKENS)


def test_entries_expire_after_the_ttl_since_their_last_use() -> None:
    clock = Clock()
    cache = PromptCache(ttl_s=300, clock=clock)
    cache.lookup("m", FIXED)
    clock.now = 299.0
    assert cache.lookup("m", FIXED) == 1408  # a use refreshes the entry
    clock.now = 598.0
    assert cache.lookup("m", FIXED) == 1408
    clock.now = 898.0
    assert cache.lookup("m", FIXED) == 0
    assert cache.stats()["prefixes"] == 4


def test_scopes_do_not_share_entries_and_the_size_is_bounded() -> None:
    cache = PromptCache(clock=Clock(), max_entries=4)
    cache.lookup("chat:a", FIXED)
    assert cache.lookup("chat:b", FIXED) == 0
    assert cache.stats()["prefixes"] == 4
    assert cache.lookup("chat:a", FIXED) == 0  # the least recently used prefixes went first


async def _post(url: str, prompt: str, model: str = "sim-1") -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/chat/completions",
            json={"model": model, "max_tokens": 5,
                  "messages": [{"role": "user", "content": prompt}]},
        )
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("style", ["openai", "openrouter"])
async def test_usage_reports_cached_tokens_and_bills_them_at_the_cached_price(style: str) -> None:
    config = SimConfig(style=style, price_in=1.0, price_out=2.0, price_cached=0.25)  # type: ignore[arg-type]
    async with serve(config) as url, httpx.AsyncClient() as http:
        first = (await _post(url, FIXED + "Task: one"))["usage"]
        second = (await _post(url, FIXED + "Task: two"))["usage"]
        books = (await http.get(books_url(url))).json()
    assert books["cached_tokens"] == 1408
    assert books["billed_usd"] == pytest.approx(first["cost"] + second["cost"], rel=1e-9)
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == 1408
    prompt, completion = second["prompt_tokens"], second["completion_tokens"]
    expected = ((prompt - 1408) * 1.0 + 1408 * 0.25 + completion * 2.0) / 1e6
    assert second["cost"] == pytest.approx(expected, rel=1e-9)
    if style == "openrouter":
        assert second["prompt_tokens_details"]["cache_write_tokens"] == 0


async def test_caching_off_and_usage_without_cost() -> None:
    async with serve(SimConfig(prompt_cache=False, usage_cost=False)) as url:
        await _post(url, FIXED + "Task: one")
        second = (await _post(url, FIXED + "Task: two"))["usage"]
    assert second["prompt_tokens_details"]["cached_tokens"] == 0
    assert "cost" not in second


async def test_content_parts_are_one_prompt() -> None:
    """A prompt split into text parts (cache_control for Anthropic models) is the same prompt."""
    async with serve(SimConfig()) as url, httpx.AsyncClient() as http:
        whole = await _post(url, FIXED + "Task: one")
        parts = await http.post(f"{url}/chat/completions", json={
            "model": "sim-1", "max_tokens": 5,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": FIXED, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Task: one"},
            ]}],
        })
    split = parts.json()
    assert split["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"]
    assert split["usage"]["prompt_tokens_details"]["cached_tokens"] == 1408
    assert split["choices"][0]["message"]["content"] == whole["choices"][0]["message"]["content"]
