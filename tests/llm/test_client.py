"""LLMClient: unit tests over httpx.MockTransport, then integration against the simulator."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from asyncgen.errors import UsageError
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm import errors as e
from asyncgen.llm.budget import Budget
from asyncgen.llm.clock import Clock, ManualClock
from asyncgen.llm.params import DEFAULT_PARAMS, RequestParams
from asyncgen.selfinstruct.prompts import Demo, classify_prompt, split_fixed

pytestmark = pytest.mark.anyio

MARKER = "sk-MARKER-7f3a9c2e5b1d4f60"
PROMPT = classify_prompt(
    [Demo("Is this review positive?", True, ()), Demo("Write a poem.", False, ())],
    "Sort these numbers.",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ok(text: str = " Yes", usage: dict[str, Any] | None = None, **extra: Any) -> httpx.Response:
    body = {
        "choices": [{"message": {"content": text}, "finish_reason": "stop", "index": 0}],
        "usage": usage if usage is not None else {"prompt_tokens": 20, "completion_tokens": 2},
        **extra,
    }
    return httpx.Response(200, content=orjson.dumps(body))


def fail(
    status: int, message: str = "nope", headers: dict[str, str] | None = None, **error: Any
) -> httpx.Response:
    body = orjson.dumps({"error": {"message": message, **error}})
    return httpx.Response(status, content=body, headers=headers)


class Script:
    """A MockTransport handler that answers from a list and records the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def body(self, n: int = -1) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.requests[n].content)
        return parsed


def make(
    script: Script, clock: ManualClock | None = None, budget: Budget | None = None, **options: Any
) -> LLMClient:
    config_options: dict[str, Any] = {
        "provider": "openai-compatible",
        "base_url": "http://llm.test/v1",
        "model": "gpt-4o-mini",
        "api_key": MARKER,
        "max_attempts": 4,
    }
    config_options.update(options)
    return LLMClient(
        ProviderConfig(**config_options),
        budget=budget,
        clock=(clock or ManualClock()).clock(),
        transport=httpx.MockTransport(script),
        rng=random.Random(1),
        split=split_fixed,  # the prompts' layout, as the run hands it
    )


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as entries:
        yield entries


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


# --- unit: requests and responses -------------------------------------------------------


async def test_chat_request_and_completion(logs: list[MutableMapping[str, Any]]) -> None:
    script = Script(ok(" Yes", {"prompt_tokens": 40, "completion_tokens": 1}))
    async with make(script) as client:
        result = await client.complete("classify", PROMPT)
    assert result.text == " Yes" and result.finish_reason == "stop" and result.attempts == 1
    assert result.usage.prompt_tokens == 40 and result.usage.completion_tokens == 1
    assert result.usage.cost_usd == pytest.approx((40 * 0.15 + 1 * 0.60) / 1e6)
    request = script.requests[0]
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {MARKER}"
    body = script.body()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert body["max_tokens"] == 3 and body["stop"] == ["\n", "Task:"]
    assert body["temperature"] == 0.0
    (done,) = events(logs, "request.completed")
    assert done["stage"] == "classify" and done["status"] == 200 and done["attempt"] == 1
    assert done["prompt_tokens"] == 40 and done["cost_usd"] == result.usage.cost_usd
    assert {"model", "latency_ms", "completion_tokens"} <= done.keys()


async def test_completions_endpoint_and_stage_params() -> None:
    body = {"choices": [{"text": " 10. Write a poem", "finish_reason": "length"}], "usage": {}}
    script = Script(httpx.Response(200, content=orjson.dumps(body)))
    params = RequestParams(temperature=1.0, max_tokens=50, stop=("\n\n",))
    async with make(script, endpoint="completions") as client:
        result = await client.complete("instructions", "Come up with a series of tasks:", params)
    assert str(script.requests[0].url).endswith("/v1/completions")
    sent = script.body()
    assert sent["prompt"] == "Come up with a series of tasks:" and "messages" not in sent
    assert sent["max_tokens"] == 50 and sent["temperature"] == 1.0
    assert result.text == " 10. Write a poem" and result.finish_reason == "length"


