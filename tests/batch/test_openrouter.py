"""OpenRouter's Batch API (issue 20, item 4): the product's dialect against the simulator's,
over real HTTP on loopback; money read from the simulator's books."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
import orjson
import pytest

from asyncgen.batch import BatchClient, BatchJournal, BatchSettings
from asyncgen.batch.openrouter import TOKEN, OpenRouterBatchAPI, batch_api
from asyncgen.cli import main
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm.errors import MalformedResponse
from asyncgen.rundir import layout, spend
from asyncgen.sim import SimConfig, serve
from asyncgen.sim.books import Books, fetch_totals, read_books
from tests.batch.test_batch import KEY_VARS, QUIET, classify, gather, journal
from tests.conftest import sim_process

pytestmark = pytest.mark.anyio
KEY = "sk-or-v1-test-not-a-secret"
ENDPOINT = "/v1/chat/completions"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _only_openrouter_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)


def openrouter_url(sim_url: str) -> str:
    """The simulator's OpenRouter-style base path (…/api/v1)."""
    return sim_url.replace("/v1", "/api/v1")


async def sim_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(url.replace("/api/v1", "/sim/stats").replace("/v1", "/sim/stats"))
    body: dict[str, Any] = reply.json()["batches"]
    return body


@asynccontextmanager
async def stack(tmp: Path, sim: SimConfig, books: Books, *, size: int, run_id: str = "r1",
                retry: Literal["batch", "live"] = "batch"
                ) -> AsyncIterator[tuple[BatchClient, str]]:
    """A simulator, an OpenRouter live client and a running batch client journaling into tmp."""
    async with serve(sim, books=books) as url:
        config = ProviderConfig(transport="aiohttp", provider="openrouter", api_key=KEY,
                                base_url=openrouter_url(url), model="vendor/model-1")
        api = batch_api(config)
        assert isinstance(api, OpenRouterBatchAPI)
        async with LLMClient(config) as live, api, anyio.create_task_group() as tg:
            client = BatchClient(
                live, api, BatchJournal(tmp / "batches.jsonl"),
                BatchSettings(size=size, max_wait_s=0.05, poll_interval_s=0.02, retry=retry),
                run_id=run_id)
            await tg.start(client.run)
            yield client, url
            tg.cancel_scope.cancel()


# --- the client --------------------------------------------------------------------------


async def test_batches_are_answered_from_the_pages_and_from_the_object(tmp_path: Path) -> None:
    books = Books()
    sim = SimConfig(batch_delay_s=0.1, batch_page_size=2, style="openrouter", batch_cache=True)
    async with stack(tmp_path, sim, books, size=5) as (client, url):
        paged = await gather([lambda i=i: client.complete("classify", classify(i))
                              for i in range(5)])
        after_paged = (await sim_stats(url)).get("result_pages", 0)
        inline = await gather([lambda i=i: client.complete("classify", classify(i))
                               for i in range(10, 12)])  # 2 lines: inline in the object
        after_inline = (await sim_stats(url)).get("result_pages", 0)
    assert all(not isinstance(r, Exception) for r in paged + inline)
    assert after_paged >= 3 and after_inline == after_paged
    totals = books.totals()
    assert totals["requests"] == 7 and totals["pending"] == 0
    spent = sum(r.usage.cost_usd for r in paged + inline)
    assert spent == pytest.approx(totals["billed_usd"], rel=1e-6)
    assert [r["r"] for r in journal(tmp_path)].count("collected") == 2


