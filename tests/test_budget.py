"""The budget ledger: reserve worst case, settle actual, never spend past the limit."""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import orjson
import pytest
from httpx_aiohttp import AiohttpTransport
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from asyncgen.budget import PROMPT_OVERHEAD_TOKENS, Budget, BudgetExhausted, worst_case_cost
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm import errors as e
from asyncgen.llm.pricing import Price

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_reserve_settle_and_exhaustion() -> None:
    budget = Budget(1.0, spent_usd=0.25)  # a resumed run brings its earlier spend
    first = budget.reserve(0.5)
    assert budget.reserved_usd == 0.5 and budget.remaining_usd == pytest.approx(0.25)
    with pytest.raises(BudgetExhausted, match="cannot fit"):
        budget.reserve(0.3)
    budget.settle(first, 0.1)
    assert budget.spent_usd == pytest.approx(0.35) and budget.reserved_usd == 0.0
    budget.reserve(0.6)  # fits now
    assert "spent=$0.350000" in repr(budget) and "open=1" in repr(budget)


def test_exactly_full_fits_and_one_more_does_not() -> None:
    budget = Budget(0.5)
    budget.settle(budget.reserve(0.5), 0.5)
    with pytest.raises(BudgetExhausted):
        budget.reserve(1e-9)
    budget.reserve(0.0)  # a free request still fits


def test_misuse_fails_fast() -> None:
    with pytest.raises(ValueError, match="limit_usd"):
        Budget(0)
    with pytest.raises(ValueError, match="spent_usd"):
        Budget(1, spent_usd=-1)
    budget = Budget(1)
    with pytest.raises(ValueError, match="reservation"):
        budget.reserve(-0.1)
    held = budget.reserve(0.1)
    budget.settle(held, 0.0)
    with pytest.raises(ValueError, match="already settled"):
        budget.settle(held, 0.0)


def test_an_actual_cost_above_the_reservation_is_recorded_as_overrun() -> None:
    budget = Budget(1.0)
    budget.settle(budget.reserve(0.1), 0.15)
    assert budget.overrun_usd == pytest.approx(0.05)


@given(
    st.lists(st.tuples(st.floats(0, 0.2), st.floats(0, 1), st.booleans()), min_size=1, max_size=200)
)
def test_settled_total_never_exceeds_the_limit(ops: list[tuple[float, float, bool]]) -> None:
    budget = Budget(1.0)
    open_: list[Any] = []
    for amount, fraction, settle_one in ops:
        try:
            open_.append(budget.reserve(amount))
        except BudgetExhausted:
            pass
        if settle_one and open_:
            held = open_.pop(0)
            budget.settle(held, held.amount_usd * fraction)
        assert budget.spent_usd + budget.reserved_usd <= 1.0 + 1e-12
    for held in open_:
        budget.settle(held, held.amount_usd)
    assert budget.spent_usd <= 1.0 + 1e-12


async def test_reserve_when_room_waits_for_settlement() -> None:
    budget = Budget(1.0)
    held = budget.reserve(0.8)
    got: list[float] = []

    async def waiter() -> None:
        got.append((await budget.reserve_when_room(0.5)).amount_usd)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.lowlevel.checkpoint()
        assert got == []
        budget.settle(held, 0.3)
    assert got == [0.5]
    with pytest.raises(BudgetExhausted):  # spent money alone leaves no room: fail at once
        await budget.reserve_when_room(0.75)


@pytest.mark.parametrize(
    ("prompt", "bound"),
    [("abcd" * 100, 400), ("日本語のテキスト", 24), ("", 0)],
)
def test_worst_case_bounds_prompt_tokens_by_utf8_bytes(prompt: str, bound: int) -> None:
    price = Price(1.0, 2.0)
    expected = ((bound + PROMPT_OVERHEAD_TOKENS) * 1.0 + 100 * 2.0) / 1e6
    assert worst_case_cost(price, prompt, 100) == pytest.approx(expected)
    assert bound >= -(-len(prompt) // 4)  # never below the chars/4 estimate


# --- against the simulator, which bills every response ------------------------------------

sim = pytest.importorskip("asyncgen.sim")


class WireLedger(httpx.AsyncBaseTransport):
    """Reads every response off the wire and adds up the cost the server billed."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.billed_usd = 0.0
        self.unreadable = 0
        self.responses = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        self.responses += 1
        try:
            usage = orjson.loads(content).get("usage") or {}
            self.billed_usd += float(usage.get("cost", 0.0))
        except (orjson.JSONDecodeError, AttributeError):
            self.unreadable += 1
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_budget_invariant_under_concurrency_and_retries() -> None:
    limit = 0.1
    budget = Budget(limit)
    wire = WireLedger()
    config = sim.SimConfig(seed=21, fail_5xx=0.15, fail_200_error=0.15, fail_malformed=0.05)
    outcomes: dict[str, int] = {}

    async def worker(client: LLMClient, rng: random.Random) -> None:
        while True:
            prompt = "Come up with a series of tasks:\n1. " + "word " * rng.randint(10, 400)
            try:
                await client.complete("instructions", prompt)
                outcomes["ok"] = outcomes.get("ok", 0) + 1
            except BudgetExhausted:
                outcomes["budget"] = outcomes.get("budget", 0) + 1
                return
            except e.ItemError as err:
                outcomes[err.kind] = outcomes.get(err.kind, 0) + 1

    with capture_logs() as logs:
        async with sim.serve(config) as url:
            provider = ProviderConfig(
                provider="sim", base_url=url, max_concurrency=24, max_attempts=5, timeout_s=5
            )
            async with LLMClient(provider, budget=budget, transport=wire) as client:
                with anyio.fail_after(50):
                    async with anyio.create_task_group() as tg:
                        for n in range(24):
                            tg.start_soon(worker, client, random.Random(n))
    logged = sum(
        entry.get("cost_usd") or 0.0
        for entry in logs
        if entry["event"] in {"request.completed", "request.retry", "request.failed"}
    )
    assert outcomes.get("budget") == 24 and outcomes.get("ok", 0) > 50, outcomes
    assert budget.reserved_usd == 0.0 and budget.overrun_usd == 0.0
    assert wire.billed_usd <= budget.spent_usd + 1e-12  # unreadable bodies settled pessimistically
    assert budget.spent_usd <= limit
    assert logged == pytest.approx(wire.billed_usd)  # every billed response was logged
    assert budget.spent_usd > 0.5 * limit  # the cap stopped the run, not something else
