"""The cost model and the plan: a budget that finishes what it starts.

Unit tests for asyncgen.llm.costs and asyncgen.llm.budget.Plan, then whole runs against the
simulator's own books (its lines carry the kind of prompt it answered, so classifications are
counted there, not in anything asyncgen writes).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from asyncgen import sim
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm import errors as e
from asyncgen.llm.budget import Budget, Plan
from asyncgen.llm.costs import MARGIN, MEASURED_AFTER, CostModel, unknown_cost_bound
from asyncgen.llm.pricing import Price, Usage
from asyncgen.selfinstruct.demos import load_demos
from asyncgen.selfinstruct.prompts import classify_prompt, split_fixed
from asyncgen.sim.books import Books, fetch_totals, read_books
from tests.conftest import sim_process

PRICE = Price(0.50, 1.50, 0.05)  # the simulator's


def _usage(prompt: int, cached: int, completion: int) -> Usage:
    return Usage(prompt, completion, PRICE.cost(prompt, completion, cached), cached_tokens=cached)


def test_the_prior_stands_until_a_stage_is_measured_then_its_mean() -> None:
    costs = CostModel(PRICE)
    costs.prior("instances", 0.001)
    assert costs.expected_usd("instances") == 0.001 and not costs.known("instances")
    for _ in range(MEASURED_AFTER):
        costs.observe("instances", _usage(1500, 1380, 44))
    assert costs.known("instances")
    assert costs.expected_usd("instances") == pytest.approx(PRICE.cost(1500, 44, 1380))
    assert costs.planned_usd("instances") == pytest.approx(MARGIN * PRICE.cost(1500, 44, 1380))
    assert costs.measured("instances").cached_share == pytest.approx(1380 / 1500)
    # batch, unmeasured: the live mean with nothing cached, at the discount
    assert costs.expected_usd("instances", "batch") == pytest.approx(
        0.5 * PRICE.cost(1500, 44))
    costs.observe("classify", Usage(10, 1, None))  # no cost known: teaches nothing
    assert costs.measured("classify").responses == 0


def test_unknown_cost_is_bounded_with_the_cached_part_at_the_cached_price() -> None:
    bound = unknown_cost_bound(PRICE, 1500, 1380, 300)
    assert bound == pytest.approx(((1500 - 1380) * 0.5 + 1380 * 0.05 + 300 * 1.5) / 1e6)
    assert bound < PRICE.cost(1500, 300)  # the uncached worst case
    assert unknown_cost_bound(PRICE, 100, 500, 3) == pytest.approx(PRICE.cost(100, 3, 100))


def _measured_model() -> CostModel:
    costs = CostModel(PRICE)
    for _ in range(MEASURED_AFTER):
        costs.observe("classify", _usage(1200, 1100, 1))
        costs.observe("instances", _usage(1500, 1380, 50))
        costs.observe("instructions", _usage(150, 0, 160))
    costs.reserving("instances", 0.0012)
    return costs


def test_a_job_is_held_only_when_finishing_it_fits_and_holds_are_given_back() -> None:
    costs = _measured_model()
    budget = Budget(0.01)
    plan = Plan(budget, costs)
    job = plan.job_usd()
    assert plan.floor_usd() == 0.0012
    holds = []
    while (hold := plan.job()) is not None:
        holds.append(hold)
    assert len(holds) == int((0.01 - 0.0012) / job)  # each job fits with the floor kept
    assert plan.free_usd() < job and not plan.fits_job()
    plan.release(holds[0], "classify")
    assert plan.held_usd == pytest.approx(job * len(holds) - costs.planned_usd("classify"))
    plan.release(holds[0])  # the rest of it
    plan.release(holds[0])  # nothing left: nothing more given back
    assert plan.held_usd == pytest.approx(job * (len(holds) - 1))
    assert plan.job() is not None  # room again
    # spending counts too: a settled attempt takes what it cost from the free money
    before = plan.free_usd()
    budget.settle(budget.reserve(0.001), 0.0005)
    assert plan.free_usd() == pytest.approx(before - 0.0005)


def test_a_generation_holds_the_jobs_it_is_expected_to_bring() -> None:
    costs = _measured_model()
    plan = Plan(Budget(0.01), costs)
    need = costs.planned_usd("instructions") + 5 * plan.job_usd()
    assert plan.fits_generation(5) == (need <= plan.free_usd())
    hold = plan.generation(5)
    assert hold is not None and hold.usd == pytest.approx(need)
    unmeasured = Plan(Budget(0.01), CostModel(PRICE))  # one job while a job's cost is a guess
    unmeasured.costs.prior("classify", 0.001)
    assert unmeasured.generation(7) is not None and unmeasured.held_usd == pytest.approx(
        0.001 * MARGIN)


def test_without_a_cap_every_hold_is_granted_and_nothing_is_held() -> None:
    plan = Plan(Budget(None), _measured_model())
    assert plan.job() is not None and plan.generation(100) is not None
    assert plan.labelled_job() is not None and plan.held_usd == 0.0


# --- whole runs against the simulator's books ---------------------------------------------

def _run(out: Path, url: str, *extra: str) -> None:
    argv = [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
            "--base-url", url, "--log-format", "none", *extra]
    assert subprocess.run(argv, timeout=50).returncode == 0


def _tasks(out: Path) -> int:
    path = out / "tasks.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_a_small_budget_buys_finished_tasks(tmp_path: Path) -> None:
    """Issue 20: `--budget-usd 0.02`, a 150 ms provider. The books: billed <= $0.02, >= 90%
    of the classified jobs committed, and >= 60% of the tasks $0.02 buys at a clean run's
    cost per task on the same (fresh) server."""
    limit = 0.02
    clean, capped = tmp_path / "clean", tmp_path / "capped"
    with sim_process("--latency-ms", "150", "--seed", "7") as url:
        _run(clean, url, "--target-instructions", "40")
        per_task = fetch_totals(url)["billed_usd"] / _tasks(clean)
    shutil.rmtree(clean)
    books = tmp_path / "books.jsonl"
    with sim_process("--books", str(books), "--latency-ms", "150", "--seed", "7") as url:
        _run(capped, url, "--budget-usd", str(limit), "--target-instructions", "100000")
        billed = fetch_totals(url)["billed_usd"]
    kinds = Counter(line["kind"] for line in read_books(books) if line["outcome"] == "answered")
    tasks = _tasks(capped)
    assert billed <= limit
    assert kinds["classify"] > 0 and tasks >= 0.9 * kinds["classify"], (tasks, kinds)
    assert tasks >= 0.6 * limit / per_task, (tasks, per_task)


# --- attempts of unknown cost, against the books ------------------------------------------

@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _classify_until(client: LLMClient, rng: random.Random, n: int) -> None:
    """`n` classification requests after the fixed demonstrations (a cached prefix)."""
    demos = load_demos()
    for _ in range(n):
        instruction = "Is this sentence about " + " ".join(
            rng.choice(("cats", "rain", "taxes", "songs", "rivers")) for _ in range(6)) + "?"
        with contextlib.suppress(e.ItemError):
            await client.complete("classify", classify_prompt(demos.classify, instruction))


@pytest.mark.anyio
async def test_a_hung_attempt_settles_at_the_cached_aware_bound_never_below_the_bill() -> None:
    budget = Budget(1.0)
    books = Books()
    config = sim.SimConfig(seed=4, fail_hang=0.2)
    async with sim.serve(config, books=books) as url:
        provider = ProviderConfig(provider="sim", base_url=url, max_concurrency=4,
                                  transport="aiohttp",
                                  max_attempts=1, timeout_s=0.3)
        async with LLMClient(provider, budget=budget, costs=CostModel(PRICE),
                             split=split_fixed) as client:
            await _classify_until(client, random.Random(1), 5)  # the prefix gets cached
            with anyio.fail_after(50):
                async with anyio.create_task_group() as tg:
                    for n in range(4):
                        tg.start_soon(_classify_until, client, random.Random(n + 2), 15)
        with anyio.fail_after(10):
            while (totals := books.totals())["pending"]:  # noqa: ASYNC110 (polling a counter)
                await anyio.sleep(0.02)
    hangs = totals["outcomes"]["fault:hang"]
    billed = totals["billed_usd"]
    assert hangs >= 3, totals
    assert budget.spend_usd >= billed  # never below the bill
    # settled at their reservations (the prompt uncached, ~0.0006 each) the hangs would add
    # ~0.0005 each above their bill; at the cached-aware bound, the uncached tail of the
    # prompt bound (a token per byte after the prefix, the template's overhead): ~0.0001
    assert budget.spend_usd - billed < 0.0002 * hangs, (budget.spend_usd, billed, hangs)


def test_each_stage_takes_the_transport_that_costs_it_less() -> None:
    from asyncgen.llm.costs import BATCH_PROBES, choose_transport

    costs = CostModel(PRICE)
    assert choose_transport(costs, "classify", batch_probes=0).via == "batch"  # to measure it
    assert choose_transport(costs, "classify", batch_probes=BATCH_PROBES).via == "live"
    assert choose_transport(costs, "classify", batch_probes=0, forced=True).why.startswith(
        "forced")
    for _ in range(MEASURED_AFTER):
        costs.observe("classify", _usage(1200, 1100, 1))  # live: the prefix is cached
        costs.observe("instructions", _usage(150, 0, 160))
        # batch lines at half the price, not cached (OpenAI does not promise it)
        costs.observe("classify", Usage(1200, 1, PRICE.cost(1200, 1) / 2), "batch")
        costs.observe("instructions", Usage(150, 160, PRICE.cost(150, 160) / 2), "batch")
    choice = choose_transport(costs, "classify", batch_probes=BATCH_PROBES)
    assert choice.via == "live" and "prompt cache" in choice.why
    assert choice.batch_usd is not None and choice.live_usd is not None
    assert choice.live_usd < choice.batch_usd
    assert choose_transport(costs, "instructions", batch_probes=BATCH_PROBES).via == "batch"
    cached = CostModel(PRICE)  # a provider that caches batch lines too: batch wins
    for _ in range(MEASURED_AFTER):
        cached.observe("classify", _usage(1200, 1100, 1))
        cached.observe("classify", Usage(1200, 1, PRICE.cost(1200, 1, 1100) / 2,
                                         cached_tokens=1100), "batch")
    assert choose_transport(cached, "classify", batch_probes=BATCH_PROBES).via == "batch"


def test_batch_lines_cheaper_than_any_live_request_decide_before_live_is_measured() -> None:
    """Batch lines served from the cache, at the discount, cost less than a live request of
    the same tokens could even with its whole prompt cached: batch at once, no live request
    sent to measure live. Lines not cached do not: live is measured first."""
    from asyncgen.llm.costs import BATCH_PROBES, choose_transport

    cached, uncached = CostModel(PRICE), CostModel(PRICE)
    for _ in range(MEASURED_AFTER):
        cached.observe("classify", Usage(1200, 1, PRICE.cost(1200, 1, 1100) / 2,
                                         cached_tokens=1100), "batch")
        uncached.observe("classify", Usage(1200, 1, PRICE.cost(1200, 1) / 2), "batch")
    choice = choose_transport(cached, "classify", batch_probes=BATCH_PROBES)
    assert choice.via == "batch" and "whole prompt cached" in choice.why, choice
    assert choice.live_usd == pytest.approx(PRICE.cost(1200, 1, 1200))
    choice = choose_transport(uncached, "classify", batch_probes=BATCH_PROBES)
    assert choice.via == "live" and choice.why == "measuring the live cost", choice