async def test_a_lost_submission_is_found_not_sent_again(tmp_path: Path) -> None:
    books = Books()
    sim = SimConfig(batch_delay_s=0.1, style="openrouter")
    async with serve(sim, books=books) as url:
        config = ProviderConfig(transport="aiohttp", provider="openrouter", api_key=KEY,
                                base_url=openrouter_url(url), model="vendor/model-1")
        async with LLMClient(config) as live, batch_api(config) as api:
            log = BatchJournal(tmp_path / "batches.jsonl")
            params = live.config.params["classify"]
            bodies = [live.body(classify(i), params) for i in range(2)]
            keys = [hashlib.blake2b(b, digest_size=16).hexdigest() for b in bodies]
            log.planned("old-1", "classify", ENDPOINT, 0.0,
                        [("old-1-0", keys[0], None), ("old-1-1", keys[1], None)])
            since = int(time.time())
            log.uploaded("old-1", f"{TOKEN}:{since}:2:{ENDPOINT}:vendor/model-1")
            async with httpx.AsyncClient(base_url=openrouter_url(url)) as http:
                made = await http.post("/batches", content=orjson.dumps({
                    "endpoint": ENDPOINT, "model": "vendor/model-1",
                    "requests": [{"custom_id": f"old-1-{i}", "body": orjson.loads(b)}
                                 for i, b in enumerate(bodies)]}))
                assert made.status_code == 202  # "killed" before its answer was journaled
            log.close()
            async with anyio.create_task_group() as tg:
                client = BatchClient(live, api, log, BatchSettings(
                    size=2, max_wait_s=0.01, poll_interval_s=0.02), run_id="r2")
                await tg.start(client.run)
                assert client.totals["batches_reattached"] == 1
                results = await gather([lambda i=i: client.complete("classify", classify(i))
                                        for i in range(2)])
                tg.cancel_scope.cancel()
    assert all(not isinstance(r, Exception) for r in results)
    assert books.totals()["requests"] == 2  # found and followed, not sent again
    states = {(r["r"], r["seq"]) for r in journal(tmp_path)}
    assert ("submitted", "old-1") in states and ("collected", "old-1") in states


async def _post_inline(url: str, seq: str, bodies: list[bytes], first: int) -> str:
    """POST an OpenRouter batch of `bodies` as `seq` would have (a submission whose answer
    was lost); its id."""
    async with httpx.AsyncClient(base_url=openrouter_url(url)) as http:
        made = await http.post("/batches", content=orjson.dumps({
            "endpoint": ENDPOINT, "model": "vendor/model-1",
            "requests": [{"custom_id": f"{seq}-{i}", "body": orjson.loads(b)}
                         for i, b in enumerate(bodies[first:first + 2])]}))
    assert made.status_code == 202
    return str(made.json()["id"])


def _plan_lost(log: BatchJournal, seq: str, keys: list[str], first: int, since: int) -> None:
    """Journal `seq` as a kill -9 leaves a POST whose answer never came: planned, token."""
    log.planned(seq, "classify", ENDPOINT, 0.0,
                [(f"{seq}-{i}", keys[first + i], None) for i in range(2)])
    log.uploaded(seq, f"{TOKEN}:{since}:2:{ENDPOINT}:vendor/model-1")


async def _settled(url: str) -> dict[str, Any]:
    """The simulator's batch books once no batch is still running (bounded wait)."""
    for _ in range(200):
        stats = await sim_stats(url)
        if set(stats["by_status"]) <= {"completed", "failed", "expired", "cancelled"}:
            return stats
        await anyio.sleep(0.02)
    raise AssertionError(f"batches still running: {stats}")


async def _resume_and_ask(live: LLMClient, api: Any, log: BatchJournal, n: int) -> list[Any]:
    async with anyio.create_task_group() as tg:
        client = BatchClient(live, api, log, BatchSettings(
            size=2, max_wait_s=0.01, poll_interval_s=0.02), run_id="r2")
        await tg.start(client.run)
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(n)])
        tg.cancel_scope.cancel()
    return results


@asynccontextmanager
async def _sim(books: Books, page_size: int = 100
               ) -> AsyncIterator[tuple[str, ProviderConfig]]:
    """An OpenRouter-style simulator and the provider config that speaks to it."""
    sim = SimConfig(batch_delay_s=0.05, style="openrouter", batch_page_size=page_size)
    async with serve(sim, books=books) as url:
        yield url, ProviderConfig(transport="aiohttp", provider="openrouter", api_key=KEY,
                                  base_url=openrouter_url(url), model="vendor/model-1")


def _bodies(live: LLMClient, n: int) -> tuple[list[bytes], list[str]]:
    """The first n classification bodies and their digests (the journal's keys)."""
    bodies = [live.body(classify(i), live.config.params["classify"]) for i in range(n)]
    return bodies, [hashlib.blake2b(b, digest_size=16).hexdigest() for b in bodies]


