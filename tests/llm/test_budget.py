"""The budget ledger: reserve worst case, settle actual, never spend past the limit."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncgen.errors import UsageError
from asyncgen.jsonl import last_line
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm import errors as e
from asyncgen.llm.budget import (
    PROMPT_OVERHEAD_TOKENS,
    Budget,
    BudgetExhausted,
    JournalFailed,
    worst_case_cost,
)
from asyncgen.llm.pricing import Price
from asyncgen.rundir import layout, spend
from asyncgen.sim.books import Books, billed_usd, fetch_totals, read_books
from tests.conftest import sim_process

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


# --- the spend journal ---------------------------------------------------------------------


def test_every_reservation_is_journaled_before_it_is_held_and_the_last_line_is_the_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / layout.SPEND_FILE
    journal = spend.SpendJournal.resume(path)
    journal.started("r1", 0.5)
    budget = Budget(1.0, spent_usd=0.5, journal=journal)
    first = budget.reserve(0.1)
    second = budget.reserve(0.2)
    assert spend.recover(path) == spend.Recovered(0.5, pytest.approx(0.3), journaled=True)
    budget.settle(first, 0.04)
    state = spend.recover(path)
    assert (state.spent_usd, state.held_usd) == (pytest.approx(0.54), pytest.approx(0.2))
    assert state.figure_usd == budget.spend_usd == pytest.approx(0.74)  # second counts whole
    journal.close()
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(line.get("r"), line.get("s")) for line in lines] == [
        (None, None), (1, None), (2, None), (None, 1),
    ]
    assert second.number == 2 and not second.settled


def test_a_resumed_ledger_starts_from_the_spent_and_held_money(tmp_path: Path) -> None:
    path = tmp_path / layout.SPEND_FILE
    journal = spend.SpendJournal.resume(path)
    Budget(None, journal=journal).reserve(0.25)  # killed with it in flight: never settled
    journal.close()
    prior = spend.recover(path).figure_usd
    assert prior == 0.25
    journal = spend.SpendJournal.resume(path)
    journal.started("r2", prior)
    budget = Budget(0.3, spent_usd=prior, journal=journal)
    with pytest.raises(BudgetExhausted):
        budget.reserve(0.06)
    budget.settle(budget.reserve(0.05), 0.01)
    journal.close()
    assert spend.recover(path).figure_usd == budget.spend_usd == 0.26


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 16])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", None),
        (b'{"spent": 1, "he', None),  # one torn line and nothing else
        (b'{"spent": 1, "held": 0}', 1.0),  # whole but for its newline: kept (asyncgen.jsonl)
        (b'{"spent": 1, "held": 0}\n{"spent": 2, "held": 0}', 2.0),
        (b'{"spent": 1, "held": 0}\n', 1.0),
        (b'{"spent": 1, "held": 0}\n{"spent": 2, "held": 0.5}\n', 2.5),
        (b'{"spent": 1, "held": 0}\n{"spent": 2, "he', 1.0),  # a torn tail is ignored
        (b'{"spent": 1, "held": 0}\n' * 50 + b'{"spent": 3, "held": 1}\n{"sp', 4.0),
    ],
)
def test_recovery_reads_the_last_whole_line_from_the_end(
    tmp_path: Path, chunk: int, content: bytes, expected: float | None
) -> None:
    path = tmp_path / layout.SPEND_FILE
    path.write_bytes(content)
    raw = last_line(path, chunk)
    state = spend.recover(path)
    assert (state.figure_usd if state.journaled else None) == expected
    assert (raw is None) == (expected is None)
    assert path.read_bytes() == content  # recovery writes nothing


def test_recovery_refuses_a_file_asyncgen_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / layout.SPEND_FILE
    path.write_bytes(b'{"cost": 3}\n')
    with pytest.raises(UsageError, match="not a spend record"):
        spend.recover(path)


def test_a_journal_that_cannot_be_written_stops_spending(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    journal = spend.SpendJournal(Path("/dev/full"))  # every write fails with ENOSPC
    budget = Budget(1.0, journal=journal)
    with pytest.raises(JournalFailed, match="spend journal"):
        budget.reserve(0.1)
    assert budget.reserved_usd == 0.0 and budget.spend_usd == 0.0  # nothing was risked
    with pytest.raises(JournalFailed):
        budget.reserve(0.0)


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


# --- against the simulator's own books ------------------------------------------------------

sim = pytest.importorskip("asyncgen.sim")


async def settled(books: Books) -> dict[str, Any]:
    """The books once every billed request has ended (hangs included)."""
    with anyio.fail_after(10):
        while (totals := books.totals())["pending"]:  # noqa: ASYNC110 (polling a counter)
            await anyio.sleep(0.02)
    return totals


async def spend_until_stopped(client: LLMClient, rng: random.Random, seen: Counter[str]) -> None:
    """One worker: requests of random sizes until the budget refuses."""
    while True:
        prompt = "Come up with a series of tasks:\n1. " + "word " * rng.randint(10, 400)
        try:
            await client.complete("instructions", prompt)
            seen["ok"] += 1
        except BudgetExhausted:
            seen["budget"] += 1
            return
        except e.ItemError as err:
            seen[err.kind] += 1


async def test_the_provider_never_bills_past_the_cap_and_the_journal_never_below_it(
    tmp_path: Path,
) -> None:
    limit = 0.1
    path = tmp_path / layout.SPEND_FILE
    journal = spend.SpendJournal.resume(path)
    budget = Budget(limit, journal=journal)
    books = Books(tmp_path / "books.jsonl")
    config = sim.SimConfig(seed=21, fail_5xx=0.1, fail_200_error=0.1, fail_malformed=0.05,
                           fail_hang=0.03, fail_reset=0.03)
    seen: Counter[str] = Counter()
    async with sim.serve(config, books=books) as url:
        provider = ProviderConfig(transport="aiohttp", 
            provider="sim", base_url=url, max_concurrency=24, max_attempts=5, timeout_s=0.5
        )
        async with LLMClient(provider, budget=budget) as client:
            with anyio.fail_after(50):
                async with anyio.create_task_group() as tg:
                    for n in range(24):
                        tg.start_soon(spend_until_stopped, client, random.Random(n), seen)
        totals = await settled(books)
    journal.close()
    billed = totals["billed_usd"]
    assert seen["budget"] == 24 and seen["ok"] > 50, seen
    assert totals["outcomes"]["fault:hang"] and totals["outcomes"]["fault:reset"], totals
    assert budget.reserved_usd == 0.0 and budget.overrun_usd == 0.0
    assert billed <= budget.spend_usd <= limit  # timeouts and resets settled pessimistically
    assert billed > 0.5 * limit  # the cap stopped the run, not something else
    assert spend.recover(path).figure_usd == budget.spend_usd


async def test_attempts_cancelled_in_flight_are_journaled_at_their_reservation(
    tmp_path: Path,
) -> None:
    path = tmp_path / layout.SPEND_FILE
    journal = spend.SpendJournal.resume(path)
    budget = Budget(None, journal=journal)  # no cap: the spend is still journaled
    books = Books()
    seen: Counter[str] = Counter()
    async with sim.serve(sim.SimConfig(seed=3, latency_ms=150, latency_spread_ms=100),
                         books=books) as url:
        provider = ProviderConfig(transport="aiohttp",
                                  provider="sim", base_url=url, max_concurrency=16)
        async with LLMClient(provider, budget=budget) as client:
            with anyio.move_on_after(0.8):  # a stop that cancels requests in flight
                async with anyio.create_task_group() as tg:
                    for n in range(16):
                        tg.start_soon(spend_until_stopped, client, random.Random(n), seen)
        totals = await settled(books)
    journal.close()
    state = spend.recover(path)
    assert totals["outcomes"].get("client_gone", 0) > 0, totals  # the provider billed them
    assert state.held_usd == 0.0 and state.figure_usd == budget.spend_usd
    assert totals["billed_usd"] <= budget.spend_usd
    assert budget.spend_usd > totals["billed_usd"] + 0.5 * (  # the cancelled ones at worst case
        totals["outcomes"]["client_gone"] * worst_case_cost(Price(0.5, 1.5), "", 256))


# --- whole runs: kills, timeouts and resumes, against the provider's books -------------------

KILL_AT_S = 5.0


def _run_argv(out: Path, url: str, budget: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--budget-usd", budget, "--target-instructions", "100000",
            "--log-format", "none", "--progress-interval", "1", *extra]


def _finished(out: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()
            if b'"run.finished"' in line]


def _report(out: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "asyncgen", "report", str(out), "--json"],
                            capture_output=True, check=True, timeout=60)
    return dict(orjson.loads(result.stdout))


def test_cap_holds_at_the_provider_across_hangs_a_kill_9_and_two_resumes(
    tmp_path: Path,
) -> None:
    """Issue 8's scenario: $0.05, 5% hangs, --timeout 2, kill -9 at ~5 s, two resumes."""
    limit = 0.05
    out, books = tmp_path / "out", tmp_path / "books.jsonl"
    with sim_process("--books", str(books), "--fail-hang", "0.05", "--latency-ms", "150",
                     "--latency-spread-ms", "75", "--seed", "5") as url:
        argv = _run_argv(out, url, str(limit), "--timeout", "2", "--max-concurrency", "12")
        first = subprocess.Popen(argv)
        deadline = time.monotonic() + KILL_AT_S
        while time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)  # kill mid-run: at 5 s, or sooner on a fast machine
            if spend.recover(out / layout.SPEND_FILE).figure_usd > 0.6 * limit:
                break
        first.kill()
        assert first.wait() == -signal.SIGKILL
        assert not (out / "events.jsonl").exists() or not _finished(out)  # killed mid-run
        at_kill = spend.recover(out / layout.SPEND_FILE)
        assert at_kill.held_usd > 0  # requests were in flight: held, never settled
        assert at_kill.figure_usd >= fetch_totals(url)["billed_usd"]
        for _ in range(2):
            assert subprocess.run(argv, timeout=60).returncode == 0
        totals = fetch_totals(url)
    billed = totals["billed_usd"]
    finished = _finished(out)
    report = _report(out)
    assert [f["reason"] for f in finished] == ["budget", "budget"]
    started = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()
               if b'"run.started"' in line]
    # held money counted as spent, except the reservations whose answers the courier kept:
    # those are settled at what the provider billed
    rescued = started[-2]["rescued"]["settled_usd"]
    assert rescued <= 0
    assert started[-2]["prior_cost_usd"] == pytest.approx(at_kill.figure_usd + rescued, abs=1e-9)
    assert totals["outcomes"]["fault:hang"] > 0, totals
    assert billed <= limit  # the cap holds at the provider
    assert report["cost_usd"] == finished[-1]["cost_usd_all_runs"] <= limit
    # a timed-out request counts a cached-aware bound (the part of its prompt the provider
    # has been caching at the cached price, max_tokens completion), or its worst case
    assert billed <= report["cost_usd"] <= 1.3 * billed + 0.005, (billed, report["cost_usd"])
    assert billed == pytest.approx(billed_usd(books))  # the books' lines agree with their totals
    # issue 20: the budget finishes what it starts, and the cap is used, not stranded
    classified = sum(1 for line in read_books(books)
                     if line["kind"] == "classify" and line["outcome"] == "answered")
    tasks = len((out / "tasks.jsonl").read_bytes().splitlines())
    assert classified and tasks >= 0.8 * classified, (tasks, classified)


def test_a_run_whose_journal_cannot_be_written_stops_before_anything_is_sent(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    from asyncgen.cli import main
    from asyncgen.rundir.record import read_record, write_record

    out = tmp_path / "out"
    out.mkdir()
    write_record(out, read_record(out), {"run_id": "earlier", "settings": {}})  # asyncgen's dir
    (out / layout.SPEND_FILE).symlink_to("/dev/full")
    assert main(["run", "--out", str(out), "--provider", "sim", "--base-url",
                 "http://127.0.0.1:9/v1", "--target-instructions", "5",
                 "--log-format", "none"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "spend journal" in err
    assert not (out / "events.jsonl").exists() and not (out / "tasks.jsonl").exists()
