"""The simulator's own books: every generated answer is billed, whatever the client did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from asyncgen.sim import FAULT_HEADER, SimConfig, serve
from asyncgen.sim.books import Books, billed_usd, books_url, cost_usd, fetch_totals, read_books
from tests.conftest import sim_process

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def chat(text: str = "Write a haiku about rain.") -> dict[str, Any]:
    return {"model": "sim-1", "messages": [{"role": "user", "content": text}], "max_tokens": 50}


async def totals(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(books_url(url)) as response:
        assert response.status == 200
        return dict(await response.json())


async def settled_totals(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The totals once no billed request is still open (at most 5 s)."""
    for _ in range(500):
        books = await totals(session, url)
        if books["pending"] == 0:
            return books
        await anyio.sleep(0.01)
    raise AssertionError(f"requests still open in the books: {books}")


async def post(
    session: aiohttp.ClientSession, url: str, fault: str | None = None, limit_s: float = 5.0,
    text: str = "Write a haiku about rain.",
) -> str:
    """POST one chat request; what the client saw."""
    headers = {FAULT_HEADER: fault} if fault else {}
    try:
        async with session.post(url + "/chat/completions", json=chat(text), headers=headers,
                                timeout=aiohttp.ClientTimeout(total=limit_s)) as response:
            await response.read()
            return str(response.status)
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError:
        return "dropped"


async def test_every_generated_answer_is_billed_and_errors_before_generation_are_not(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "books.jsonl"
    async with serve(SimConfig(), books=Books(path)) as url:
        seen = [
            await post(session, url),
            await post(session, url, "hang", limit_s=0.3),  # the client times out
            await post(session, url, "reset"),
            await post(session, url, "malformed"),
            await post(session, url, "finish-error"),
            await post(session, url, "200-error"),  # an upstream error, no usage: no charge
            await post(session, url, "500"),  # not generated: not billed
            await post(session, url, "429"),
        ]
        books = await settled_totals(session, url)
    assert seen == ["200", "timeout", "dropped", "200", "200", "200", "500", "429"]
    lines = list(read_books(path))
    assert [(line["outcome"], line["status"]) for line in lines] == [
        ("answered", 200), ("fault:hang", 499), ("fault:reset", 0), ("fault:malformed", 200),
        ("fault:finish-error", 200),
    ]
    for line in lines:
        assert line["cost_usd"] == cost_usd(
            SimConfig(), line["prompt_tokens"], line["completion_tokens"], line["cached_tokens"]
        ) > 0
        assert line["endpoint"] == "chat" and line["model"] == "sim-1"
    assert books["requests"] == len(lines) == 5
    assert books["billed_usd"] == pytest.approx(billed_usd(path))
    assert books["prompt_tokens"] == sum(line["prompt_tokens"] for line in lines)
    assert books["completion_tokens"] == sum(line["completion_tokens"] for line in lines)
    assert books["statuses"] == {"200": 3, "499": 1, "0": 1}


async def test_a_hang_cut_short_by_shutdown_is_written_before_the_file_closes(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "books.jsonl"
    async with anyio.create_task_group() as tg, serve(SimConfig(), books=Books(path)) as url:
        tg.start_soon(post, session, url, "hang")
        for _ in range(500):
            if (await totals(session, url))["requests"]:
                break
            await anyio.sleep(0.01)
    assert [(line["outcome"], line["status"]) for line in read_books(path)] == [
        ("fault:hang", 0)
    ]


async def test_asyncgen_sim_books_flag_bills_a_request_whose_client_timed_out(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "books.jsonl"
    with sim_process("--books", str(path), "--latency-ms", "600") as url:
        answered = [await post(session, url, text=f"task {n}") for n in range(2)]
        gone = await post(session, url, limit_s=0.1)  # the latency outlasts the client
        books = await settled_totals(session, url)
        assert fetch_totals(url) == books
        written = list(read_books(path))  # whole lines, written while the simulator runs
    assert answered == ["200", "200"] and gone == "timeout"
    assert [line["outcome"] for line in written] == ["answered", "answered", "client_gone"]
    assert written[-1]["status"] == 499 and written[-1]["cost_usd"] > 0
    assert books["requests"] == 3 and books["outcomes"]["client_gone"] == 1
    assert books["billed_usd"] == pytest.approx(billed_usd(path))
    assert path.read_bytes().endswith(b"\n")


def test_asyncgen_sim_refuses_a_books_path_it_cannot_write(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "asyncgen.sim", "--books", str(tmp_path / "no" / "books.jsonl")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--books" in result.stderr
    assert not (tmp_path / "no").exists()