async def _next_second() -> None:
    """Sleep to just after a whole second (the provider's created_at is whole seconds)."""
    await anyio.sleep(1.0 - time.time() % 1.0 + 0.01)


async def test_a_lost_submission_is_not_matched_to_a_batch_already_collected(
        tmp_path: Path) -> None:
    """A collected batch of the same shape, made just before the lost POST, is not the lost
    one: the lost batch is followed and its bodies are not paid again."""
    books = Books()
    async with _sim(books) as (url, config):
        async with LLMClient(config) as live, batch_api(config) as api:
            bodies, keys = _bodies(live, 4)
            log = BatchJournal(tmp_path / "batches.jsonl")
            await _next_second()
            since = int(time.time())
            _plan_lost(log, "old-1", keys, 0, since)
            collected = await _post_inline(url, "old-1", bodies, 0)
            log.submitted("old-1", collected)
            done = await _resume_and_ask(live, api, log, 2)  # old-1 followed and collected
            assert all(not isinstance(r, Exception) for r in done)
            await _next_second()  # the lost POST's batch is created a second later
            _plan_lost(log, "old-2", keys, 2, since)
            await _post_inline(url, "old-2", bodies, 2)
            log.close()
        async with LLMClient(config) as live, batch_api(config) as api:
            results = await _resume_and_ask(live, api, BatchJournal(log.path), 4)
        stats = await _settled(url)
    assert all(not isinstance(r, Exception) for r in results)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 4
    submitted = {r["seq"]: r["batch_id"] for r in journal(tmp_path) if r["r"] == "submitted"}
    assert submitted["old-2"] != collected


async def test_two_lost_submissions_of_one_second_each_follow_their_own_batch(
        tmp_path: Path) -> None:
    """Two POSTs of the same shape, both lost to a kill -9 and created in the same second,
    are matched in the order they were sent: nothing is paid twice."""
    books = Books()
    async with _sim(books) as (url, config):
        async with LLMClient(config) as live, batch_api(config) as api:
            bodies, keys = _bodies(live, 4)
            log = BatchJournal(tmp_path / "batches.jsonl")
            await _next_second()
            since = int(time.time())
            _plan_lost(log, "old-1", keys, 0, since)
            _plan_lost(log, "old-2", keys, 2, since)
            first = await _post_inline(url, "old-1", bodies, 0)
            second = await _post_inline(url, "old-2", bodies, 2)
            log.close()
            results = await _resume_and_ask(live, api, log, 4)
        stats = await _settled(url)
    assert all(not isinstance(r, Exception) for r in results)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 4
    submitted = {r["seq"]: r["batch_id"] for r in journal(tmp_path) if r["r"] == "submitted"}
    assert submitted == {"old-1": first, "old-2": second}


class _LateCreate(httpx.AsyncBaseTransport):
    """Real HTTP on loopback, except that the first POST /batches reaches the simulator only
    after `late_s` while the client has already given up on it (a read timeout): the batch is
    made after the client's first look for it. Later POSTs are answered `slow_s` after the
    simulator made their batch."""

    def __init__(self, late_s: float, slow_s: float = 0.0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.late_s, self.slow_s = late_s, slow_s
        self.late: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/batches") and self.late:
            reply = await self.inner.handle_async_request(request)
            await anyio.sleep(self.slow_s)
            return reply
        if request.method == "POST" and request.url.path.endswith("/batches"):
            body = await request.aread()
            copy = httpx.Request("POST", request.url, headers=request.headers, content=body)

            async def deliver() -> None:
                await anyio.sleep(self.late_s)
                reply = await self.inner.handle_async_request(copy)
                await reply.aread()

            self.late.append(asyncio.get_running_loop().create_task(deliver()))
            raise httpx.ReadTimeout("no answer in time", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        for task in self.late:
            await task
        await self.inner.aclose()


async def _ask_through(tmp: Path, config: ProviderConfig, transport: httpx.AsyncBaseTransport,
                       n: int, *, max_wait_s: float = 0.01, size: int = 2) -> list[Any]:
    """A batch client whose Batch API calls go through `transport`, asked n classifications."""
    async with LLMClient(config) as live, batch_api(config, transport=transport) as api, \
            anyio.create_task_group() as tg:
        client = BatchClient(live, api, BatchJournal(tmp / "batches.jsonl"),
                             BatchSettings(size=size, max_wait_s=max_wait_s,
                                           poll_interval_s=0.02), run_id="r1")
        await tg.start(client.run)
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(n)])
        tg.cancel_scope.cancel()
    return results


