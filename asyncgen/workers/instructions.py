"""Stage 1: sample prompts from the pool and ask the model for new instructions (Table 5)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen.llm import Completion
from asyncgen.llm.budget import Hold, Plan
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
ORPHAN_POLL_S = 0.1  # how often answers of re-attached generation batches are looked for


class Outlook:
    """How many tasks the work under way will still commit; the sampler waits when enough.

    Without it, every prompt sent after the target is in sight is money spent on tasks that are
    cut at the end. Two writers, each of its own fields and through its own methods: the
    generation stage (`sending`, `answered`, `unanswered`) and the filter (`judge`, `defer`,
    `restoring`, `admit`, `commit`, `fail`). The sampler reads.
    """

    __slots__ = ("in_flight", "handed", "sent", "dropped", "received", "judged", "backlog",
                 "deferred", "admitted", "committed", "failed")

    def __init__(self) -> None:
        # the generation stage's
        self.in_flight = 0  # generation requests under way
        self.handed = 0  # candidate batches handed to the filter
        self.sent = 0  # of those, sent into the filter's inbox (past their slot)
        self.dropped = 0  # generation requests that failed (no candidates to judge)
        # the filter's
        self.received = 0  # candidate batches taken from the inbox
        self.judged = 0  # candidate batches the filter has judged
        self.backlog = 0  # candidates journaled by earlier runs, not judged yet
        self.deferred = 0  # candidates received, waiting for the budget to fit their jobs
        self.admitted = 0  # candidates admitted by this run
        self.committed = 0  # tasks committed by this run
        self.failed = 0  # admitted jobs that ended with no instance

    @property
    def pending(self) -> int:
        """Candidate batches waiting for the filter."""
        return self.handed - self.judged

    @property
    def arriving(self) -> int:
        """Candidate batches in the filter's inbox, not taken yet: their holds are still held
        (the filter gives them back as it takes each)."""
        return self.sent - self.received

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

    def sending_batch(self) -> None:
        """A response's candidates go into the filter's inbox (their slot taken)."""
        self.sent += 1

    def unanswered(self) -> None:
        """A generation request failed: nothing to judge."""
        self.dropped += 1

    # --- the filter ---
    def receive(self) -> None:
        """A candidate batch was taken from the inbox."""
        self.received += 1

    def judge(self) -> None:
        self.judged += 1

    def defer(self, candidates: int) -> None:
        """Candidates received and waiting for the budget to fit their jobs (0: none)."""
        self.deferred = candidates

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
        return committed + (open_jobs + self.backlog + self.deferred + upstream) * (
            self.commit_share())

    def idle(self, open_jobs: int) -> bool:
        """Nothing under way that could still give money back: no generation request, no
        candidate waiting, no open job."""
        return not (open_jobs or self.in_flight or self.pending or self.deferred)


async def sample(
    send: MemoryObjectSendStream[list[str]],
    *,
    pool: Pool,
    control: Control,
    outlook: Outlook,
    rng: random.Random,
    human: int,
    machine: int,
    plan: Plan | None = None,
) -> None:
    """Send prompts while the tasks already under way are not expected to reach the target,
    and, with a budget, while the plan can hold a generation request and its jobs; the run
    stops for the budget once it cannot and nothing under way could give money back.

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
            if plan is not None and not plan.fits_generation(outlook.per_request()):
                if outlook.idle(control.open_jobs) and not send.statistics().current_buffer_used:
                    control.stop("budget", note=plan.stop_note())
                    return
                await anyio.sleep(SAMPLER_POLL_S)  # open work may give money back
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
        hold = None if ask.plan is None else ask.plan.generation(outlook.per_request())
        if ask.plan is not None and hold is None:
            return  # the budget cannot hold it now: dropped, it cost nothing
        outlook.sending(+1)
        try:
            completion = await ask("instructions", instruction_prompt(shown))
        except StopRequested:
            ask.release(hold)
            return  # the run stopped before this request was sent
        finally:
            outlook.sending(-1)
        if completion is None:
            ask.release(hold)
            outlook.unanswered()
            return
        await _hand_over(completion, len(shown) + 1, send, outlook=outlook, slots=slots,
                         blacklist=blacklist, hold=hold)

    async with send:
        await fan_out(receive, one, most=most, go_on=lambda: not control.stopping.is_set(),
                      ready=partial(ask.client.room, "instructions"))


async def _hand_over(
    completion: Completion,
    first_number: int,
    send: MemoryObjectSendStream[FilterMessage],
    *,
    outlook: Outlook,
    slots: anyio.Semaphore,
    blacklist: Sequence[str],
    hold: Hold | None = None,
    adopted: bool = False,
) -> None:
    """Parse one generation response and send its candidates to the filter."""
    answer = parse_instruction_answer(
        completion.text,
        finish_reason=completion.finish_reason,
        first_number=first_number,
        blacklist=blacklist,
    )
    kept = answer.kept
    log.info(events.CANDIDATES_PARSED, count=len(kept) + len(answer.rejected), kept=len(kept),
             format=answer.format, chat=answer.chat, **({"adopted": True} if adopted else {}))
    for item in answer.rejected:
        log.info(events.TASK_REJECTED, reason=item.reason, instruction=item.text)
    # sent also when empty: the filter sees every response (a stuck provider is noticed)
    outlook.answered()  # pending from the moment it is no longer in flight (no gap); counted
    await slots.acquire()  # as a request once the filter has judged it
    # the filter releases the hold; it counts the batch as arriving until it takes it
    outlook.sending_batch()
    await send.send(Candidates(tuple(kept), model=completion.model, hold=hold))


class Orphans(Protocol):
    """Where generation answers nobody asks for come from (asyncgen.batch.BatchClient)."""

    def take_orphans(self) -> list[tuple[int, Completion]]: ...

    def expecting_orphans(self) -> bool: ...

    def leave_orphans(self) -> None: ...


async def adopt(
    orphans: Orphans,
    send: MemoryObjectSendStream[FilterMessage],
    *,
    outlook: Outlook,
    slots: anyio.Semaphore,
    blacklist: Sequence[str],
    control: Control | None = None,
) -> None:
    """Generation answers of batches an earlier run left in flight, that no worker of this run
    asks for again (their prompts were sampled at random): paid for, so parsed and sent to the
    filter as any others, which journals their candidates as they arrive (judged now, or by
    the next run when this one is stopping). Ends when no such answer is still expected.

    Once the run stops, it does not wait for batches still in progress (that would hold the
    run to its drain deadline): they are left to the next run (`leave_orphans`), which
    re-attaches to them; the answers already here are handed over first."""
    async with send:
        while True:
            if control is not None and control.stopping.is_set():
                orphans.leave_orphans()
            for number, completion in orphans.take_orphans():
                await _hand_over(completion, number, send, outlook=outlook, slots=slots,
                                 blacklist=blacklist, adopted=True)
            if not orphans.expecting_orphans():
                return
            if control is None:
                await anyio.sleep(ORPHAN_POLL_S)
                continue
            with anyio.move_on_after(ORPHAN_POLL_S):
                await control.stopping.wait()
