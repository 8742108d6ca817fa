"""Simulator knobs for throughput tests: sporadic 429s, silent limits, OpenRouter's key check."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest

from asyncgen.sim import SimConfig, serve
from asyncgen.sim.faults import FaultKind, FaultPlan

pytestmark = pytest.mark.anyio
BODY = orjson.dumps({"model": "sim-1", "messages": [{"role": "user", "content": "Hi"}],
                     "max_tokens": 5})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _posts(config: SimConfig, n: int) -> list[tuple[int, dict[str, str], Any]]:
    """`n` chat requests in a row: status, headers, body of each."""
    out = []
    async with serve(config) as url, aiohttp.ClientSession() as http:
        for _ in range(n):
            async with http.post(f"{url}/chat/completions", data=BODY,
                                 headers={"Content-Type": "application/json"}) as response:
                out.append((response.status, dict(response.headers), await response.json()))
    return out


def test_sporadic_429s_are_drawn_at_their_rate_with_their_wait() -> None:
    plan = FaultPlan(SimConfig(seed=1, sporadic_429=0.1, sporadic_429_retry_after_ms=2500))
    drawn = [plan.draw() for _ in range(5000)]
    sporadic = [f for f in drawn if f is not None]
    assert all(f.kind is FaultKind.UPSTREAM_429 and f.retry_after_ms == 2500 for f in sporadic)
    assert 400 < len(sporadic) < 600


async def test_a_sporadic_429_says_upstream_and_only_retry_after() -> None:
    answers = await _posts(SimConfig(seed=2, sporadic_429=1.0, rpm_limit=6000), 3)
    for status, headers, body in answers:
        assert status == 429
        assert headers["Retry-After"] == "1"
        assert not any(name.lower().startswith("x-ratelimit") for name in headers)
        assert body["error"]["message"] == "Provider returned error"
        assert "rate-limited upstream" in body["error"]["metadata"]["raw"]


@pytest.mark.parametrize("silent", [False, True])
async def test_silent_limits_answer_bare_429s(silent: bool) -> None:
    answers = await _posts(SimConfig(seed=3, rpm_limit=60, silent_limits=silent), 4)
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {200: 1, 429: 3}  # one second's worth of a 60 RPM bucket
    for status, headers, _ in answers:
        limit_headers = [h for h in headers if h.lower().startswith(("x-ratelimit", "retry-after"))]
        if silent:
            assert limit_headers == [], (status, headers)
        else:
            assert limit_headers


@pytest.mark.parametrize(
    ("config", "data"),
    [
        (SimConfig(), {"limit": None, "limit_remaining": None, "usage": 0.0,
                       "is_free_tier": False}),
        (SimConfig(key_limit_usd=5.0, key_usage_usd=4.5, key_free_tier=True),
         {"limit": 5.0, "limit_remaining": 0.5, "usage": 4.5, "is_free_tier": True}),
    ],
)
async def test_the_key_check_reports_the_configured_credit(
    config: SimConfig, data: dict[str, Any]
) -> None:
    async with serve(config) as url, aiohttp.ClientSession() as http:
        for prefix in ("/v1", "/api/v1"):
            root = url.removesuffix("/v1")
            async with http.get(f"{root}{prefix}/key") as response:
                assert response.status == 200
                got = (await response.json())["data"]
            assert {k: got[k] for k in data} == data


def test_bad_knobs_fail_fast() -> None:
    with pytest.raises(ValueError, match="sporadic_429 must be a probability"):
        SimConfig(sporadic_429=1.5)
    with pytest.raises(ValueError, match="key_limit_usd"):
        SimConfig(key_limit_usd=-1.0)
