"""The simulator's OpenRouter Batch API (asyncgen/sim/openrouter_batches.py), over real HTTP."""

from __future__ import annotations

import anyio
import httpx
import orjson
import pytest

from asyncgen.sim import SimConfig, serve

pytestmark = pytest.mark.anyio
ENDPOINT = "/v1/chat/completions"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def openrouter_url(sim_url: str) -> str:
    return sim_url.replace("/v1", "/api/v1")


async def test_simulator_takes_an_inline_batch_and_pages_its_results() -> None:
    sim = SimConfig(batch_delay_s=0.1, batch_page_size=2, style="openrouter")
    async with serve(sim) as url:
        base = openrouter_url(url)
        body = {"requests": [], "endpoint": ENDPOINT, "model": "m"}
        async with httpx.AsyncClient(base_url=base) as http:
            late = await http.post("/batches", content=orjson.dumps(body))
            assert late.status_code == 400 and "before requests" in late.text
            requests = [{"custom_id": f"c{i}", "body": {"messages": [
                {"role": "user", "content": f"Say {i}"}], "max_tokens": 5}} for i in range(5)]
            made = await http.post("/batches", content=orjson.dumps(
                {"endpoint": ENDPOINT, "model": "m", "requests": requests}))
            assert made.status_code == 202 and made.json()["status"] == "validating"
            batch_id = made.json()["id"]
            for _ in range(200):
                batch = (await http.get(f"/batches/{batch_id}")).json()
                if batch["status"] == "completed":
                    break
                await anyio.sleep(0.02)
            assert batch["results"] is None  # 5 lines > a page of 2: read from the pages
            assert batch["usage"]["prompt_tokens"] > 0
            pages, cursor = [], None
            while True:
                page = (await http.get(f"/batches/{batch_id}/results",
                                       params={"cursor": cursor} if cursor else {})).json()
                pages.append([line["custom_id"] for line in page["data"]])
                cursor = page["next_cursor"]
                if not cursor:
                    break
    assert pages == [["c0", "c1"], ["c2", "c3"], ["c4"]]


async def test_a_body_naming_another_model_is_refused() -> None:
    async with serve(SimConfig(batch_delay_s=0.1)) as url:
        async with httpx.AsyncClient(base_url=openrouter_url(url)) as http:
            reply = await http.post("/batches", content=orjson.dumps({
                "endpoint": ENDPOINT, "model": "m",
                "requests": [{"custom_id": "a", "body": {"model": "other", "messages": []}}]}))
    assert reply.status_code == 400 and "batch's model" in reply.text
