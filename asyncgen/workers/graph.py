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

Shutdown runs in order with no sentinels but one: the sampler closes its stream when the run
stops, instruction workers drain it and exit, then `CandidatesClosed` tells the filter that no
more candidates come; the filter ends when every job it sent on has come back, closing `jobs`
and `labelled`, which ends classification and instance generation.
"""

from __future__ import annotations

import math
import random
import signal
from dataclasses import dataclass
from functools import partial

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen.batch.client import BatchClient
from asyncgen.config import RunConfig
from asyncgen.llm.params import STAGES
from asyncgen.novelty.pool import Pool
from asyncgen.rundir.checkpoint import Checkpointer
from asyncgen.selfinstruct.demos import Demonstrations
from asyncgen.workers.classify import classify
from asyncgen.workers.control import (
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
    rng: random.Random
    checkpointer: Checkpointer | None = None  # keeps OUT/summary.json current (not in tests)

    async def run(self) -> None:
        cfg = self.config
        prompts_send, prompts_recv = anyio.create_memory_object_stream[list[str]](cfg.queue_size)
        inbox_send, inbox_recv = anyio.create_memory_object_stream[FilterMessage](math.inf)
        jobs_send, jobs_recv = anyio.create_memory_object_stream[Job](cfg.queue_size)
        labelled_send, labelled_recv = anyio.create_memory_object_stream[Job](cfg.queue_size)
        self.progress.neighbours = self.pool.scores.stats
        self.progress.queues = {
            "prompts": prompts_send,
            "filter_inbox": inbox_send,
            "classify": jobs_send,
            "instances": labelled_send,
        }
        classifier = partial(classify, ask=self.ask, demos=self.demos.classify)
        instance_maker = partial(
            generate_instances,
            ask=self.ask,
            input_first_demos=self.demos.input_first,
            output_first_demos=self.demos.output_first,
            max_instances=cfg.max_instances,
        )
        with anyio.CancelScope() as scope:
            self.control.scope = scope
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
                    for _ in range(cfg.classify_workers):
                        stages.start_soon(classifier, jobs_recv.clone(), inbox_send.clone())
                    for _ in range(cfg.instance_workers):
                        stages.start_soon(instance_maker, labelled_recv.clone(), inbox_send.clone())
                    stages.start_soon(self._produce, prompts_send, prompts_recv, inbox_send)
                tg.cancel_scope.cancel()  # stages done: stop the progress and signal watchers
        self.progress.final()

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
                for _ in range(cfg.instruction_workers):
                    tg.start_soon(partial(
                        generate, prompts_recv.clone(), inbox_send.clone(), ask=self.ask,
                        outlook=self.outlook, slots=slots, blacklist=cfg.blacklist,
                    ))
                if isinstance(self.ask.client, BatchClient):  # paid answers nobody asks for
                    tg.start_soon(partial(
                        adopt, self.ask.client, inbox_send.clone(), outlook=self.outlook,
                        slots=slots, blacklist=cfg.blacklist,
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
