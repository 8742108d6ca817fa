"""The producer/consumer graph: streams, workers, one task group, start and stop order.

    sampler ─prompts─▶ instruction workers ─Candidates─┐
                                                       ▼
        ┌──────── Labelled ◀── classify ◀──jobs── filter (owns pool, tasks.jsonl, journal)
        │                                          ▲   │
        └──────────────────────────────────────────┼───┴──labelled──▶ instance workers
                                                   └────────── Finished ◀──────┘

Every stream is bounded except the filter's inbox: it closes cycles (filter → classify → filter,
filter → instances → filter), and a bounded cycle can deadlock with every stage blocked on a full
neighbour. Workers only ever send into the inbox, so they never block on it; its depth is bounded
anyway: Labelled and Finished messages by the jobs in flight (which the filter only sends into
the bounded `jobs` and `labelled` streams), candidate batches by the `slots` semaphore.

No fixed pool of workers sizes the traffic: each stage runs an item as one task (`fan_out`), as
many at once as the client's concurrency window admits, the window giving a free slot to
instances first, then classification, then generation (`params.PRIORITY`): work already paid
for is finished first, so open jobs stay few, and generation takes the room left. Memory is
bounded by: prompts ≤ queue_size queued + the instruction stage's ceiling under way; open jobs ≤
2 × queue_size queued + the classify and instance stages' ceilings under way + one judged batch;
candidate batches ≤ queue_size (`slots`). A ceiling is `--*-workers`, by default
`--max-concurrency` (`stage_ceiling`).

Shutdown runs in order with no sentinels but one: the sampler closes its stream when the run
stops, instruction workers drain it and exit, then `CandidatesClosed` tells the filter that no
more candidates come; the filter ends when every job it sent on has come back, closing `jobs`
and `labelled`, which ends classification and instance generation.

The similarity fields (`asyncgen.rundir.fields.FieldsPass`, with the pool's scanning threads) run
beside the stages, outside the drain deadline: once the stages are done the run waits for the
fields still to write (`run.fields`), unless it stops for a signal, `--max-duration` or a fault;
those leave them to the next run, and a signal during the wait does too.
"""

from __future__ import annotations

import math
import random
import signal
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen.batch.client import BatchClient
from asyncgen.config import RunConfig
from asyncgen.llm.params import STAGES
from asyncgen.novelty.pool import Pool
from asyncgen.observe import events
from asyncgen.rundir.checkpoint import Checkpointer
from asyncgen.rundir.fields import FieldsPass
from asyncgen.selfinstruct.demos import Demonstrations
from asyncgen.workers.classify import classify
from asyncgen.workers.control import (
    LEAVE_FIELDS,
    Asker,
    CandidatesClosed,
    Control,
    FilterMessage,
    Job,
    may_send,
)
from asyncgen.workers.filter import Filter
from asyncgen.workers.instances import generate_instances
from asyncgen.workers.instructions import Outlook, adopt, generate, sample
from asyncgen.workers.progress import Progress

log = events.get_logger()

T = TypeVar("T")
_Pair = tuple[MemoryObjectSendStream[T], MemoryObjectReceiveStream[T]]


class Streams:
    """The graph's streams, opened when the graph runs; progress reads their depths."""

    __slots__ = ("queue_size", "prompts", "inbox", "jobs", "labelled")

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.prompts: _Pair[list[str]] | None = None
        self.inbox: _Pair[FilterMessage] | None = None
        self.jobs: _Pair[Job] | None = None
        self.labelled: _Pair[Job] | None = None

    def open(self) -> tuple[_Pair[list[str]], _Pair[FilterMessage], _Pair[Job], _Pair[Job]]:
        """Make the streams (the graph closes them as its workers end)."""
        size = self.queue_size
        self.prompts = anyio.create_memory_object_stream[list[str]](size)
        self.inbox = anyio.create_memory_object_stream[FilterMessage](math.inf)
        self.jobs = anyio.create_memory_object_stream[Job](size)
        self.labelled = anyio.create_memory_object_stream[Job](size)
        return self.prompts, self.inbox, self.jobs, self.labelled

    def depths(self) -> dict[str, int]:
        """Items waiting in each stream, for `run.progress` (none before the graph runs)."""
        named = {"prompts": self.prompts, "filter_inbox": self.inbox, "classify": self.jobs,
                 "instances": self.labelled}
        return {name: pair[0].statistics().current_buffer_used
                for name, pair in named.items() if pair is not None}


def stage_ceiling(workers: int, config: RunConfig) -> int:
    """The most requests (items) one stage holds at once: its `--*-workers` flag if given,
    else `--max-concurrency`, so that only the client's window sizes the traffic."""
    return workers or config.max_concurrency


