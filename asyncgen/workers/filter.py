"""The filter: the single owner of the pool and the only writer of tasks.jsonl.

Admission (ROUGE-L against every pool instruction) happens before any money is spent on a
candidate; commit appends the finished task as one line. The filter ends when the instruction
side has closed and every job it admitted has come back.
"""

from __future__ import annotations

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup

from asyncgen import events
from asyncgen.neighbours import Pending
from asyncgen.pool import Admitted, Pool, Task, TaskStore, utc_now
from asyncgen.workers.control import (
    Candidates,
    CandidatesClosed,
    Control,
    FilterMessage,
    Finished,
    Job,
)
from asyncgen.workers.instructions import Outlook

log = events.get_logger()


class Filter:
    """Admits candidates into the pool, commits finished tasks, releases failed ones."""

    __slots__ = ("pool", "store", "control", "outlook", "slots", "model", "run_id", "_next_id")

    def __init__(
        self,
        *,
        pool: Pool,
        store: TaskStore,
        control: Control,
        outlook: Outlook,
        slots: anyio.Semaphore,
        model: str,
        run_id: str,
        next_id: int,
    ) -> None:
        self.pool = pool
        self.store = store
        self.control = control
        self.outlook = outlook
        self.slots = slots
        self.model = model
        self.run_id = run_id
        self._next_id = next_id

    async def run(
        self, inbox: ObjectReceiveStream[FilterMessage], jobs: ObjectSendStream[Job]
    ) -> None:
        candidates_open = True
        # `scoring`: each admitted task's similarity fields, computed in a worker thread
        async with inbox, jobs, anyio.create_task_group() as scoring:
            async for message in inbox:
                if isinstance(message, Candidates):
                    await self._admit(message, jobs, scoring)
                elif isinstance(message, Finished):
                    await self._finish(message)
                elif isinstance(message, CandidatesClosed):
                    candidates_open = False
                if not candidates_open and self.control.open_jobs == 0:
                    return

    async def _admit(
        self, batch: Candidates, jobs: ObjectSendStream[Job], scoring: TaskGroup
    ) -> None:
        self.slots.release()
        self.outlook.pending -= 1
        self.outlook.requests += 1
        for text in batch.instructions:
            verdict = self.pool.admit(text)
            if not isinstance(verdict, Admitted):
                log.info(
                    events.TASK_REJECTED,
                    reason=verdict.reason,
                    instruction=text,
                    score=round(verdict.score, 4),
                    nearest=verdict.nearest,
                )
                continue
            self.control.open_jobs += 1
            self.outlook.admitted += 1
            log.info(events.TASK_ADMITTED, instruction=text, pool=len(self.pool))
            job = Job(verdict.key, text, Pending())
            scoring.start_soon(self.pool.scores.score, verdict.query, job.neighbours)
            await jobs.send(job)

    async def _finish(self, done: Finished) -> None:
        self.control.open_jobs -= 1
        job = done.job
        if not done.instances:
            self.outlook.released += 1
            self.pool.release(job.key)
            log.info(events.TASK_REJECTED, reason=done.reason or "no_instances",
                     instruction=job.instruction)
            return
        if self.control.committed >= self.control.target:
            self.pool.release(job.key)  # past the target: not written, so not in the pool
            return
        task = Task(
            id=f"task-{self._next_id:06d}",
            instruction=job.instruction,
            is_classification=job.is_classification,
            instances=done.instances,
            created_at=utc_now(),
            model=self.model,
            run_id=self.run_id,
        ).with_neighbours(await job.neighbours.get())
        self.store.append(task)
        self._next_id += 1
        self.pool.commit(task.instruction)
        self.control.committed += 1
        self.outlook.committed += 1
        log.info(events.TASK_COMMITTED, id=task.id, instances=len(task.instances),
                 is_classification=task.is_classification)
        if self.control.committed >= self.control.target:
            self.control.stop("target", drain=False)