async def test_default_params_are_the_papers() -> None:
    script = Script(ok())
    async with make(script) as client:
        await client.complete("instructions", "Come up with a series of tasks:")
    sent = script.body()
    assert sent["top_p"] == 0.5 and sent["presence_penalty"] == 2.0 and sent["max_tokens"] == 1024
    assert sent["stop"] == list(DEFAULT_PARAMS["instructions"].stop)


async def test_openrouter_headers_and_reported_cost() -> None:
    script = Script(ok(usage={"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.0123}))
    client = make(
        script,
        provider="openrouter",
        base_url=None,
        model="some/unknown-model",
        http_referer="https://example.org",
        x_title="asyncgen",
    )
    async with client:
        result = await client.complete("classify", PROMPT)
    request = script.requests[0]
    assert str(request.url) == "https://openrouter.ai/api/v1/chat/completions"
    assert request.headers["http-referer"] == "https://example.org"
    assert request.headers["x-title"] == "asyncgen"
    assert result.usage.cost_usd == 0.0123  # reported cost wins, even for unpriced models


async def test_cached_tokens_are_priced_counted_and_logged(
    logs: list[MutableMapping[str, Any]],
) -> None:
    usage = {"prompt_tokens": 2000, "completion_tokens": 10,
             "prompt_tokens_details": {"cached_tokens": 1536}}
    script = Script(ok(usage=usage))
    async with make(script, price_in=1.0, price_out=2.0, price_cached=0.1) as client:
        result = await client.complete("classify", PROMPT)
    assert result.usage.cached_tokens == 1536
    assert result.usage.cost_usd == pytest.approx((464 * 1.0 + 1536 * 0.1 + 10 * 2.0) / 1e6)
    assert client.stats()["cached_tokens"] == 1536
    (done,) = events(logs, "request.completed")
    assert done["cached_tokens"] == 1536
    assert done["cache_saved_usd"] == pytest.approx(1536 * 0.9 / 1e6)


@pytest.mark.parametrize(
    ("model", "marked"),
    [("anthropic/claude-3.5-haiku", True), ("openai/gpt-4o-mini", False)],
)
async def test_anthropic_on_openrouter_marks_the_fixed_prefix(model: str, marked: bool) -> None:
    script = Script(ok())
    client = make(script, provider="openrouter", base_url=None, model=model)
    async with client:
        await client.complete("classify", PROMPT)
        await client.complete("instructions", "Come up with a series of tasks:\n1. A\n2.")
    classify, instructions = script.body(0), script.body(1)
    content = classify["messages"][0]["content"]
    if marked:
        fixed, variable = content
        assert fixed["cache_control"] == {"type": "ephemeral"} and "cache_control" not in variable
        assert fixed["text"] + variable["text"] == PROMPT
        assert variable["text"].startswith("Task: Sort these numbers.")
    else:
        assert content == PROMPT
    # no few-shot prefix: one plain string
    assert isinstance(instructions["messages"][0]["content"], str)


async def test_unknown_price_gives_no_cost_and_missing_usage_is_estimated() -> None:
    body = {"choices": [{"message": {"content": "abcdefgh"}, "finish_reason": "stop"}]}
    script = Script(httpx.Response(200, content=orjson.dumps(body)))
    async with make(script, model="local-llama") as client:
        result = await client.complete("classify", "x" * 40)
    assert result.usage.estimated
    assert result.usage.completion_tokens == 2 and result.usage.prompt_tokens == 10 + 3 - 2
    assert result.usage.cost_usd is None


# --- unit: retries ------------------------------------------------------------------------


async def test_retryable_statuses_are_retried_with_backoff(
    logs: list[MutableMapping[str, Any]],
) -> None:
    clock = ManualClock()
    script = Script(fail(503), fail(502), ok())
    async with make(script, clock) as client:
        result = await client.complete("classify", PROMPT)
    assert result.attempts == 3 and len(script.requests) == 3
    retries = events(logs, "request.retry")
    assert [r["error_kind"] for r in retries] == ["server", "server"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert [r["status"] for r in retries] == [503, 502]
    assert 0 <= retries[0]["wait_s"] < 0.5 and 0 <= retries[1]["wait_s"] < 1.0
    assert clock.sleeps == pytest.approx([r["wait_s"] for r in retries], abs=1e-3)
    assert client.stats()["retries"] == 2


async def test_429_honours_retry_after_and_cools_everyone_down() -> None:
    clock = ManualClock()
    limit = {"retry-after-ms": "1500", "x-ratelimit-remaining-requests": "0"}
    script = Script(fail(429, headers=limit), ok())
    async with make(script, clock, max_concurrency=64) as client:
        before = client.limits.concurrency
        await client.complete("classify", PROMPT)
        stats = client.stats()
    assert 1.5 in clock.sleeps
    assert stats["decreases"] == 1 and stats["concurrency"] < before


async def test_a_sporadic_429_waits_alone_and_does_not_slow_the_client() -> None:
    clock = ManualClock()
    script = Script(fail(429, headers={"retry-after": "1"}), ok())
    async with make(script, clock, max_concurrency=64) as client:
        before = client.limits.concurrency
        await client.complete("classify", PROMPT)
        stats = client.stats()
    assert clock.sleeps == [1.0]  # this request's own wait; no cooldown for the others
    assert stats["decreases"] == 0 and stats["concurrency"] >= before
    assert stats["attempt_errors"] == {"rate_limit_sporadic": 1}


async def test_retries_exhausted(logs: list[MutableMapping[str, Any]]) -> None:
    script = Script(fail(500))
    async with make(script, max_attempts=3) as client:
        with pytest.raises(e.RetriesExhausted) as info:
            await client.complete("classify", PROMPT)
    assert info.value.last_kind == "server" and info.value.attempt == 3
    assert isinstance(info.value.__cause__, e.ServerError)
    (failed,) = events(logs, "request.failed")
    assert failed["error_kind"] == "retries_exhausted" and failed["final"] is False
    assert len(script.requests) == 3


async def test_a_server_wait_past_the_deadline_gives_up_at_once() -> None:
    clock = ManualClock()
    script = Script(fail(429, headers={"retry-after": "120"}))
    async with make(script, clock, request_deadline_s=30) as client:
        with pytest.raises(e.DeadlineExceeded) as info:
            await client.complete("classify", PROMPT)
    assert info.value.last_kind == "rate_limit"
    assert 120 not in clock.sleeps and len(script.requests) == 1


async def test_deadline_counts_retry_waits() -> None:
    clock = ManualClock()
    script = Script(fail(503, headers={"retry-after": "4"}))
    async with make(script, clock, request_deadline_s=10, max_attempts=100) as client:
        with pytest.raises(e.DeadlineExceeded):
            await client.complete("classify", PROMPT)
    assert len(script.requests) == 3  # waits at 0+4, 4+4; a third wait would end at 12 > 10


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("Server disconnected"),
    ],
)
async def test_transport_errors_are_retried(exc: Exception) -> None:
    script = Script(exc, ok())
    async with make(script) as client:
        result = await client.complete("classify", PROMPT)
    assert result.attempts == 2


@pytest.mark.parametrize(
    ("answer", "cls", "final"),
    [
        (fail(401, "Incorrect API key"), e.AuthenticationFailed, True),
        (fail(402, "Insufficient credits"), e.InsufficientCredits, True),
        (fail(404, "no such model"), e.ModelNotFound, True),
        (fail(429, "quota", type="insufficient_quota"), e.QuotaExhausted, True),
        (fail(400, "bad"), e.BadRequest, False),
        (fail(400, "long", code="context_length_exceeded"), e.ContextLengthExceeded, False),
        (fail(403, "flagged"), e.ModerationBlocked, False),
        (fail(413), e.PayloadTooLarge, False),
        (fail(422), e.Unprocessable, False),
    ],
)
async def test_fatal_and_item_errors_are_not_retried(
    answer: httpx.Response,
    cls: type[e.ProviderError],
    final: bool,
    logs: list[MutableMapping[str, Any]],
) -> None:
    script = Script(answer)
    async with make(script) as client:
        with pytest.raises(cls):
            await client.complete("classify", PROMPT)
        assert client.stats()["failures"] == {cls.kind: 1}
    assert len(script.requests) == 1
    (failed,) = events(logs, "request.failed")
    assert failed["final"] is final and failed["error_kind"] == cls.kind


async def test_billed_error_in_200_is_costed_and_logged(
    logs: list[MutableMapping[str, Any]],
) -> None:
    billed = {"prompt_tokens": 100, "completion_tokens": 50, "cost": 0.002}
    broken = httpx.Response(
        200,
        content=orjson.dumps(
            {
                "choices": [{"message": {"content": "half"}, "finish_reason": "error"}],
                "usage": billed,
            }
        ),
    )
    script = Script(broken, ok(usage={"prompt_tokens": 100, "completion_tokens": 5, "cost": 0.001}))
    async with make(script) as client:
        await client.complete("classify", PROMPT)
        stats = client.stats()
    (retry,) = events(logs, "request.retry")
    assert retry["error_kind"] == "error_in_200" and retry["cost_usd"] == 0.002
    assert stats["cost_usd"] == pytest.approx(0.003)
    assert stats["attempt_errors"] == {"error_in_200": 1}


async def test_empty_choices_are_retried() -> None:
    script = Script(httpx.Response(200, content=b'{"choices": []}'), ok())
    async with make(script) as client:
        assert (await client.complete("classify", PROMPT)).attempts == 2


# --- unit: budget and secrets ----------------------------------------------------------


async def test_budget_needs_a_price() -> None:
    with pytest.raises(UsageError, match="price"):
        make(Script(ok()), model="mystery-model", budget=Budget(1.0))


async def test_budget_exhausted_sends_nothing(logs: list[MutableMapping[str, Any]]) -> None:
    script = Script(ok())
    budget = Budget(1e-6)
    async with make(script, budget=budget) as client:
        with pytest.raises(e.BudgetExhausted):
            await client.complete("instructions", PROMPT)
    assert script.requests == [] and budget.spent_usd == 0.0 and budget.reserved_usd == 0.0
    (failed,) = events(logs, "request.failed")
    assert failed["error_kind"] == "budget" and failed["final"] is True


async def test_budget_settles_actual_cost_and_worst_case_when_unknown() -> None:
    budget = Budget(1.0)
    script = Script(
        httpx.ReadTimeout("lost"), ok(usage={"prompt_tokens": 10, "completion_tokens": 1})
    )
    async with make(script, budget=budget) as client:
        await client.complete("classify", PROMPT)
    from asyncgen.llm.budget import worst_case_cost
    from asyncgen.llm.pricing import DEFAULT_PRICES

    price = DEFAULT_PRICES["gpt-4o-mini"]
    worst = worst_case_cost(price, PROMPT, 3)
    assert budget.spent_usd == pytest.approx(worst + price.cost(10, 1))
    assert budget.reserved_usd == 0.0


@pytest.mark.parametrize(
    ("options", "reported_cost", "learns", "write_factor"),
    [
        ({}, None, True, 1.0),
        ({}, 1.0, False, 1.0),  # billed above the price table for those tokens
        ({"provider": "openrouter", "model": "openai/gpt-4o-mini"}, None, True, 1.25),
        ({"provider": "openrouter", "model": "openai/gpt-4o-mini",  # two tokenizers
          "fallback_models": ("meta-llama/llama-3.1-8b-instruct",)}, None, False, 1.0),
    ],
)
async def test_a_prefix_whose_tokens_were_reported_reserves_their_bound(
    options: dict[str, Any], reported_cost: float | None, learns: bool, write_factor: float,
) -> None:
    """Once the provider reported the prompt tokens of a prompt with the same few-shot prefix,
    an attempt reserves (and, its cost unknown, settles at) that count plus the candidate's
    bytes, not the whole prompt's bytes (x1.25 through OpenRouter: cache writes); not when the
    bill was above the price table's, nor when another model may answer."""
    from asyncgen.llm.billing import provider_price
    from asyncgen.llm.pricing import prefix_bound, worst_case_cost
    from asyncgen.selfinstruct.prompts import split_fixed

    usage: dict[str, Any] = {"prompt_tokens": 40, "completion_tokens": 1}
    if reported_cost is not None:
        usage["cost"] = reported_cost
    budget = Budget(10.0)
    script = Script(ok(usage=usage), httpx.ReadTimeout("lost"))
    other = classify_prompt(
        [Demo("Is this review positive?", True, ()), Demo("Write a poem.", False, ())],
        "Name the largest planet of the solar system.",
    )
    async with make(script, budget=budget, max_attempts=1, **options) as client:
        first = await client.complete("classify", PROMPT)
        before = budget.spent_usd
        with pytest.raises(e.ProviderError):
            await client.complete("classify", other)
        price = provider_price(client.config)
    assert price is not None
    assert before == pytest.approx(first.usage.cost_usd)
    worst = worst_case_cost(price, other, 3)
    bound = prefix_bound(price, 40, split_fixed(other)[1], 3, write_factor)
    assert bound < worst
    # the timed-out attempt was settled at its whole reservation
    assert budget.spent_usd - before == pytest.approx(bound if learns else worst)


async def test_cancellation_frees_the_slot_and_settles() -> None:
    gate = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return ok()

    budget = Budget(1.0)
    client = LLMClient(
        ProviderConfig(transport="aiohttp",
                       provider="sim", base_url="http://sim.test/v1", max_concurrency=1),
        budget=budget,
        transport=httpx.MockTransport(handler),
    )
    async with client:
        with anyio.move_on_after(0):  # cancelled at its first wait
            await client.complete("classify", PROMPT)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.complete, "classify", PROMPT)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
        assert client.limits.in_flight == 0
    assert budget.reserved_usd == 0.0 and budget.stats()["open_reservations"] == 0
    assert budget.spent_usd > 0  # the request had been sent: assume it was billed


async def test_the_key_never_leaks(logs: list[MutableMapping[str, Any]]) -> None:
    echo = f"Incorrect API key provided: {MARKER}. Authorization: Bearer {MARKER}"
    script = Script(fail(500, echo), httpx.ConnectError(f"boom {MARKER}"), fail(401, echo))
    client = make(script, max_attempts=5)
    texts = [repr(client), repr(client.config), str(client.config)]
    async with client:
        with pytest.raises(e.AuthenticationFailed) as info:
            await client.complete("classify", PROMPT)
        texts.append(str(client.stats()))
    exc: BaseException | None = info.value
    while exc is not None:  # the whole chain, as a traceback would show it
        texts += [str(exc), repr(exc)]
        exc = exc.__cause__
    texts += [repr(entry) for entry in logs]
    assert len(script.requests) == 3
    for text in texts:
        assert "MARKER" not in text, text


# --- integration: the simulator ------------------------------------------------------------

sim = pytest.importorskip("asyncgen.sim")


TIME_SCALE = 25.0


def fast_clock() -> Clock:
    """Real time running TIME_SCALE times faster: retry waits, cooldowns and deadlines keep
    their proportions but take little wall time (the policy is table-tested elsewhere)."""

    async def sleep(seconds: float) -> None:
        await anyio.sleep(seconds / TIME_SCALE)

    return Clock(monotonic=lambda: time.monotonic() * TIME_SCALE, sleep=sleep)


def sim_client(url: str, **options: Any) -> LLMClient:
    config_options: dict[str, Any] = {
        "provider": "sim",
        "base_url": url,
        "transport": "aiohttp",  # the client's own behaviour, in process
        "api_key": MARKER,
        "timeout_s": 2.0,  # a forced hang passes its own, shorter one
        "max_attempts": 4,
    }
    config_options.update(options)
    return LLMClient(ProviderConfig(**config_options), clock=fast_clock())


FORCED_FATAL_OR_ITEM = [
    ("400", e.BadRequest),
    ("401", e.AuthenticationFailed),
    ("402", e.InsufficientCredits),
    ("403", e.ModerationBlocked),
    ("404", e.ModelNotFound),
    ("413", e.PayloadTooLarge),
    ("422", e.Unprocessable),
    ("429-quota", e.QuotaExhausted),
    ("429-daily", e.DailyCapReached),
    ("context_length", e.ContextLengthExceeded),
]
FORCED_RETRYABLE = [
    ("408", "timeout"),
    ("409", "server"),
    ("429;retry-after-ms=20", "rate_limit"),
    ("429-upstream;retry-after-ms=20", "rate_limit_sporadic"),
    ("402-in-flight;retry-after-ms=20", "in_flight_budget"),
    ("500", "server"),
    ("502", "server"),
    ("503;retry-after-ms=20", "server"),
    ("524", "timeout"),
    ("529", "server"),
    ("hang", "timeout"),
    ("reset", "connection"),
    ("malformed", "malformed"),
    ("200-error", "error_in_200"),
    ("finish-error", "error_in_200"),
    ("empty-choices", "empty_choices"),
]


@pytest.mark.parametrize("style", ["openai", "openrouter"])
async def test_every_forced_fault_maps_to_its_error(style: str) -> None:
    async with sim.serve(sim.SimConfig(seed=3, style=style)) as url:
        for fault, cls in FORCED_FATAL_OR_ITEM:
            client = sim_client(url, extra_headers=((sim.FAULT_HEADER, fault),))
            async with client:
                with pytest.raises(cls):
                    await client.complete("classify", PROMPT)
                assert client.stats()["attempts"] == 1, fault
        for fault, kind in FORCED_RETRYABLE:
            kind_name, _, option = fault.partition(";")
            once = f"{kind_name}*1" + (f";{option}" if option else "")
            # only a hang waits for the timeout: short there, roomy elsewhere (a loaded machine)
            timeout_s = 0.5 if kind_name == "hang" else 2.0
            async with sim_client(url, extra_headers=((sim.FAULT_HEADER, once),),
                                  timeout_s=timeout_s) as client:
                result = await client.complete("classify", PROMPT)
                assert result.attempts == 2, fault
                assert client.stats()["attempt_errors"] == {kind: 1}, fault
            async with sim_client(url, extra_headers=((sim.FAULT_HEADER, fault),),
                                  timeout_s=timeout_s) as client:
                with pytest.raises(e.RetriesExhausted) as info:
                    await client.complete("classify", PROMPT)
                assert info.value.last_kind == kind, fault


@pytest.mark.parametrize(
    "flag", ["fail_429", "fail_5xx", "fail_hang", "fail_reset", "fail_malformed", "fail_200_error"]
)
async def test_20_percent_faults_end_in_success_or_typed_error(flag: str) -> None:
    config = sim.SimConfig(seed=11, **{flag: 0.2})
    outcomes: dict[str, int] = {}
    texts: list[str] = []

    async def one(client: LLMClient, n: int) -> None:
        try:
            await client.complete("instances", f"Task: number {n}\n")
            key = "ok"
        except e.ProviderError as err:
            key = err.kind
            cause: BaseException | None = err
            while cause is not None:
                texts.extend((str(cause), repr(cause)))
                cause = cause.__cause__
        outcomes[key] = outcomes.get(key, 0) + 1

    with capture_logs() as entries:
        async with sim.serve(config) as url:
            async with sim_client(url, max_concurrency=32, timeout_s=0.3, max_attempts=6) as client:
                with anyio.fail_after(30):  # no hung task
                    async with anyio.create_task_group() as tg:
                        for n in range(300):
                            tg.start_soon(one, client, n)
                stats = client.stats()
    assert sum(outcomes.values()) == 300
    assert outcomes.get("ok", 0) >= 290, outcomes  # 0.2**6 of them may exhaust retries
    assert set(outcomes) <= {"ok", "retries_exhausted"}, outcomes
    assert stats["in_flight"] == 0 and stats["retries"] > 20
    assert not any(MARKER in repr(entry) for entry in entries)
    assert not any(MARKER in text for text in texts)


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_dead_endpoint_ends_the_run_after_a_few_attempts(transport: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    async with sim_client(url, transport=transport, max_attempts=6) as client:
        with pytest.raises(e.EndpointUnreachable) as info:
            await client.complete("classify", PROMPT)
        assert client.stats()["attempts"] == 3
    message = str(info.value)
    assert f"{url}/chat/completions" in message and "ssl:default" not in message
    assert "\n" not in message


async def test_refusals_after_the_endpoint_answered_are_an_outage_not_a_fatal() -> None:
    async with sim.serve(sim.SimConfig(seed=8)) as url:
        client = sim_client(url, max_attempts=4)
        async with client:
            await client.complete("classify", PROMPT)
            live = url
    async with client:  # the same client, the server gone: retried, then given up as usual
        assert client.config.base_url == live
        with pytest.raises(e.RetriesExhausted) as info:
            await client.complete("classify", PROMPT)
    assert info.value.last_kind == "connection"


async def test_client_over_plain_httpx_against_the_simulator() -> None:
    async with sim.serve(sim.SimConfig(seed=5, fail_5xx=0.3)) as url:
        async with sim_client(url, transport="httpx") as client:
            results = [await client.complete("classify", PROMPT) for _ in range(20)]
    assert all(r.text.strip() in {"Yes", "No"} for r in results)
    assert all(r.usage.cost_usd and r.usage.cost_usd > 0 for r in results)


async def test_learns_limits_and_stays_under_the_simulators_rpm() -> None:
    with capture_logs():
        async with sim.serve(sim.SimConfig(seed=2, rpm_limit=1200, style="openai")) as url:
            config = ProviderConfig(transport="aiohttp",
                                    provider="sim", base_url=url, max_concurrency=16)
            async with LLMClient(config) as client:  # real clock, no rpm configured
                await client.complete("classify", PROMPT)
                assert client.limits.rpm == 1200  # learnt from x-ratelimit-limit-requests
                async with anyio.create_task_group() as tg:
                    for _ in range(40):
                        tg.start_soon(client.complete, "classify", PROMPT)
                stats = client.stats()
    assert stats["attempt_errors"].get("rate_limit", 0) <= 1, stats


async def test_default_transport_also_serves_the_httpx_api() -> None:
    from asyncgen.llm.transport.aiohttp import WholeBodyAiohttpTransport

    async with sim.serve(sim.SimConfig(seed=4)) as url:
        transport = WholeBodyAiohttpTransport()
        async with httpx.AsyncClient(transport=transport) as http:
            models = await http.get(f"{url}/models")  # not a POST: the stock path
            answer = await http.post(
                f"{url}/chat/completions",
                json={"model": "sim-1", "messages": [{"role": "user", "content": PROMPT}]},
            )
            with pytest.raises(httpx.TransportError):  # aiohttp errors come out as httpx's
                await http.post("http://127.0.0.1:9/v1/chat/completions", json={})
    assert models.status_code == 200 and models.json()["data"]
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    assert answer.headers["content-type"].startswith("application/json")


def _all_sim_prices_known() -> Callable[[], None]:
    def check() -> None:
        from asyncgen.llm.pricing import DEFAULT_PRICES

        price = DEFAULT_PRICES[sim.DEFAULT_MODEL]
        assert (price.input_per_m, price.output_per_m, price.cached_per_m) == (
            sim.PRICE_IN_PER_M, sim.PRICE_OUT_PER_M, sim.PRICE_CACHED_PER_M
        )

    return check


def test_price_table_knows_the_simulator() -> None:
    _all_sim_prices_known()()
