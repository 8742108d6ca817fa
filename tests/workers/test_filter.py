"""The filter shares the event loop: it yields between verdicts once it has held it a slice."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from asyncgen.llm.budget import Budget, Plan
from asyncgen.llm.costs import MEASURED_AFTER, CostModel
from asyncgen.llm.pricing import Price, Usage
from asyncgen.novelty.pool import Pool, TaskStore, load_seeds
from asyncgen.rundir.fields import FieldsPass
from asyncgen.rundir.journal import Backlog, Journal, OpenJob
from asyncgen.workers import filter as filter_module
from asyncgen.workers.control import (
    Candidates,
    CandidatesClosed,
    Control,
    FilterMessage,
    Finished,
    Job,
)
from asyncgen.workers.filter import DEFERRED_POLL_S, Filter
from asyncgen.workers.instructions import Outlook
from tests.conftest import OUR_SEEDS


async def _yields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(filter_module, "_clock", lambda: now[0])
    pool = Pool(load_seeds(OUR_SEEDS))
    judge = Filter(pool=pool, store=TaskStore(tmp_path / "tasks.jsonl"),
                   journal=Journal(tmp_path / "journal.jsonl"), control=Control(target=1),
                   outlook=Outlook(), slots=anyio.Semaphore(1), model="m", run_id="r",
                   next_id=1, fields=FieldsPass(tmp_path / "fields.jsonl", pool))
    yielded: list[float] = []
    checkpoint = anyio.lowlevel.checkpoint

    async def counted() -> None:
        yielded.append(now[0])
        await checkpoint()

    monkeypatch.setattr(anyio.lowlevel, "checkpoint", counted)
    for at in (0.005, 0.012, 0.02, 0.03, 0.05):
        now[0] = at
        await judge._share_the_loop()
    return yielded


def test_the_filter_yields_only_once_it_held_the_loop_for_a_slice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert filter_module.SLICE_S == 0.01
    assert anyio.run(_yields, tmp_path, monkeypatch) == [0.012, 0.03, 0.05]


# --- the budget's stop: nothing under way may give money back --------------------------------

PRICE = Price(0.50, 1.50, 0.05)


def _plan() -> Plan:
    """A measured cost model; the budget fits one generation request and one job beside it,
    plus half a job."""
    costs = CostModel(PRICE)
    for _ in range(MEASURED_AFTER):
        for stage, (prompt, cached, completion) in {
                "classify": (1200, 1100, 1), "instances": (1500, 1380, 50),
                "instructions": (150, 0, 160)}.items():
            costs.observe(stage, Usage(prompt, completion, PRICE.cost(prompt, completion, cached),
                                       cached_tokens=cached))
    costs.reserving("instances", 0.0012)
    probe = Plan(Budget(1.0), costs)
    limit = probe.floor_usd() + costs.planned_usd("instructions") + 1.5 * probe.job_usd()
    return Plan(Budget(limit), costs)


async def _a_batch_on_its_way_keeps_the_run(tmp_path: Path) -> tuple[str | None, int]:
    plan = _plan()
    on_its_way = plan.generation(1.0)  # a generation request holds its job; half a job left
    assert on_its_way is not None and not plan.fits_job()
    pool = Pool(load_seeds(OUR_SEEDS))
    control, outlook, slots = Control(target=100), Outlook(), anyio.Semaphore(2)
    judge = Filter(pool=pool, store=TaskStore(tmp_path / "tasks.jsonl"),
                   journal=Journal(tmp_path / "journal.jsonl"), control=control,
                   outlook=outlook, slots=slots, model="m", run_id="r", next_id=1,
                   fields=FieldsPass(tmp_path / "fields.jsonl", pool), plan=plan)
    judge.journal.open()
    inbox_send, inbox = anyio.create_memory_object_stream[FilterMessage](10)
    jobs_send, jobs = anyio.create_memory_object_stream[Job](10)
    labelled_send, labelled = anyio.create_memory_object_stream[Job](10)
    sent: list[Job] = []
    async with anyio.create_task_group() as tg, jobs, labelled, inbox_send:
        tg.start_soon(judge.run, inbox, jobs_send, labelled_send)
        # an earlier response, with no money left for its job: deferred
        for _ in range(2):  # both responses have left "in flight" and are handed over
            outlook.answered()
            await slots.acquire()
            outlook.sending_batch()
        await inbox_send.send(Candidates(("Write a limerick about a lighthouse keeper who "
                                          "collects teapots.",)))
        with anyio.fail_after(5):
            while not outlook.deferred:  # noqa: ASYNC110 (the filter's counter)
                await anyio.sleep(0.01)
        await anyio.sleep(3 * DEFERRED_POLL_S)  # the filter looks at its money again
        # the second response reaches the filter: its hold comes back, the job fits
        await inbox_send.send(Candidates((), hold=on_its_way))
        with anyio.fail_after(5):
            sent.append(await jobs.receive())
        reason = control.reason
        tg.cancel_scope.cancel()
    judge.journal.close()
    return reason, len(sent)


def test_no_budget_stop_while_a_response_is_on_its_way_to_the_filter(tmp_path: Path) -> None:
    """A generation response that has left "in flight" but is not yet in the filter's hands
    still holds money: the run does not stop for the budget in that instant, and the job that
    waited for money is sent on once it arrives."""
    assert anyio.run(_a_batch_on_its_way_keeps_the_run, tmp_path) == (None, 1)


async def _the_last_message_came_while_a_batch_waited(tmp_path: Path) -> str | None:
    plan = _plan()
    assert plan.generation(1.0) is not None and not plan.fits_job()  # no money for a job
    pool = Pool(load_seeds(OUR_SEEDS))
    control, outlook, slots = Control(target=100), Outlook(), anyio.Semaphore(1)
    judge = Filter(pool=pool, store=TaskStore(tmp_path / "tasks.jsonl"),
                   journal=Journal(tmp_path / "journal.jsonl"), control=control,
                   outlook=outlook, slots=slots, model="m", run_id="r", next_id=1,
                   fields=FieldsPass(tmp_path / "fields.jsonl", pool), plan=plan)
    judge.journal.open()
    inbox_send, inbox = anyio.create_memory_object_stream[FilterMessage](10)
    jobs_send, jobs = anyio.create_memory_object_stream[Job](10)
    labelled_send, labelled = anyio.create_memory_object_stream[Job](10)
    async with jobs, labelled, inbox_send:
        outlook.answered()
        await slots.acquire()
        outlook.sending_batch()
        await inbox_send.send(Candidates(("Write a limerick about a lighthouse keeper who "
                                          "collects teapots.",)))
        # the instruction side closes while the batch waits for money (the run stops for it)
        await inbox_send.send(CandidatesClosed())
        with anyio.fail_after(5):
            await judge.run(inbox, jobs_send, labelled_send)
    judge.journal.close()
    return control.reason


def test_a_run_stopped_for_money_ends_when_the_last_message_came_before_the_stop(
        tmp_path: Path) -> None:
    """The idle budget stop: the filter stopped the run for a batch waiting for money, and
    had taken the instruction side's last message meanwhile. It ends at once, not at the
    drain deadline (it waited for a message that no one would send)."""
    assert anyio.run(_the_last_message_came_while_a_batch_waited, tmp_path) == "budget"


async def _restored_jobs(tmp_path: Path) -> list[Job]:
    backlog = Backlog()
    backlog.candidates["earlier-1"] = ["Write a limerick about a lighthouse keeper who collects "
                                       "teapots."]
    backlog.models["earlier-1"] = "writer-a"
    text = "Describe the smell of a bakery at dawn to someone who has never been in one."
    backlog.jobs[text] = OpenJob(text, models={"instructions": "writer-b"})
    pool = Pool(load_seeds(OUR_SEEDS))
    control = Control(target=100)
    judge = Filter(pool=pool, store=TaskStore(tmp_path / "tasks.jsonl"),
                   journal=Journal(tmp_path / "journal.jsonl"), control=control,
                   outlook=Outlook(), slots=anyio.Semaphore(1), model="m", run_id="r",
                   next_id=1, fields=FieldsPass(tmp_path / "fields.jsonl", pool),
                   backlog=backlog)
    judge.journal.open()
    inbox_send, inbox = anyio.create_memory_object_stream[FilterMessage](10)
    jobs_send, jobs = anyio.create_memory_object_stream[Job](10)
    labelled_send, labelled = anyio.create_memory_object_stream[Job](10)
    got: list[Job] = []
    async with inbox_send, jobs, labelled:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(judge.run, inbox, jobs_send, labelled_send)
                got += [await jobs.receive(), await jobs.receive()]
                await inbox_send.send(CandidatesClosed())
                for job in got:
                    await inbox_send.send(Finished(job, reason="stopped"))
    judge.journal.close()
    return got


def test_jobs_restored_from_the_journal_keep_the_model_that_wrote_them(tmp_path: Path) -> None:
    """A journaled job, and a journaled candidate judged by the next run, carry the model
    that wrote them into their task (`models["instructions"]`)."""
    jobs = anyio.run(_restored_jobs, tmp_path)
    assert sorted(job.models["instructions"] for job in jobs) == ["writer-a", "writer-b"]
