"""`asyncgen run --batch`: the batch client started beside the graph, and the run's settings.

`batching` yields None for a live run; for a batch run, a started BatchClient over the same
provider, stopped (its batches left journaled, to be re-attached by the next run) when the
graph is done. `batch_workers` gives each stage enough workers to fill a batch: in batch mode
a worker is a coroutine waiting for its line's answer, so thousands cost little.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio

from asyncgen.batch.client import BatchClient
from asyncgen.batch.flights import settings_for
from asyncgen.batch.journal import BatchJournal
from asyncgen.batch.openrouter import batch_api
from asyncgen.config import RunConfig
from asyncgen.llm.client import LLMClient
from asyncgen.llm.providers import ProviderConfig
from asyncgen.rundir.layout import BATCHES_FILE

if TYPE_CHECKING:
    from asyncgen.llm.budget import Budget

MAX_WORKERS = 5000  # per stage, in batch mode


def batch_workers(config: RunConfig) -> RunConfig:
    """Enough workers per stage to fill a batch (batch mode only)."""
    if not config.batch:
        return config
    fill = min(config.batch_size, MAX_WORKERS)
    return replace(
        config,
        instruction_workers=max(config.instruction_workers, fill),
        classify_workers=max(config.classify_workers, fill),
        instance_workers=max(config.instance_workers, fill),
        queue_size=max(config.queue_size, fill),
    )


@asynccontextmanager
async def batching(
    config: RunConfig,
    provider: ProviderConfig,
    live: LLMClient,
    budget: Budget | None,
    run_id: str,
) -> AsyncIterator[BatchClient | None]:
    """A running BatchClient for `--batch`, else None."""
    if not config.batch:
        yield None
        return
    settings = settings_for(
        provider.provider, size=config.batch_size, max_wait_s=config.batch_max_wait,
        poll_interval_s=config.batch_poll_interval, discount=config.batch_discount,
        retry=config.batch_retry,
    )
    async with batch_api(provider) as api, anyio.create_task_group() as tg:
        client = BatchClient(live, api, BatchJournal(config.out / BATCHES_FILE), settings,
                             run_id=run_id, budget=budget, costs=live.costs,
                             all_stages=config.batch_stages == "all")
        await tg.start(client.run)
        yield client
        tg.cancel_scope.cancel()
