"""Stage 2: ask whether an admitted instruction is a classification task (Table 6)."""

from __future__ import annotations

from collections.abc import Sequence

from anyio.abc import ObjectReceiveStream, ObjectSendStream

from asyncgen.observe import events
from asyncgen.selfinstruct.parsing import parse_classification
from asyncgen.selfinstruct.prompts import Demo, classify_prompt
from asyncgen.workers.control import (
    Asker,
    FilterMessage,
    Finished,
    Job,
    Labelled,
    StopRequested,
)
from asyncgen.workers.fanout import fan_out

log = events.get_logger()


async def classify(
    receive: ObjectReceiveStream[Job],
    results: ObjectSendStream[FilterMessage],
    *,
    ask: Asker,
    demos: Sequence[Demo],
    most: int,
) -> None:
    """Label each job and return it to the filter (which journals the label and passes it on),
    up to `most` jobs at once (`fan_out`); a job not asked because the run is stopping goes
    back as Finished "stopped"."""

    async def one(job: Job) -> None:
        try:
            answer = await _label(ask, demos, job)
        except StopRequested:
            await results.send(Finished(job, reason="stopped"))
            return
        finally:
            ask.release(job.hold, "classify")  # settled: the rest holds its instances
        if answer is None:
            await results.send(Finished(job, reason="classify_failed"))
            return
        job.is_classification = answer
        await results.send(Labelled(job))

    async with results:
        await fan_out(receive, one, most=most)


async def _label(ask: Asker, demos: Sequence[Demo], job: Job) -> bool | None:
    """Yes/No for one job; None when the request itself failed. An unparseable answer is
    taken as No and counted, not asked again: the request is deterministic (temperature 0;
    the simulator answers a prompt the same way), so asking again bought the same answer
    twice."""
    completion = await ask("classify", classify_prompt(demos, job.instruction))
    if completion is None:
        return None
    job.models["classify"] = completion.model
    label = parse_classification(completion.text)
    if label is None:
        log.info(events.CLASSIFY_UNPARSEABLE, instruction=job.instruction,
                 answers=[completion.text])
        return False
    return label