@dataclass(slots=True, kw_only=True)
class Graph:
    """Everything one run's stages share; `run` starts them and returns when they are done."""

    config: RunConfig
    pool: Pool
    demos: Demonstrations
    control: Control
    ask: Asker
    filter: Filter
    outlook: Outlook
    progress: Progress
    streams: Streams
    rng: random.Random
    fields: FieldsPass
    checkpointer: Checkpointer | None = None  # keeps OUT/summary.json current (not in tests)

    async def run(self) -> None:
        """The stages beside the fields' pass; then the fields still to write (`finish`)."""
        async with anyio.create_task_group() as fields:
            fields.start_soon(self._run_fields, fields)
            await self._stages()
            await self._finish_fields(fields)
        self.progress.final()

    async def complete_fields(self) -> None:
        """Only the fields earlier runs left (a resume whose target is already reached)."""
        async with anyio.create_task_group() as fields:
            fields.start_soon(self._run_fields, fields)
            await self._finish_fields(fields)

    async def _run_fields(self, fields: TaskGroup) -> None:
        await self.fields.run()
        fields.cancel_scope.cancel()  # every line written: the wait for them ends

    async def _finish_fields(self, fields: TaskGroup) -> None:
        """Wait for the fields still to write, or leave them to the next run (module doc)."""
        self.fields.close()
        if self.fields.outstanding and self.control.reason in LEAVE_FIELDS:
            fields.cancel_scope.cancel()
            return
        if not self.fields.outstanding:
            return
        log.info(events.RUN_FIELDS, outstanding=self.fields.outstanding,
                 message="writing the similarity fields still outstanding (a signal leaves "
                 "them to the next run)")
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                fields.cancel_scope.cancel()  # also ends this loop: it runs in that scope

    async def _stages(self) -> None:
        cfg = self.config
        prompts, inbox, jobs, labelled = self.streams.open()
        prompts_send, prompts_recv = prompts
        inbox_send, inbox_recv = inbox
        jobs_send, jobs_recv = jobs
        labelled_send, labelled_recv = labelled
        classifier = partial(classify, ask=self.ask, demos=self.demos.classify,
                             most=stage_ceiling(cfg.classify_workers, cfg))
        instance_maker = partial(
            generate_instances,
            ask=self.ask,
            input_first_demos=self.demos.input_first,
            output_first_demos=self.demos.output_first,
            max_instances=cfg.max_instances,
            most=stage_ceiling(cfg.instance_workers, cfg),
        )
        with anyio.CancelScope() as scope:
            self.control.attach(scope)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals)
                tg.start_soon(self._hold_generation)
                tg.start_soon(self.progress.run, self.control)
                if self.checkpointer is not None:
                    tg.start_soon(self.checkpointer.run)
                if cfg.max_duration:
                    tg.start_soon(self._stop_after, cfg.max_duration)
                # the streams after the task group are closed as soon as the workers have their
                # clones (inner context managers exit first); the group then waits for them
                async with anyio.create_task_group() as stages, jobs_recv, labelled_recv:
                    stages.start_soon(self.filter.run, inbox_recv, jobs_send, labelled_send)
                    stages.start_soon(classifier, jobs_recv.clone(), inbox_send.clone())
                    stages.start_soon(instance_maker, labelled_recv.clone(), inbox_send.clone())
                    stages.start_soon(self._produce, prompts_send, prompts_recv, inbox_send)
                tg.cancel_scope.cancel()  # stages done: stop the progress and signal watchers

    async def _produce(
        self,
        prompts_send: MemoryObjectSendStream[list[str]],
        prompts_recv: MemoryObjectReceiveStream[list[str]],
        inbox_send: MemoryObjectSendStream[FilterMessage],
    ) -> None:
        """Sampler and instruction workers; then tell the filter no candidate is coming."""
        cfg = self.config
        slots = self.filter.slots
        async with inbox_send:
            async with anyio.create_task_group() as tg, prompts_recv:
                tg.start_soon(partial(
                    sample, prompts_send, pool=self.pool, control=self.control,
                    outlook=self.outlook, rng=self.rng, human=cfg.human_per_prompt,
                    machine=cfg.machine_per_prompt, plan=self.ask.plan,
                ))
                tg.start_soon(partial(
                    generate, prompts_recv.clone(), inbox_send.clone(), ask=self.ask,
                    outlook=self.outlook, slots=slots, blacklist=cfg.blacklist,
                    most=stage_ceiling(cfg.instruction_workers, cfg),
                ))
                if isinstance(self.ask.client, BatchClient):  # paid answers nobody asks for
                    tg.start_soon(partial(
                        adopt, self.ask.client, inbox_send.clone(), outlook=self.outlook,
                        slots=slots, blacklist=cfg.blacklist, control=self.control,
                    ))
            await inbox_send.send(CandidatesClosed())

    async def _stop_after(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        self.control.stop("duration")

    async def _hold_generation(self) -> None:
        """Once the run stops, no request of a stage it no longer sends (`may_send`: generation
        and classification; everything at the request cap) goes out: queued ones and retries are
        refused by the client (`LLMClient.hold`); requests already in flight may finish."""
        await self.control.stopping.wait()
        for stage in STAGES:
            if not may_send(stage, self.control.reason):
                self.ask.client.hold(stage)

    async def _watch_signals(self) -> None:
        """The first SIGINT/SIGTERM drains the run; the second stops it at once, whatever
        drain is under way (one a signal started, or a duration, target or budget drain)."""
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            received = 0
            async for signum in signals:
                received += 1
                name = signal.Signals(signum).name
                if received >= 2:
                    self.control.stop("signal", drain=False, note=f"second signal ({name})")
                    return
                self.control.stop("signal", note=f"{name}: send it again to stop at once")
