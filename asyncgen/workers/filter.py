"""The filter: the single owner of the pool, of tasks.jsonl and of the work journal.

Admission (ROUGE-L against every pool instruction) happens before any money is spent on a
candidate; commit appends the finished task as one line, at once: with its similarity fields
when they are ready, else without them, and they follow in fields.jsonl (`asyncgen.rundir.fields`).
Every state a job reaches that cost money is journaled (`asyncgen.rundir.journal`) before the next
request about it: admitted, labelled, failed; committed is its line in tasks.jsonl. An admitted
instruction stays in the pool for good, also when it ends with no valid instance (as the
released code keeps every admitted instruction): the same text comes back rejected before any
spend. It is not sampled as a machine example.

Each generation response is journaled as it arrives, and marked judged once admitted or
rejected. When the run stops, batches not judged yet stay so, and labelled jobs still get their
instance request and are committed, past the target if need be: what was paid for is kept. The
next run judges and sends that backlog on before any new prompt.

The filter ends when the instruction side has closed and every job it sent on has come back.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
from anyio.abc import ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream

from asyncgen.novelty.neighbours import Neighbours, Pending, Query
from asyncgen.novelty.pool import Admitted, Pool, Task, TaskStore, utc_now
from asyncgen.observe import events
from asyncgen.rundir import journal
from asyncgen.rundir.fields import FieldsPass
from asyncgen.rundir.journal import Backlog, Journal
from asyncgen.selfinstruct.parsing import Instance
from asyncgen.workers.control import (
    Candidates,
    CandidatesClosed,
    Control,
    FilterMessage,
    Finished,
    Job,
    Labelled,
)
from asyncgen.workers.instructions import Outlook

if TYPE_CHECKING:
    from asyncgen.llm.budget import Plan

log = events.get_logger()

STUCK_AFTER = 200  # generation responses in a row that admit nothing: the provider is stuck
DEFERRED_POLL_S = 0.05  # how often a batch waiting for money looks again, at most
SLICE_S = 0.01  # the longest the filter works without letting the loop run others
_clock = time.perf_counter


class Filter:
    """Admits candidates, journals each job's progress, commits finished tasks.

    The single writer of the pool, of tasks.jsonl (through its `TaskStore`) and of the work
    journal; it counts jobs and commits on `Control` and its verdicts on `Outlook`."""

    __slots__ = (
        "pool", "store", "journal", "backlog", "control", "outlook", "slots", "model", "run_id",
        "stuck_after", "fields", "_next_id", "_barren", "_waiting", "_candidates_open",
        "_batches", "_slice", "plan", "_deferred", "detailed",
    )

    def __init__(
        self,
        *,
        pool: Pool,
        store: TaskStore,
        journal: Journal,
        control: Control,
        outlook: Outlook,
        slots: anyio.Semaphore,
        model: str,
        run_id: str,
        next_id: int,
        fields: FieldsPass,
        backlog: Backlog | None = None,
        stuck_after: int = STUCK_AFTER,
        plan: Plan | None = None,
        detailed: bool = True,
    ) -> None:
        self.pool = pool
        self.store = store
        self.journal = journal
        self.backlog = backlog or Backlog()
        self.control = control
        self.outlook = outlook
        self.slots = slots
        self.model = model
        self.run_id = run_id
        self.stuck_after = stuck_after  # 0: never
        self.fields = fields  # writes the fields of tasks committed before they were ready
        self._next_id = next_id
        self._barren = 0  # generation responses in a row that admitted nothing
        self._waiting: deque[Job] = deque()  # backlog jobs not yet sent to classification
        self._candidates_open = True  # until CandidatesClosed
        self._batches = 0  # generation responses received (their journal ids)
        self._slice = _clock()  # since when the filter holds the loop, about
        self.plan = plan  # a capped budget's plan: no job is sent on that it cannot finish
        # --event-detail full: a rejected candidate's nearest pool instruction and its score
        self.detailed = detailed
        # the rest of a batch whose jobs the budget cannot hold yet (its batch id, its texts)
        self._deferred: tuple[str, tuple[str, ...], str] | None = None  # batch, texts, model

    async def run(
        self,
        inbox: MemoryObjectReceiveStream[FilterMessage],
        jobs: ObjectSendStream[Job],
        labelled: ObjectSendStream[Job],
    ) -> None:
        """Until the instruction side has closed and every job sent on has come back.

        Job results (labels, finished jobs) are taken as soon as they arrive, ahead of candidate
        batches, which wait in arrival order and are judged one between two looks at the inbox:
        a label not yet journaled is lost to a kill -9, and instance workers wait for it.
        """
        batches: deque[tuple[str, Candidates]] = deque()
        async with inbox, jobs, labelled:
            await self._restore_backlog(jobs, labelled)
            while (self._candidates_open or batches or self.control.open_jobs
                   or self._deferred is not None):
                if self._deferred is not None:
                    await self._judge_deferred(jobs)
                if self._deferred is not None:
                    # it looks again now and then: money may have been given back by a request
                    # that brought no message (a receive is not cut short: it may lose one)
                    await anyio.sleep(DEFERRED_POLL_S)
                elif not batches:
                    if not (self._candidates_open or self.control.open_jobs):
                        continue  # a deferred batch let go (the run stops): nothing to wait for
                    message = await inbox.receive()
                    self._slice = _clock()
                    await self._take(message, batches, labelled)
                while True:  # everything else that has arrived meanwhile
                    await self._share_the_loop()  # dozens of commits were a 40 ms loop turn
                    try:
                        message = inbox.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    await self._take(message, batches, labelled)
                if batches and self._deferred is None:
                    await self._judge(*batches.popleft(), jobs)
                if self._waiting:
                    await self._feed(jobs)

    async def _take(
        self,
        message: FilterMessage,
        batches: deque[tuple[str, Candidates]],
        labelled: ObjectSendStream[Job],
    ) -> None:
        if isinstance(message, Candidates):
            self.outlook.receive()
            if self.plan is not None and message.hold is not None:
                # its candidates hold their own jobs' money as they are admitted (a hold kept
                # until the batch is judged would starve a deferred batch ahead of it)
                self.plan.release(message.hold)
            self._batches += 1
            batch = f"{self.run_id}-{self._batches}"
            if message.instructions:
                self.journal.write(journal.candidates(batch, message.instructions,
                                                      message.model))
            batches.append((batch, message))
        elif isinstance(message, Labelled):
            job = message.job
            self.journal.write(journal.labelled(job.instruction, job.is_classification,
                                                job.models.get("classify", "")))
            await labelled.send(job)
        elif isinstance(message, Finished):
            self._finish(message)
        elif isinstance(message, CandidatesClosed):
            self._candidates_open = False

    async def _restore_backlog(
        self, jobs: ObjectSendStream[Job], labelled: ObjectSendStream[Job]
    ) -> None:
        """The previous runs' open work comes first: labelled jobs go on to their instance
        request (their classification is paid for) and unlabelled ones to classification as
        the outlook allows (`_feed`), at once; the sampler may start then too, its outlook
        counting the journaled candidates as jobs to come. They are judged once the pool holds
        the restored instructions (`Pool.ready`), after the open jobs join it."""
        backlog, self.backlog = self.backlog, Backlog()
        # their similarity fields are asked once they join the pool (none reads them before)
        opened = [(record, Job(record.instruction, Pending(), models=dict(record.models)))
                  for record in backlog.jobs.values()]
        for record, job in opened:
            if record.is_classification is None:
                self._waiting.append(job)
            elif not self.control.stopping.is_set():
                job.is_classification = record.is_classification
                job.hold = None if self.plan is None else self.plan.labelled_job()
                self.control.open_job()
                await labelled.send(job)
        self.outlook.restoring(sum(len(texts) for texts in backlog.candidates.values()))
        await self._feed(jobs)
        await self.pool.ready()
        for _, job in opened:  # into the pool before anything is judged; fields asked now
            job.neighbours = self.pool.scores.submit(self.pool.keep(job.instruction))
        for batch, texts in backlog.candidates.items():
            await self._admit_later(texts, backlog.models.get(batch, ""))
            self.journal.write(journal.judged(batch))
        self.outlook.restoring(0)
        await self._feed(jobs)

    async def _feed(self, jobs: ObjectSendStream[Job]) -> None:
        """Send waiting backlog jobs to classification while the target is not in sight; the
        sampler starts once none is left (the rest stays in the journal if the run stops)."""
        control = self.control
        while self._waiting and not control.stopping.is_set():
            expected = self.outlook.expected(
                committed=control.committed, open_jobs=control.open_jobs,
                queued_prompts=0,
            )
            if expected >= control.target:
                return
            job = self._waiting[0]
            if self.plan is not None:
                job.hold = self.plan.job()
                if job.hold is None:  # the budget cannot finish it (yet)
                    self._out_of_money()
                    return
            self._waiting.popleft()
            control.open_job()
            await jobs.send(job)
        control.backlog_sent.set()

    async def _admit_later(self, texts: Sequence[str], model: str = "") -> None:
        """Judge journaled candidates (`model` wrote them); the admitted ones wait to be fed."""
        for text in texts:
            await self._share_the_loop()
            verdict = self._verdict(text, model)
            if verdict is not None:
                job = self._job(text, verdict.query)
                if model:
                    job.models["instructions"] = model
                self._waiting.append(job)

    async def _judge(self, batch: str, candidates: Candidates, jobs: ObjectSendStream[Job]) -> None:
        """One generation response: admitted or rejected; left journaled if the run is stopping."""
        self.slots.release()
        if self.control.stopping.is_set():
            self.outlook.judge()
            return
        admitted, rest = await self._admit(candidates.instructions, jobs, candidates.model)
        self.outlook.judge()  # not before: it is under way until admitted or deferred
        if rest:  # the budget cannot finish more jobs now: the rest waits for money
            self._defer(batch, rest, candidates.model)
            return
        if candidates.instructions:
            self.journal.write(journal.judged(batch))
        self._count_barren(admitted)

    def _defer(self, batch: str, rest: tuple[str, ...], model: str) -> None:
        """Keep the rest of a batch until open work gives money back (or the run stops)."""
        self._deferred = (batch, rest, model)
        self.outlook.defer(len(rest))
        self._out_of_money()

    async def _judge_deferred(self, jobs: ObjectSendStream[Job]) -> None:
        """Judge the rest of a deferred batch as far as the budget now holds; left unjudged
        in the journal (for the next run) when the run stops."""
        assert self._deferred is not None
        batch, texts, model = self._deferred
        if self.control.stopping.is_set():
            self._deferred = None
            self.outlook.defer(0)
            return
        if self.plan is not None and not self.plan.fits_job():
            self._out_of_money()
            return
        admitted, rest = await self._admit(texts, jobs, model)  # counted as deferred meanwhile
        if rest:
            self._defer(batch, rest, model)
            return
        self._deferred = None
        self.outlook.defer(0)
        self.journal.write(journal.judged(batch))
        self._count_barren(admitted)

    def _out_of_money(self) -> None:
        """Stop for the budget when it cannot hold one more job and nothing under way (no
        open job, no generation request, no response in the inbox with its hold) could give
        money back.

        A response between "in flight" and the inbox (waiting for its slot, `slots`) does not
        count: the slots are given back only as batches are judged, and none is judged while
        a batch waits for money; once the run stops they are, and its candidates are journaled
        for the next run."""
        outlook = self.outlook
        if outlook.in_flight or outlook.arriving or self.control.open_jobs:
            return
        assert self.plan is not None
        self.control.stop("budget", note=self.plan.stop_note())

    def _count_barren(self, admitted: int) -> None:
        """Count generation responses in a row that admitted nothing; stop when stuck."""
        if admitted:
            self._barren = 0
            return
        self._barren += 1
        if self.stuck_after and self._barren >= self.stuck_after:
            self.control.stop("stuck", fatal=(
                f"the provider is stuck: {self._barren} generation responses in a row admitted "
                f"no new instruction (--stuck-after {self.stuck_after})"
            ))

    async def _admit(
        self, texts: Sequence[str], jobs: ObjectSendStream[Job], model: str = ""
    ) -> tuple[int, tuple[str, ...]]:
        """Admit the novel texts (`model` wrote them) and send them on, as long as the budget
        can hold what finishing each costs; how many were admitted, and the texts not judged
        for want of money."""
        count = 0
        for n, text in enumerate(texts):
            await self._share_the_loop()
            hold = None
            if self.plan is not None:
                hold = self.plan.job()
                if hold is None:
                    return count, tuple(texts[n:])
            verdict = self._verdict(text, model)
            if verdict is None:
                if self.plan is not None and hold is not None:
                    self.plan.release(hold)
                continue
            count += 1
            self.control.open_job()
            job = self._job(text, verdict.query)
            job.hold = hold
            if model:
                job.models["instructions"] = model
            await jobs.send(job)
        return count, ()

    async def _share_the_loop(self) -> None:
        """Let the loop run other tasks once the filter has held it for `SLICE_S`.

        Each verdict is a query of the index (milliseconds at a big pool): judged back to back,
        a few responses of 15 candidates are one long stall of every request in flight. Below
        the slice nothing yields, so a small pool's judging stays as prompt as it was."""
        if _clock() - self._slice >= SLICE_S:
            await anyio.lowlevel.checkpoint()
            self._slice = _clock()

    def _job(self, text: str, query: Query) -> Job:
        """A job whose similarity fields are being computed (off the event loop)."""
        return Job(text, self.pool.scores.submit(query))

    def _verdict(self, text: str, model: str = "") -> Admitted | None:
        """Admit one candidate (`model` wrote it) into the pool (journaled), or log why not."""
        verdict = self.pool.admit(text, nearest=self.detailed)
        if not isinstance(verdict, Admitted):
            if verdict.score is None:  # the lean log counts it (observe.events.Lean)
                log.info(events.TASK_REJECTED, reason=verdict.reason, instruction=text)
            else:
                log.info(
                    events.TASK_REJECTED,
                    reason=verdict.reason,
                    instruction=text,
                    score=round(verdict.score, 4),
                    nearest=verdict.nearest,
                )
            return None
        self.journal.write(journal.admitted(text, model))
        self.outlook.admit()
        log.info(events.TASK_ADMITTED, instruction=text, pool=len(self.pool))
        return verdict

    def _finish(self, done: Finished) -> None:
        self.control.close_job()
        job = done.job
        if self.plan is not None and job.hold is not None:
            self.plan.release(job.hold)  # whatever its requests have not given back
        if done.reason == "stopped":
            return  # not asked: the journal has it open, for the next run
        if not done.instances:
            reason = done.reason or "no_instances"
            self.outlook.fail()
            self.journal.write(journal.failed(job.instruction, reason))
            log.info(events.TASK_REJECTED, reason=reason, instruction=job.instruction)
            return
        self._commit(job, done.instances, job.neighbours.peek())

    def _commit(self, job: Job, instances: tuple[Instance, ...],
                neighbours: Neighbours | None) -> None:
        """Append the finished task to tasks.jsonl, with its similarity fields when they are
        ready; else without them (null), and they go to fields.jsonl once they are."""
        task = Task(
            id=f"task-{self._next_id:06d}",
            instruction=job.instruction,
            is_classification=job.is_classification,
            instances=instances,
            created_at=utc_now(),
            model=self.model,
            run_id=self.run_id,
            scored=False,
            models=dict(job.models),
        )
        if neighbours is not None:
            task = task.with_neighbours(neighbours)
        self.store.append(task)  # paid for: committed, past the target too
        if neighbours is None:
            self.fields.hand_over(task, job.neighbours)
        self._next_id += 1
        self.pool.commit(task.instruction)
        self.control.commit()
        self.outlook.commit()
        log.info(events.TASK_COMMITTED, id=task.id, instances=len(task.instances),
                 is_classification=task.is_classification)
        self._check_target()

    def _check_target(self) -> None:
        if self.control.committed >= self.control.target:
            self.control.stop("target")