async def test_a_post_that_timed_out_is_looked_for_until_it_shows_not_sent_again(
        tmp_path: Path) -> None:
    """A POST whose answer timed out may be persisted after the first look in the list: it is
    looked for again (with backoff) before the batch is called never created, so its lines
    are not sent and paid a second time."""
    books = Books()
    async with _sim(books) as (url, config):
        results = await _ask_through(tmp_path, config, _LateCreate(0.3), 2)
        stats = await _settled(url)
    assert all(not isinstance(r, Exception) for r in results)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 2
    assert "abandoned" not in [r["r"] for r in journal(tmp_path)]


async def test_a_lost_post_is_not_matched_to_a_batch_whose_answer_is_on_its_way(
        tmp_path: Path) -> None:
    """Two batches of one shape submitted at once: the first POST's answer is lost (its batch
    made late), the second's batch is made at once and its answer is slow. The first is not
    taken for the second's batch: both are followed, nothing is paid twice."""
    books = Books()
    async with _sim(books) as (url, config):
        results = await _ask_through(tmp_path, config, _LateCreate(1.0, slow_s=2.0), 4,
                                     max_wait_s=5)
        stats = await _settled(url)
    assert all(not isinstance(r, Exception) for r in results)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 4
    submitted = [r["batch_id"] for r in journal(tmp_path) if r["r"] == "submitted"]
    assert len(submitted) == 2 == len(set(submitted))


class _NoCursor(httpx.AsyncBaseTransport):
    """Real HTTP on loopback; result pages lose their `next_cursor` (still `has_more`)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reply = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/results"):
            return reply
        page = orjson.loads(await reply.aread())
        page["next_cursor"] = None
        return httpx.Response(reply.status_code, content=orjson.dumps(page))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_pages_that_cannot_be_followed_are_not_taken_for_lines_not_run(
        tmp_path: Path) -> None:
    """A results page that says there is more but gives no cursor: the lines not read yet
    may have been answered (and billed), so they are not sent again as never run; the batch
    is left to the next run to collect."""
    books = Books()
    async with _sim(books, page_size=2) as (url, config):
        with pytest.raises(ExceptionGroup) as caught:
            await _ask_through(tmp_path, config, _NoCursor(), 4, size=4)
        stats = await _settled(url)
    assert caught.group_contains(MalformedResponse)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 4
    assert "collected" not in [r["r"] for r in journal(tmp_path)]


class _PageFailsOnce(httpx.AsyncBaseTransport):
    """Real HTTP on loopback; the first read of a results page after the first answers 502."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results") and "cursor" in request.url.params \
                and not self.failed:
            self.failed += 1
            return httpx.Response(502, content=b'{"error": {"message": "bad gateway"}}')
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_results_page_that_fails_midway_is_read_again_not_settled_as_not_run(
        tmp_path: Path) -> None:
    books = Books()
    async with _sim(books, page_size=2) as (url, config):
        flaky = _PageFailsOnce()
        results = await _ask_through(tmp_path, config, flaky, 5, size=5)
        stats = await _settled(url)
    assert flaky.failed == 1 and all(not isinstance(r, Exception) for r in results)
    assert stats["duplicate_bodies"] == 0 and books.totals()["requests"] == 5
    assert [r["r"] for r in journal(tmp_path)].count("collected") == 1


async def test_expired_lines_are_sent_again_and_billed_once(tmp_path: Path) -> None:
    books = Books(tmp_path / "books.jsonl")
    sim = SimConfig(batch_delay_s=0.1, batch_expire=1.0, batch_page_size=3, style="openrouter")
    async with stack(tmp_path, sim, books, size=4) as (client, _):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(4)])
    books.close()
    # every batch expires half done: 2 answered, then 1, then the last gives up (3 batches)
    answered = [r for r in results if not isinstance(r, Exception)]
    assert len(answered) == 3 and client.totals["lines_retried"] >= 2
    digests = [line["body_digest"] for line in read_books(tmp_path / "books.jsonl")]
    assert len(digests) == 3 == len(set(digests))


