"""Stage 3: generate instances, output-first for classification tasks (Tables 7 and 8)."""

from __future__ import annotations

from collections.abc import Sequence

from anyio.abc import ObjectReceiveStream, ObjectSendStream

from asyncgen.selfinstruct.parsing import parse_instances
from asyncgen.selfinstruct.prompts import Demo, input_first_prompt, output_first_prompt
from asyncgen.workers.control import Asker, FilterMessage, Finished, Job, StopRequested
from asyncgen.workers.fanout import fan_out


async def generate_instances(
    receive: ObjectReceiveStream[Job],
    results: ObjectSendStream[FilterMessage],
    *,
    ask: Asker,
    input_first_demos: Sequence[Demo],
    output_first_demos: Sequence[Demo],
    max_instances: int,
    most: int,
) -> None:
    """Every job comes back to the filter as Finished, with instances or with a reason; up to
    `most` jobs at once (`fan_out`)."""

    async def one(job: Job) -> None:
        if job.is_classification:
            prompt = output_first_prompt(output_first_demos, job.instruction)
        else:
            prompt = input_first_prompt(input_first_demos, job.instruction)
        try:
            completion = await ask("instances", prompt)
        except StopRequested:
            await results.send(Finished(job, reason="stopped"))
            return
        finally:
            ask.release(job.hold)  # its last request has settled
        if completion is None:
            await results.send(Finished(job, reason="item_error"))
            return
        job.models["instances"] = completion.model
        parsed, reason = parse_instances(
            completion.text,
            classification=job.is_classification,
            finish_reason=completion.finish_reason,
            max_instances=max_instances,
        )
        await results.send(Finished(job, tuple(parsed), reason if not parsed else None))

    async with results:
        await fan_out(receive, one, most=most)
