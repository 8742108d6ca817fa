"""Batch mode: the simulator's Batch API, the batch client, its journal and resume, `run --batch`.

Everything runs against the real simulator over loopback HTTP with short batch delays; money is
checked against the simulator's own books, never against our ledger.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import orjson
import pytest

from asyncgen.batch import BatchClient, BatchJournal, BatchSettings
from asyncgen.batch.api import BatchAPI
from asyncgen.batch.flights import batch_price
from asyncgen.batch.lines import input_file
from asyncgen.cli import main
from asyncgen.commands.report import build_report
from asyncgen.commands.report_text import render_text
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm.budget import Budget
from asyncgen.llm.errors import BudgetExhausted, ContextLengthExceeded, RetriesExhausted
from asyncgen.llm.params import RequestParams
from asyncgen.llm.pricing import worst_case_cost
from asyncgen.rundir import layout, spend
from asyncgen.selfinstruct import prompts
from asyncgen.sim import SimConfig, serve
from asyncgen.sim.books import Books, fetch_totals, read_books
from tests.conftest import sim_process

pytestmark = pytest.mark.anyio
FAST = {"batch_delay_s": 0.1}
QUIET = ["--log-format", "none", "--progress-interval", "1"]
KEY_VARS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def classify(i: int) -> str:
    demo = prompts.Demo("Tell me if the sentence is grammatical.", True, ())
    return prompts.classify_prompt([demo], f"Classify the tone of message number {i}.")


@asynccontextmanager
async def stack(
    tmp: Path, *, sim: SimConfig | None = None, settings: BatchSettings | None = None,
    budget: Budget | None = None, books: Books | None = None, run_id: str = "r1",
) -> AsyncIterator[tuple[BatchClient, str]]:
    """A simulator, a live client and a running batch client journaling into tmp."""
    async with serve(sim or SimConfig(**FAST), books=books) as url:
        config = ProviderConfig(transport="aiohttp", provider="sim", base_url=url)
        async with (
            LLMClient(config, budget=budget) as live,
            BatchAPI(config) as api,
            anyio.create_task_group() as tg,
        ):
            client = BatchClient(
                live, api, BatchJournal(tmp / "batches.jsonl"),
                settings or BatchSettings(size=5, max_wait_s=0.05, poll_interval_s=0.02),
                run_id=run_id, budget=budget,
            )
            await tg.start(client.run)
            yield client, url
            tg.cancel_scope.cancel()


async def gather(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the calls at once; each result, or the exception it raised."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        try:
            results[i] = await calls[i]()
        except Exception as exc:  # noqa: BLE001 (the test inspects it)
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(one, i)
    return results


def journal(tmp: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (tmp / "batches.jsonl").read_bytes().splitlines()]


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(url.replace("/v1", "/sim/stats"))
    body: dict[str, Any] = reply.json()["batches"]
    return body


# --- the simulator's Batch API, through the official openai package ----------------------


async def test_openai_sdk_runs_a_batch_end_to_end() -> None:
    async with serve(SimConfig(**FAST)) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
            body = {"model": "sim-1", "max_tokens": 3, "stop": ["\n"],
                    "messages": [{"role": "user", "content": classify(1)}]}
            data = input_file("/v1/chat/completions", [("a", orjson.dumps(body)),
                                                        ("b", orjson.dumps(body))])
            uploaded = await sdk.files.create(file=("in.jsonl", data), purpose="batch")
            batch = await sdk.batches.create(input_file_id=uploaded.id,
                                             endpoint="/v1/chat/completions",
                                             completion_window="24h")
            assert batch.status == "validating"
            while batch.status not in ("completed", "failed", "expired", "cancelled"):
                await anyio.sleep(0.02)
                batch = await sdk.batches.retrieve(batch.id)
            assert batch.status == "completed" and batch.request_counts is not None
            assert batch.request_counts.completed == 2 and batch.output_file_id
            assert batch.error_file_id is None
            content = await sdk.files.content(batch.output_file_id)
            lines = [orjson.loads(line) for line in content.content.splitlines()]
            assert {line["custom_id"] for line in lines} == {"a", "b"}
            live = await sdk.chat.completions.create(**body)  # same answer as live
            answer = lines[0]["response"]["body"]
            assert answer["choices"][0]["message"]["content"] == live.choices[0].message.content
            live_cost = (live.usage.model_extra or {})["cost"] if live.usage else 0
            assert answer["usage"]["cost"] == pytest.approx(live_cost * 0.5)
            page = await sdk.batches.list(limit=10)
            assert [b.id for b in page.data] == [batch.id]


async def test_simulator_validates_input_lines_and_fails_the_batch() -> None:
    async with serve(SimConfig(**FAST)) as url, httpx.AsyncClient(base_url=url) as http:
        bad = b'{"custom_id": "x", "method": "POST", "url": "/v1/embeddings", "body": {}}\n'
        file_id = (await http.post("/files", data={"purpose": "batch"},
                                   files={"file": ("in.jsonl", bad)})).json()["id"]
        wrong = await http.post("/batches", json={"input_file_id": file_id,
                                                  "endpoint": "/v1/chat/completions",
                                                  "completion_window": "1h"})
        assert wrong.status_code == 400
        batch = (await http.post("/batches", json={"input_file_id": file_id,
                                                   "endpoint": "/v1/chat/completions",
                                                   "completion_window": "24h"})).json()
        while batch["status"] not in ("failed", "completed"):
            await anyio.sleep(0.02)
            batch = (await http.get(f"/batches/{batch['id']}")).json()
        assert batch["status"] == "failed" and batch["errors"]["data"][0]["line"] == 1
        assert (await stats(url))["by_status"] == {"failed": 1}


# --- the batch client ----------------------------------------------------------------------


async def test_requests_are_gathered_by_size_and_age_and_answered_as_live(tmp_path: Path) -> None:
    books = Books()
    async with stack(tmp_path, books=books) as (client, url):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(12)])
        live = await client.live.complete("classify", classify(3))
    assert all(not isinstance(r, Exception) for r in results)
    assert results[3].text == live.text
    sizes = sorted(len(r["lines"]) for r in journal(tmp_path) if r["r"] == "planned")
    assert sizes == [2, 5, 5]  # two full batches by size, the rest by age
    totals = books.totals()
    assert totals["requests"] == 13  # 12 batch lines and one live request
    batch_usd = totals["billed_usd"] - live.usage.cost_usd
    assert batch_usd == pytest.approx(sum(r.usage.cost_usd for r in results))
    assert client.settled_usd == pytest.approx(batch_usd)


async def test_same_body_is_sent_once(tmp_path: Path) -> None:
    async with stack(tmp_path) as (client, url):
        first = await gather([lambda: client.complete("classify", classify(1))] * 4)
        again = await client.complete("classify", classify(1))
        billed = await stats(url)
    assert len({r.text for r in first}) == 1 and again.text == first[0].text
    assert billed["lines_billed"] == 1


async def test_expired_lines_go_in_a_new_batch_and_are_billed_once(tmp_path: Path) -> None:
    sim = SimConfig(batch_delay_s=0.05, batch_expire=0.6, seed=3)
    async with stack(tmp_path, sim=sim, settings=BatchSettings(
            size=4, max_wait_s=0.02, poll_interval_s=0.02, attempts=10)) as (client, url):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(8)])
        billed = await stats(url)
    assert all(not isinstance(r, Exception) for r in results), results
    assert billed["by_status"].get("expired", 0) >= 1
    assert billed["lines_billed"] == 8 and billed["duplicate_bodies"] == 0
    assert client.totals["lines_retried"] >= 2


async def test_failed_batch_is_retried_live(tmp_path: Path) -> None:
    books = Books()
    sim = SimConfig(batch_delay_s=0.05, batch_fail=1.0)
    async with stack(tmp_path, sim=sim, books=books, settings=BatchSettings(
            size=3, max_wait_s=0.02, poll_interval_s=0.02, retry="live")) as (client, url):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(3)])
    assert all(not isinstance(r, Exception) for r in results)
    assert client.totals["requests_live"] == 3
    assert books.totals()["requests"] == 3  # the failed batch billed nothing


async def test_error_file_lines_fail_after_their_attempts(tmp_path: Path) -> None:
    sim = SimConfig(batch_delay_s=0.02, batch_line_error=1.0)
    async with stack(tmp_path, sim=sim, settings=BatchSettings(
            size=2, max_wait_s=0.02, poll_interval_s=0.02, attempts=2)) as (client, url):
        results = await gather([lambda i=i: client.complete("classify", classify(i))
                                for i in range(2)])
    assert all(isinstance(r, RetriesExhausted) for r in results)
    collected = [r for r in journal(tmp_path) if r["r"] == "collected"]
    assert len(collected) == 2
    assert all(v.get("s") == 500 for v in collected[0]["results"].values())


async def test_a_400_line_fails_its_request_at_once(tmp_path: Path) -> None:
    async with stack(tmp_path) as (client, url):
        too_long = RequestParams(max_tokens=40_000)
        [oversized] = await gather([lambda: client.complete("classify", classify(9), too_long)])
    assert isinstance(oversized, ContextLengthExceeded)  # not retried
    assert len([r for r in journal(tmp_path) if r["r"] == "collected"]) == 1


async def test_budget_reserves_each_batch_and_never_overspends(tmp_path: Path) -> None:
    books = Books()
    live_price = LLMClient(ProviderConfig(transport="aiohttp", provider="sim", base_url="http://x/v1")).price
    assert live_price is not None
    worst = sum(worst_case_cost(batch_price(live_price, 0.5), classify(i), 3) for i in range(4))
    budget = Budget(worst * 1.5)  # one batch of 4 fits, a second does not while it is in flight
    seen: list[float] = []
    async with stack(tmp_path, books=books, budget=budget, settings=BatchSettings(
            size=4, max_wait_s=0.02, poll_interval_s=0.02)) as (client, url):

        async def watch() -> None:
            while True:
                seen.append(budget.reserved_usd + budget.spent_usd)
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            results = await gather([lambda i=i: client.complete("classify", classify(i))
                                    for i in range(40)])
            tg.cancel_scope.cancel()
    answered = [r for r in results if not isinstance(r, Exception)]
    assert answered and any(isinstance(r, BudgetExhausted) for r in results)
    assert max(seen) <= budget.limit_usd + 1e-12
    assert books.totals()["billed_usd"] <= budget.limit_usd
    assert budget.spent_usd == pytest.approx(books.totals()["billed_usd"])


# --- resume at each batch state ------------------------------------------------------------


async def test_resume_reattaches_a_batch_in_progress_and_pays_nothing_twice(
        tmp_path: Path) -> None:
    sim = SimConfig(batch_delay_s=0.5)
    books = Books()
    async with serve(sim, books=books) as url:
        config = ProviderConfig(transport="aiohttp", provider="sim", base_url=url)
        settings = BatchSettings(size=3, max_wait_s=0.01, poll_interval_s=0.02)
        async with LLMClient(config) as live, BatchAPI(config) as api:
            with anyio.move_on_after(0.25):  # "killed" while the batch is in progress
                async with anyio.create_task_group() as tg:
                    first = BatchClient(live, api, BatchJournal(tmp_path / "batches.jsonl"),
                                        settings, run_id="r1")
                    await tg.start(first.run)
                    await gather([lambda i=i: first.complete("classify", classify(i))
                                  for i in range(3)])
            assert [r["r"] for r in journal(tmp_path)] == ["planned", "uploaded", "submitted"]
            async with anyio.create_task_group() as tg:
                second = BatchClient(live, api, BatchJournal(tmp_path / "batches.jsonl"),
                                     settings, run_id="r2")
                await tg.start(second.run)
                assert second.totals["batches_reattached"] == 1
                again = await gather([lambda i=i: second.complete("classify", classify(i))
                                      for i in range(3)])
                tg.cancel_scope.cancel()
            async with anyio.create_task_group() as tg:  # a third run reuses collected answers
                third = BatchClient(live, api, BatchJournal(tmp_path / "batches.jsonl"),
                                    settings, run_id="r3")
                await tg.start(third.run)
                reused = await third.complete("classify", classify(0))
                tg.cancel_scope.cancel()
    assert all(not isinstance(r, Exception) for r in again)
    assert reused.text == again[0].text and third.totals["reused"] == 1
    assert books.totals()["requests"] == 3 and books.totals()["pending"] == 0


async def test_resume_finds_a_batch_created_but_not_journaled(tmp_path: Path) -> None:
    books = Books()
    async with serve(SimConfig(**FAST), books=books) as url:
        config = ProviderConfig(transport="aiohttp", provider="sim", base_url=url)
        settings = BatchSettings(size=2, max_wait_s=0.01, poll_interval_s=0.02)
        async with LLMClient(config) as live, BatchAPI(config) as api:
            log = BatchJournal(tmp_path / "batches.jsonl")
            params = live.config.params["classify"]
            bodies = [live.body(classify(i), params) for i in range(2)]
            keys = [hashlib.blake2b(b, digest_size=16).hexdigest() for b in bodies]
            log.planned("old-1", "classify", "/v1/chat/completions", 0.0,
                        [("old-1-0", keys[0], None), ("old-1-1", keys[1], None)])
            lines = zip(["old-1-0", "old-1-1"], bodies, strict=True)
            file_id = await api.upload(input_file("/v1/chat/completions", lines), "x")
            log.uploaded("old-1", file_id)
            await api.create(file_id, "/v1/chat/completions", {})  # "killed" before journaling
            log.planned("old-2", "classify", "/v1/chat/completions", 0.0, [("old-2-0", "k", None)])
            file_2 = await api.upload(b"{}\n", "y")
            log.uploaded("old-2", file_2)  # uploaded, never created
            log.planned("old-3", "classify", "/v1/chat/completions", 0.0, [("old-3-0", "j", None)])
            log.close()
            async with anyio.create_task_group() as tg:
                client = BatchClient(live, api, log, settings, run_id="r2")
                await tg.start(client.run)
                results = await gather([lambda i=i: client.complete("classify", classify(i))
                                        for i in range(2)])
                tg.cancel_scope.cancel()
    assert all(not isinstance(r, Exception) for r in results)
    assert books.totals()["requests"] == 2  # found, followed, not created again
    states = {(r["r"], r["seq"]) for r in journal(tmp_path)}
    assert ("submitted", "old-1") in states and ("collected", "old-1") in states
    assert ("abandoned", "old-2") in states and ("abandoned", "old-3") in states


# --- asyncgen run --batch ------------------------------------------------------------------


def _run_args(out: Path, url: str, target: int, *extra: str) -> list[str]:
    return ["run", "--out", str(out), "--provider", "sim", "--base-url", url,
            "--target-instructions", str(target), "--batch", "--batch-stages", "all",
            "--batch-max-wait", "0.2",
            "--batch-poll-interval", "0.05", *QUIET, *extra]


def test_run_batch_reaches_the_target_through_batches(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    with sim_process("--batch-delay-s", "0.2", "--books", str(books)) as url:
        out = tmp_path / "out"
        assert main(_run_args(out, url, 30)) == 0
        totals = fetch_totals(url)
    tasks = [orjson.loads(line) for line in (out / "tasks.jsonl").read_bytes().splitlines()]
    assert 30 <= len(tasks) <= 30 + 15  # jobs already classified at the target are finished
    lines = list(read_books(books))
    batched = sum(1 for line in lines if str(line["endpoint"]).startswith("batch:"))
    assert batched / len(lines) >= 0.95
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    progress = [e for e in events if e["event"] == "run.progress"]
    assert any("batches" in e for e in progress) or events[-1]["event"] == "run.finished"
    spent = sum(e.get("cost_usd") or 0 for e in events if str(e["event"]).startswith("request."))
    assert spent == pytest.approx(totals["billed_usd"], rel=1e-6)
    report = build_report([], events)
    assert set(report["requests"]["via"]) == {"batch"}
    assert report["requests"]["via"]["batch"]["cost_usd"] == pytest.approx(spent)


def test_kill_9_during_batches_then_resume_pays_no_body_twice(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    with sim_process("--batch-delay-s", "1.0", "--books", str(books)) as url:
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "asyncgen", *_run_args(out, url, 40)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # kill once a batch is submitted, not collected
            path = out / "batches.jsonl"
            records = [orjson.loads(x) for x in path.read_bytes().splitlines()] \
                if path.exists() else []
            kinds = [r["r"] for r in records]
            if kinds.count("submitted") > kinds.count("collected") and "collected" in kinds:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert main(_run_args(out, url, 40)) == 0
        fetch_totals(url)
    tasks = (out / "tasks.jsonl").read_bytes().splitlines()
    assert len(tasks) >= 40  # and every job classified before the kill is finished
    digests = [line["body_digest"] for line in read_books(books) if "body_digest" in line]
    assert digests and len(digests) == len(set(digests))
    billed = sum(float(line["cost_usd"]) for line in read_books(books))
    assert spend.recover(out / layout.SPEND_FILE).figure_usd >= billed - 1e-9  # held counted
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    assert any(e["event"] == "batch.reattached" for e in events)


def test_generation_answers_of_a_reattached_batch_nobody_asks_for_again_are_used(
        tmp_path: Path) -> None:
    """Issue 20: kill -9 while a generation batch is in progress, after tasks are committed
    (so that the resumed run samples other prompts and asks none of its bodies again); its
    answers come back after the resume and are parsed, not dropped: every generation line the
    simulator billed has its candidate.parsed event, and no body is billed twice."""
    books = tmp_path / "books.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    with sim_process("--batch-delay-s", "1.5", "--books", str(books)) as url:
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "asyncgen", *_run_args(out, url, 60)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # a generation batch submitted, not collected
            path, tasks = out / "batches.jsonl", out / "tasks.jsonl"
            records = [orjson.loads(x) for x in path.read_bytes().splitlines()] \
                if path.exists() else []
            generation = {r["seq"] for r in records if r.get("stage") == "instructions"}
            open_seqs = {r["seq"] for r in records if r["r"] == "submitted"} - {
                r["seq"] for r in records if r["r"] == "collected"}
            if generation & open_seqs and tasks.exists() and tasks.stat().st_size:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert main(_run_args(out, url, 60)) == 0
        fetch_totals(url)
    lines = list(read_books(books))
    digests = [line["body_digest"] for line in lines if "body_digest" in line]
    assert digests and len(digests) == len(set(digests))  # no body billed twice
    generated = sum(1 for line in lines if line["kind"] == "instructions")
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    parsed = [e for e in events if e["event"] == "candidate.parsed"]
    assert any(e.get("adopted") for e in parsed), "no orphan was left: the test proves nothing"
    assert len(parsed) >= generated, (len(parsed), generated)


def test_batch_sends_each_stage_where_it_costs_less(tmp_path: Path) -> None:
    """Issue 20: batch lines not cached (OpenAI's way), so the prompt cache makes the
    classification and instance prompts cheaper live; generation (no fixed prefix) is cheaper
    in batches. run.finished says per stage which transport and why."""
    books = tmp_path / "books.jsonl"
    with sim_process("--batch-delay-s", "0.2", "--books", str(books)) as url:
        out = tmp_path / "out"
        args = [a for a in _run_args(out, url, 40) if a not in ("--batch-stages", "all")]
        assert main(args) == 0
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    finished = [e for e in events if e["event"] == "run.finished"][-1]
    transports = finished["batches"]["transports"]
    assert transports["instructions"]["via"] == "batch", transports
    assert transports["classify"]["via"] == "live", transports
    assert transports["instances"]["via"] == "live", transports
    kinds = {(line["kind"], str(line["endpoint"]).startswith("batch:"))
             for line in read_books(books)}
    assert ("instructions", True) in kinds and ("classify", False) in kinds
    # `report` says it too, with the cost per request measured on each transport
    report = build_report([], events)
    rows = report["requests"]["transports"]
    assert {stage: row["via"] for stage, row in rows.items()} == {
        "instructions": "batch", "classify": "live", "instances": "live"}, rows
    classify = rows["classify"]
    assert classify["why"] == transports["classify"]["why"]
    assert classify["batch_requests"] and classify["live_requests"], classify
    assert classify["live_usd_per_request"] < classify["batch_usd_per_request"], classify
    text = render_text(report)
    assert "transport per stage" in text and transports["classify"]["why"] in text


def test_a_stopping_run_leaves_reattached_generation_batches_to_the_next_run(
        tmp_path: Path) -> None:
    """Issue 20: a resumed run that stops (here for its budget, at once) while a generation
    batch the killed run left is still in progress ends promptly and cleanly: it does not
    wait for that batch to its drain deadline, which would cut the run short. The batch stays
    in the batches journal, not collected; the next run re-attaches to it and uses its
    answers (a candidate.parsed for every generation line billed), and no body is billed
    twice."""
    books = tmp_path / "books.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    out = tmp_path / "out"
    path = out / "batches.jsonl"

    def records() -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in path.read_bytes().splitlines()] if path.exists() else []

    def open_generation() -> set[str]:
        done = records()
        return {r["seq"] for r in done if r.get("stage") == "instructions"} & (
            {r["seq"] for r in done if r["r"] == "submitted"}
            - {r["seq"] for r in done if r["r"] == "collected"})

    with sim_process("--batch-delay-s", "8", "--books", str(books)) as url:
        proc = subprocess.Popen([sys.executable, "-m", "asyncgen", *_run_args(out, url, 60)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not open_generation():
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        left = open_generation()
        assert left, "no generation batch in progress at the kill: the test proves nothing"
        # what it spent (its batch's hold included) is past this budget: it stops at once
        assert main(_run_args(out, url, 60, "--budget-usd", "0.0001", "--drain-timeout",
                              "20")) == 0
        events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
        start = max(i for i, e in enumerate(events) if e["event"] == "run.started")
        second = events[start:]
        stopping = next(e for e in second if e["event"] == "run.stopping")
        finished = next(e for e in second if e["event"] == "run.finished")
        assert stopping["reason"] == finished["reason"] == "budget"
        assert any(e["event"] == "batch.reattached" for e in second)
        waited = _seconds(finished["timestamp"]) - _seconds(stopping["timestamp"])
        assert waited < 3, waited  # not the batch's remaining seconds, nor the drain's 20
        assert open_generation() >= left, "the batch was collected: the test proves nothing"
        assert main(_run_args(out, url, 1)) == 0
        fetch_totals(url)
    assert not open_generation()
    lines = list(read_books(books))
    digests = [line["body_digest"] for line in lines if "body_digest" in line]
    assert digests and len(digests) == len(set(digests))  # no body billed twice
    generated = sum(1 for line in lines if line["kind"] == "instructions")
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    parsed = [e for e in events if e["event"] == "candidate.parsed"]
    assert len(parsed) >= generated, (len(parsed), generated)


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