async def test_a_failed_batch_is_retried_live_and_billed_once(tmp_path: Path) -> None:
    books = Books()
    sim = SimConfig(batch_delay_s=0.1, batch_fail=1.0, style="openrouter")
    async with stack(tmp_path, sim, books, size=3, retry="live") as (client, _):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(3)])
    assert all(not isinstance(r, Exception) for r in results)
    assert client.totals["requests_live"] == 3 and books.totals()["requests"] == 3
    assert [r.get("status") for r in journal(tmp_path) if r["r"] == "collected"] == ["failed"]


# --- asyncgen run --provider openrouter --batch -------------------------------------------


def _run_args(out: Path, url: str, target: int, *extra: str) -> list[str]:
    return ["run", "--out", str(out), "--provider", "openrouter", "--base-url",
            openrouter_url(url), "--target-instructions", str(target), "--batch",
            "--batch-stages", "all", "--batch-max-wait", "0.2", "--batch-poll-interval", "0.05",
            *QUIET, *extra]


def test_openrouter_batch_endpoint_must_be_chat(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(_run_args(out, "http://127.0.0.1:9/v1", 5, "--endpoint", "completions"))
    assert code == 2 and not out.exists()
    assert "chat completions" in capsys.readouterr().err


def test_run_reaches_the_target_through_openrouter_batches(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    with sim_process("--style", "openrouter", "--batch-delay-s", "0.2", "--batch-page-size", "4",
                     "--books", str(books)) as url:
        out = tmp_path / "out"
        assert main(_run_args(out, url, 20)) == 0
        totals = fetch_totals(url)
    tasks = (out / "tasks.jsonl").read_bytes().splitlines()
    assert 20 <= len(tasks) <= 20 + 15
    lines = list(read_books(books))
    assert sum(1 for line in lines if str(line["endpoint"]).startswith("batch:")) \
        >= 0.95 * len(lines)
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    spent = sum(e.get("cost_usd") or 0 for e in events if str(e["event"]).startswith("request."))
    assert spent == pytest.approx(totals["billed_usd"], rel=1e-6)  # usage.cost of each line


def test_kill_9_mid_batch_then_resume_reaches_the_target_and_pays_no_body_twice(
        tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    env = {**{k: v for k, v in os.environ.items() if k not in KEY_VARS},
           "OPENROUTER_API_KEY": KEY}
    with sim_process("--style", "openrouter", "--batch-delay-s", "1.0", "--batch-cache",
                     "--batch-page-size", "7", "--books", str(books)) as url:
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "asyncgen", *_run_args(out, url, 40)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # kill once a batch is submitted, not collected
            path = out / "batches.jsonl"
            kinds = [orjson.loads(x)["r"] for x in path.read_bytes().splitlines()] \
                if path.exists() else []
            if kinds.count("submitted") > kinds.count("collected") and "collected" in kinds:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert main(_run_args(out, url, 40)) == 0
        fetch_totals(url)
        with httpx.Client() as http:
            stats = http.get(url.replace("/v1", "/sim/stats")).json()["batches"]
    tasks = (out / "tasks.jsonl").read_bytes().splitlines()
    assert len(tasks) >= 40
    lines = list(read_books(books))
    batched = [line for line in lines if str(line["endpoint"]).startswith("batch:")]
    assert len(batched) >= 0.95 * len(lines)
    digests = [line["body_digest"] for line in batched]
    assert digests and len(digests) == len(set(digests))  # no request body billed twice
    assert stats["result_pages"] > 0  # results read from the pages
    billed = sum(float(line["cost_usd"]) for line in lines)
    assert spend.recover(out / layout.SPEND_FILE).figure_usd >= billed - 1e-9
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    assert any(e["event"] == "batch.reattached" for e in events)
    assert not [f for f in out.rglob("*") if f.is_file() and KEY.encode() in f.read_bytes()]
