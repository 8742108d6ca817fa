"""Protocol fidelity: the official `openai` package (a test dependency) against the simulator.

Not skipped when openai is missing: it is in the `test` extra, and CI must run these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from asyncgen.selfinstruct import prompts
from asyncgen.sim import FAULT_HEADER, SimConfig, serve

pytestmark = pytest.mark.anyio

PROMPT = prompts.classify_prompt(
    [prompts.Demo("Tell me if the sentence is grammatical.", True, ())],
    "Classify the sentiment of the tweet.",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["openai", "openrouter"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[openai.AsyncOpenAI]:
    async with serve(SimConfig(seed=1, style=request.param)) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0,
                                      timeout=2.0) as sdk:
            yield sdk


def fault(value: str) -> dict[str, str]:
    return {FAULT_HEADER: value}


async def test_chat_completion(client: openai.AsyncOpenAI) -> None:
    result = await client.chat.completions.create(
        model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3, stop=["\n"],
        temperature=0,
    )
    assert result.choices[0].message.content == " Yes"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == 1
    assert result.usage.total_tokens == result.usage.prompt_tokens + 1
    assert (result.usage.model_extra or {})["cost"] > 0


async def test_completion_with_max_tokens(client: openai.AsyncOpenAI) -> None:
    prompt = prompts.instruction_prompt(["Write a poem.", "Sort the list of numbers."])
    result = await client.completions.create(model="any/model", prompt=prompt, max_tokens=4)
    assert len(result.choices[0].text) == 16
    assert result.choices[0].finish_reason == "length"
    assert result.model == "any/model"


async def test_models_list_and_retrieve(client: openai.AsyncOpenAI) -> None:
    models = [model async for model in client.models.list()]
    assert [model.id for model in models] == ["sim-1"]
    assert (models[0].model_extra or {})["pricing"] == {
        "prompt": "0.0000005", "completion": "0.0000015", "input_cache_read": "0.00000005"}
    assert (await client.models.retrieve("other/model")).id == "other/model"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("400", openai.BadRequestError),
        ("context_length", openai.BadRequestError),
        ("401", openai.AuthenticationError),
        ("402", openai.APIStatusError),
        ("403", openai.PermissionDeniedError),
        ("404", openai.NotFoundError),
        ("409", openai.ConflictError),
        ("422", openai.UnprocessableEntityError),
        ("429-quota", openai.RateLimitError),
        ("429-daily", openai.RateLimitError),
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("529", openai.InternalServerError),
        ("reset", openai.APIConnectionError),
    ],
)
async def test_errors_map_to_the_sdk_exceptions(
    client: openai.AsyncOpenAI, value: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        await client.chat.completions.create(
            model="sim-1", messages=[{"role": "user", "content": "hi"}],
            extra_headers=fault(value),
        )
    if isinstance(info.value, openai.APIStatusError):
        assert info.value.status_code == int(value[:3]) if value[:3].isdigit() else 400
        assert info.value.message


async def test_context_length_and_quota_carry_their_codes() -> None:
    async with serve(SimConfig(style="openai")) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
            with pytest.raises(openai.BadRequestError) as too_long:
                await sdk.completions.create(model="m", prompt="x", extra_headers=fault(
                    "context_length"))
            with pytest.raises(openai.RateLimitError) as quota:
                await sdk.completions.create(model="m", prompt="x", extra_headers=fault(
                    "429-quota"))
    assert too_long.value.code == "context_length_exceeded"
    assert quota.value.code == "insufficient_quota"
    assert quota.value.type == "insufficient_quota"


async def test_rate_limit_error_has_a_readable_retry_after() -> None:
    async with serve(SimConfig(rpm_limit=60)) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
            raw = await sdk.chat.completions.with_raw_response.create(
                model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3)
            assert raw.headers["x-ratelimit-limit-requests"] == "60"
            with pytest.raises(openai.RateLimitError) as info:
                await sdk.chat.completions.create(
                    model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3)
    headers = info.value.response.headers
    assert headers["retry-after"] == "1"
    assert 0 < int(headers["retry-after-ms"]) <= 1000
    assert info.value.code == "rate_limit_exceeded"


async def test_the_sdk_retries_a_counted_fault_then_succeeds() -> None:
    async with serve(SimConfig()) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=2) as sdk:
            result = await sdk.completions.create(
                model="m", prompt="hello", max_tokens=5,
                extra_headers=fault("429*2;retry-after-ms=10"),
            )
    assert result.choices[0].text


async def test_hang_becomes_a_timeout() -> None:
    async with serve(SimConfig()) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0,
                                      timeout=0.2) as sdk:
            with pytest.raises(openai.APITimeoutError):
                await sdk.completions.create(model="m", prompt="x", extra_headers=fault("hang"))


async def test_malformed_json_fails_to_decode() -> None:
    # this SDK version lets json.JSONDecodeError (a ValueError) through for a truncated body
    async with serve(SimConfig()) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
            with pytest.raises((openai.APIResponseValidationError, ValueError)):
                await sdk.completions.create(model="m", prompt="x",
                                             extra_headers=fault("malformed"))
