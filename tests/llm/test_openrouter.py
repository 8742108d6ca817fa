"""OpenRouter's own controls: routing and fallback models from TOML to the request body, the
key check at the start of a run, and refusing a run the key cannot pay for."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from asyncgen import config
from asyncgen.errors import UsageError
from asyncgen.llm import LLMClient, ProviderConfig, key
from asyncgen.llm.errors import AuthenticationFailed
from asyncgen.sim.embedded import simulator_process

pytestmark = pytest.mark.anyio
ROUTING_TOML = """
out = "o"
provider = "openrouter"
model = "meta-llama/llama-3.3-70b-instruct"
fallback_models = ["meta-llama/llama-3.1-8b-instruct"]
[routing]
order = ["deepinfra", "together"]
allow_fallbacks = false
require_parameters = true
data_collection = "deny"
sort = "throughput"
max_price = { prompt = 1.0, completion = 2.0 }
only = ["deepinfra", "together", "lambda"]
ignore = ["azure"]
quantizations = ["fp8", "bf16"]
enforce_distillable_text = true
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _config(tmp_path: Path, text: str) -> config.RunConfig:
    path = tmp_path / "run.toml"
    path.write_text(text)
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.build_config(parser.parse_args(["--config", str(path)]))


async def test_routing_and_fallback_models_reach_the_request_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncgen.commands.run import provider_config

    cfg = _config(tmp_path, ROUTING_TOML)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")  # this test's only
    provider = provider_config(cfg)
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(orjson.loads(request.content))
        return httpx.Response(200, json={
            "choices": [{"message": {"content": "Yes"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "cost": 0.0001}})

    async with LLMClient(provider, transport=httpx.MockTransport(answer)) as client:
        await client.complete("classify", "Is this a question?")
    body = bodies[0]
    assert body["model"] == "meta-llama/llama-3.3-70b-instruct"
    assert body["models"] == ["meta-llama/llama-3.3-70b-instruct",
                              "meta-llama/llama-3.1-8b-instruct"]
    assert body["provider"] == {
        "order": ["deepinfra", "together"], "allow_fallbacks": False,
        "require_parameters": True, "data_collection": "deny", "sort": "throughput",
        "max_price": {"prompt": 1.0, "completion": 2.0},
        "only": ["deepinfra", "together", "lambda"], "ignore": ["azure"],
        "quantizations": ["fp8", "bf16"], "enforce_distillable_text": True,
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[routing]\nsort = "cheapest"', "[routing] sort: 'cheapest' is not a choice"),
        ("[routing]\nallow_fallbacks = 1", "[routing] allow_fallbacks"),
        ('[routing]\nquantizations = ["fp7"]', "[routing] quantizations: one of int4"),
        ("[routing]\nmax_price = { tokens = 1 }", "[routing] max_price: a table of prompt"),
        ("[routing]\nspeed = 1", "[routing] speed: unknown routing field"),
        ('routing = "fast"', "[routing] must be a table"),
    ],
)
def test_bad_routing_names_itself(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        _config(tmp_path, 'out = "o"\n' + table + "\n")
    assert message in str(info.value)


def test_routing_is_for_openrouter_only() -> None:
    with pytest.raises(ValueError, match="OpenRouter's"):
        ProviderConfig(transport="aiohttp",
                       provider="sim", base_url="http://x/v1", routing={"sort": "price"})


@pytest.mark.parametrize(
    ("data", "budget", "model", "refused"),
    [
        ({"limit": None, "limit_remaining": None, "usage": 3.0}, 100.0, "m", None),
        ({"limit": 10, "limit_remaining": 7.5, "usage": 2.5}, 5.0, "m", None),
        ({"limit": 10, "limit_remaining": 7.5, "usage": 2.5}, 8.0, "m", "--budget-usd 8"),
        ({"limit": 10, "limit_remaining": 0, "usage": 10}, 0.0, "m", "no credit left"),
        ({"limit": 10, "limit_remaining": 0, "usage": 10}, 0.0, "m:free", None),
    ],
)
def test_the_key_check_refuses_a_run_it_cannot_pay_for(
    data: dict[str, Any], budget: float, model: str, refused: str | None
) -> None:
    info = key.parse_key({"data": {**data, "is_free_tier": False}})
    assert info is not None
    why = key.refusal(info, budget_usd=budget, model=model)
    assert (why is None) if refused is None else (why is not None and refused in why)
    assert "1000 free-model requests a day" in key.describe(info)


async def test_check_key_against_the_simulator() -> None:
    with simulator_process("--key-limit-usd", "5", "--key-usage-usd", "1.5",
                           "--key-free-tier") as url:
        config_ = ProviderConfig(transport="aiohttp",
                                 provider="openrouter", base_url=url, model="sim-1",
                                 api_key="sk-or-test")
        async with LLMClient(config_) as client:
            info = await client.check_key()
    assert info == key.KeyInfo(limit_usd=5.0, remaining_usd=3.5, usage_usd=1.5, free_tier=True)
    assert info.free_daily_requests == key.FREE_TIER_DAILY


async def test_check_key_401_is_fatal() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/key" and request.method == "GET"
        return httpx.Response(401, json={"error": {"code": 401, "message": "No auth"}})

    config_ = ProviderConfig(transport="aiohttp",
                             provider="openrouter", model="m", api_key="sk-or-test")
    async with LLMClient(config_, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(AuthenticationFailed):
            await client.check_key()


def test_a_run_the_key_cannot_pay_for_is_refused_at_the_start(tmp_path: Path) -> None:
    with simulator_process("--key-limit-usd", "1", "--key-usage-usd", "0.9") as url:
        out = tmp_path / "run"
        done = subprocess.run(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider",
             "openrouter", "--base-url", url, "--model", "sim-1", "--budget-usd", "5",
             "--log-format", "none"],
            env={**os.environ, "OPENROUTER_API_KEY": "sk-or-test"}, capture_output=True,
            text=True, timeout=60,
        )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--budget-usd 5 is more than the $0.1 of credit" in lines[0]
