"""Stage 1: sample prompts from the pool and ask the model for new instructions (Table 5)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen import events
from asyncgen.parsing import parse_instructions
from asyncgen.pool import Pool
from asyncgen.prompts import instruction_prompt
from asyncgen.workers.control import Asker, Candidates, Control, FilterMessage, StopRequested

log = events.get_logger()

# admitted instructions one generation request yields, before the run has measured it
INITIAL_YIELD = 3.0
SAMPLER_POLL_S = 0.05


class Yield:
    """Admitted instructions per generation request, as measured so far (read by the sampler)."""

    __slots__ = ("requests", "admitted", "in_flight")

    def __init__(self) -> None:
        self.requests = 0
        self.admitted = 0
        self.in_flight = 0

    @property
    def per_request(self) -> float:
        if self.requests < 5:
            return INITIAL_YIELD
        return max(self.admitted / self.requests, 0.1)


async def sample(
    send: MemoryObjectSendStream[list[str]],
    *,
    pool: Pool,
    control: Control,
    gauge: Yield,
    rng: random.Random,
    human: int,
    machine: int,
) -> None:
    """Send prompts while the tasks already under way are not expected to reach the target."""
    async with send:
        while not control.stopping.is_set():
            expected = (
                control.committed
                + control.open_jobs
                + (gauge.in_flight + send.statistics().current_buffer_used) * gauge.per_request
            )
            if expected >= control.target:
                await anyio.sleep(SAMPLER_POLL_S)
                continue
            try:
                await send.send(pool.sample_prompt(rng, human=human, machine=machine))
            except anyio.BrokenResourceError:
                return  # every instruction worker has stopped


async def generate(
    receive: MemoryObjectReceiveStream[list[str]],
    send: MemoryObjectSendStream[FilterMessage],
    *,
    ask: Asker,
    gauge: Yield,
    slots: anyio.Semaphore,
    blacklist: Sequence[str],
) -> None:
    """Turn each prompt into parsed candidate instructions for the filter.

    `slots` bounds the candidate batches waiting at the filter (the filter releases one per
    batch it has judged): the filter's inbox itself cannot be bounded, see graph.py.
    """
    async with receive, send:
        async for shown in receive:
            if ask.control.stopping.is_set():
                return
            gauge.in_flight += 1
            try:
                completion = await ask("instructions", instruction_prompt(shown))
            except StopRequested:
                return
            finally:
                gauge.in_flight -= 1
            gauge.requests += 1
            if completion is None:
                continue
            kept, rejected = parse_instructions(
                completion.text,
                finish_reason=completion.finish_reason,
                first_number=len(shown) + 1,
                blacklist=blacklist,
            )
            log.info(events.CANDIDATES_PARSED, count=len(kept) + len(rejected), kept=len(kept))
            for item in rejected:
                log.info(events.TASK_REJECTED, reason=item.reason, instruction=item.text)
            if kept:
                await slots.acquire()
                await send.send(Candidates(tuple(kept)))
