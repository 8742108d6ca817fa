"""Stopping and owning a run directory: the failure counter, held stages, the directory lock,
the one JSONL tail reader, recorded settings. Real simulator, real files, real processes."""

from __future__ import annotations

import anyio
import pytest

from asyncgen.llm import DEFAULT_PARAMS, LLMClient, ProviderConfig
from asyncgen.llm.errors import SendingStopped
from asyncgen.workers.control import Asker, Control, ProviderUnusable

from .conftest import sim_process

PROMPT = "Is the following a classification task? Task: Sort these words. Answer:"


def test_consecutive_failures_count_resets_on_success() -> None:
    """A run stops after K failed requests *in a row*; a success in between starts again."""
    limit = 4

    async def scenario(url: str) -> tuple[list[bool], bool]:
        config = ProviderConfig(provider="sim", base_url=url, max_concurrency=1,
                                max_attempts=1)
        outcomes: list[bool] = []
        async with LLMClient(config) as client:
            ask = Asker(client, Control(target=10), DEFAULT_PARAMS, max_failures=limit)
            try:
                for _ in range(60):  # one at a time: the seeded faults come in a fixed order
                    outcomes.append(await ask("classify", PROMPT) is not None)
            except ProviderUnusable:
                return outcomes, True
        return outcomes, False

    with sim_process("--fail-5xx", "0.25", "--seed", "1") as url:
        outcomes, stopped = anyio.run(scenario, url)
    streak = longest = 0
    for ok in outcomes:
        streak = 0 if ok else streak + 1
        longest = max(longest, streak)
    assert longest < limit  # never `limit` failures in a row ...
    assert not stopped and len(outcomes) == 60, f"stopped after {outcomes}"
    assert outcomes.count(False) >= limit  # ... but enough in all to stop a counter never reset

    with sim_process("--fail-5xx", "1.0") as url:  # every request fails: stopped at `limit`
        outcomes, stopped = anyio.run(scenario, url)
    assert stopped and outcomes == [False] * (limit - 1)


def test_a_held_stage_sends_nothing_more() -> None:
    async def scenario(url: str) -> None:
        config = ProviderConfig(provider="sim", base_url=url, max_concurrency=4)
        async with LLMClient(config) as client:
            assert (await client.complete("classify", PROMPT)).text
            client.hold("instructions")
            with pytest.raises(SendingStopped):
                await client.complete("instructions", PROMPT)
            assert (await client.complete("classify", PROMPT)).text  # other stages go on
            assert client.stats()["attempts"] == 2

    with sim_process() as url:
        anyio.run(scenario, url)
