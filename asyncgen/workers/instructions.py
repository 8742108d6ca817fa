"""Stage 1: sample prompts from the pool and ask the model for new instructions (Table 5)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen.novelty.pool import Pool
from asyncgen.observe import events
from asyncgen.selfinstruct.parsing import parse_instruction_answer
from asyncgen.selfinstruct.prompts import instruction_prompt
from asyncgen.workers.control import Asker, Candidates, Control, FilterMessage, StopRequested
from asyncgen.workers.fanout import fan_out

log = events.get_logger()

# before the run has measured them: admitted candidates per generation request, and the share
# of admitted jobs that end up committed. Both are the most they can be (a response holds items
# 9 to 15), so that the sampler waits for a measure rather than overshoot: a prompt not sent yet
# costs nothing, a task past the target is paid for.
INITIAL_YIELD = 7.0
INITIAL_COMMIT_SHARE = 1.0
MEASURED_AFTER = 20
SAMPLER_POLL_S = 0.05


class Outlook:
    """How many tasks the work under way will still commit; the sampler waits when enough.

    Without it, every prompt sent after the target is in sight is money spent on tasks that are
    cut at the end. Two writers, each of its own fields and through its own methods: the
    generation stage (`sending`, `answered`, `unanswered`) and the filter (`judged`,
    `restoring`, `admit`, `commit`, `fail`). The sampler reads.
    """

    __slots__ = ("in_flight", "handed", "dropped", "judged", "backlog", "admitted", "committed",
                 "failed")

    def __init__(self) -> None:
        # the generation stage's
        self.in_flight = 0  # generation requests under way
        self.handed = 0  # candidate batches handed to the filter
        self.dropped = 0  # generation requests that failed (no candidates to judge)
        # the filter's
        self.judged = 0  # candidate batches the filter has judged
        self.backlog = 0  # candidates journaled by earlier runs, not judged yet
        self.admitted = 0  # candidates admitted by this run
        self.committed = 0  # tasks committed by this run
        self.failed = 0  # admitted jobs that ended with no instance

    @property
    def pending(self) -> int:
        """Candidate batches waiting for the filter."""
        return self.handed - self.judged

    @property
    def requests(self) -> int:
        """Generation requests whose outcome is known: judged, or failed."""
        return self.judged + self.dropped

    # --- the generation stage ---
    def sending(self, delta: int) -> None:
        """A generation request starts (+1) or ends (-1)."""
        self.in_flight += delta

    def answered(self) -> None:
        """A response's candidates were handed to the filter."""
        self.handed += 1

    def unanswered(self) -> None:
        """A generation request failed: nothing to judge."""
        self.dropped += 1

    # --- the filter ---
    def judge(self) -> None:
        self.judged += 1

    def restoring(self, candidates: int) -> None:
        """Earlier runs' journaled candidates still to judge (0 once judged)."""
        self.backlog = candidates

    def admit(self) -> None:
        self.admitted += 1

    def commit(self) -> None:
        self.committed += 1

    def fail(self) -> None:
        self.failed += 1

    def per_request(self) -> float:
        """Admitted candidates per generation request."""
        if self.requests < MEASURED_AFTER:
            return INITIAL_YIELD
        return max(self.admitted / self.requests, 0.1)

    def commit_share(self) -> float:
        done = self.committed + self.failed
        return self.committed / done if done >= MEASURED_AFTER else INITIAL_COMMIT_SHARE

    def expected(self, *, committed: int, open_jobs: int, queued_prompts: int) -> float:
        """Tasks committed once everything under way (and queued) has run its course."""
        upstream = (self.in_flight + self.pending + queued_prompts) * self.per_request()
        return committed + (open_jobs + self.backlog + upstream) * self.commit_share()


async def sample(
    send: MemoryObjectSendStream[list[str]],
    *,
    pool: Pool,
    control: Control,
    outlook: Outlook,
    rng: random.Random,
    human: int,
    machine: int,
) -> None:
    """Send prompts while the tasks already under way are not expected to reach the target.

    Nothing is sampled before the filter has sent the previous runs' open work on."""
    async with send:
        while not control.backlog_sent.is_set():
            if control.stopping.is_set():
                return
            await anyio.sleep(SAMPLER_POLL_S)
        while not control.stopping.is_set():
            expected = outlook.expected(
                committed=control.committed,
                open_jobs=control.open_jobs,
                queued_prompts=send.statistics().current_buffer_used,
            )
            if expected >= control.target:
                await anyio.sleep(SAMPLER_POLL_S)  # enough under way
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
    outlook: Outlook,
    slots: anyio.Semaphore,
    blacklist: Sequence[str],
    most: int,
) -> None:
    """Turn each prompt into parsed candidate instructions for the filter, up to `most` prompts
    at once (`fan_out`), each taken once no generation request waits for a slot of the window
    (`room`: the others wait in the bounded stream, and the sampler, seeing it full, samples no
    prompt minutes ahead); no prompt is taken once the run is stopping.

    `slots` bounds the candidate batches waiting at the filter (the filter releases one per
    batch it has judged): the filter's inbox itself cannot be bounded, see graph.py.
    """
    control = ask.control

    async def one(shown: list[str]) -> None:
        if control.stopping.is_set():
            return
        expected = outlook.expected(
            committed=control.committed,
            open_jobs=control.open_jobs,
            queued_prompts=receive.statistics().current_buffer_used,
        )
        if expected >= control.target:
            return  # sampled before the outlook knew better: dropped, it cost nothing
        outlook.sending(+1)
        try:
            completion = await ask("instructions", instruction_prompt(shown))
        except StopRequested:
            return  # the run stopped before this request was sent
        finally:
            outlook.sending(-1)
        if completion is None:
            outlook.unanswered()
            return
        answer = parse_instruction_answer(
            completion.text,
            finish_reason=completion.finish_reason,
            first_number=len(shown) + 1,
            blacklist=blacklist,
        )
        kept = answer.kept
        log.info(events.CANDIDATES_PARSED, count=len(kept) + len(answer.rejected),
                 kept=len(kept), format=answer.format, chat=answer.chat)
        for item in answer.rejected:
            log.info(events.TASK_REJECTED, reason=item.reason, instruction=item.text)
        # sent also when empty: the filter sees every response (a stuck provider is noticed)
        await slots.acquire()
        outlook.answered()  # counted as a request once the filter has judged it
        await send.send(Candidates(tuple(kept), completion.model))

    async with send:
        await fan_out(receive, one, most=most, go_on=lambda: not control.stopping.is_set(),
                      ready=partial(ask.client.room, "instructions"))
