"""`asyncgen run`: check the inputs, then start the graph and see it to a clean end.

Everything a user can get wrong (flags, config, seeds, keys, prices, a corrupt tasks.jsonl) is
checked in `prepare` before the first byte is written. `execute` owns the run's resources in
the order they are needed and closes them in reverse, whatever way the run ends.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import orjson

from asyncgen import events
from asyncgen.budget import Budget
from asyncgen.config import RunConfig
from asyncgen.embedded import simulator
from asyncgen.errors import UsageError
from asyncgen.graph import Graph
from asyncgen.llm import LLMClient, ProviderConfig
from asyncgen.llm.errors import FatalError
from asyncgen.llm.pricing import price_for
from asyncgen.pool import Pool, SeedTask, Task, TaskStore, load_seeds
from asyncgen.progress import Progress, Tally
from asyncgen.workers.control import Asker, Control
from asyncgen.workers.filter import Filter
from asyncgen.workers.instructions import Yield

log = events.get_logger()

KEY_ENV = {"openrouter": "OPENROUTER_API_KEY", "openai": "OPENAI_API_KEY"}
DEFAULT_MODEL = {
    "sim": "sim-1",
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
}
EXIT_OK, EXIT_FATAL = 0, 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A run's checked inputs: nothing has been written yet."""

    config: RunConfig
    provider: str
    model: str
    api_key: str | None
    seeds: list[SeedTask]
    store: TaskStore
    tasks: list[Task]
    torn_at: int | None
    prior_cost_usd: float


def _provider(config: RunConfig) -> tuple[str, str | None]:
    """The provider and its key; with no provider and no key, the built-in simulator."""
    provider = config.provider
    if provider is None:
        provider = next((p for p, env in KEY_ENV.items() if os.environ.get(env)), "sim")
    if provider == "sim":
        return provider, None
    if provider == "openai-compatible":
        key = os.environ.get("ASYNCGEN_API_KEY") or os.environ.get("OPENAI_API_KEY")
        return provider, key or None
    key = os.environ.get(KEY_ENV[provider])
    if not key:
        raise UsageError(f"--provider {provider} needs the {KEY_ENV[provider]} environment variable")
    return provider, key


def _prior_cost(events_path: Path) -> float:
    """What earlier runs into this directory spent (their request events), for the budget."""
    if not events_path.exists():
        return 0.0
    total = 0.0
    for line in events_path.read_bytes().splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line: its request, if any, was not settled
        if str(event.get("event", "")).startswith("request."):
            total += float(event.get("cost_usd") or 0.0)
    return total


def prepare(config: RunConfig) -> Prepared:
    """Check every input; raise UsageError naming the first bad one."""
    if config.out.exists() and not config.out.is_dir():
        raise UsageError(f"--out {config.out} exists and is not a directory")
    seeds = load_seeds(config.seeds)
    provider, key = _provider(config)
    model = config.model or DEFAULT_MODEL.get(provider)
    if model is None:
        raise UsageError(f"--provider {provider} needs --model")
    if config.budget_usd and config.price_in is None and price_for(model) is None:
        raise UsageError(
            f"--budget-usd needs prices for model {model!r}: give --price-in and --price-out"
        )
    store = TaskStore(config.out / "tasks.jsonl")
    tasks, torn_at = store.read()
    return Prepared(
        config=config, provider=provider, model=model, api_key=key, seeds=seeds, store=store,
        tasks=tasks, torn_at=torn_at, prior_cost_usd=_prior_cost(config.out / "events.jsonl"),
    )


@asynccontextmanager
async def _base_url(p: Prepared) -> AsyncIterator[str | None]:
    """The provider's URL; for the simulator with no --base-url, start one for this run."""
    if p.provider != "sim" or p.config.base_url:
        yield p.config.base_url
        return
    log.warning("run.simulator", message="no provider and no API key: using the built-in "
                "simulator (set OPENAI_API_KEY or OPENROUTER_API_KEY, or --provider)")
    async with simulator(["--seed", str(p.config.seed)]) as url:
        yield url


def _provider_config(p: Prepared, base_url: str | None) -> ProviderConfig:
    c = p.config
    return ProviderConfig(
        provider=p.provider, base_url=base_url, model=p.model, api_key=p.api_key,
        endpoint=c.endpoint, transport=c.transport, max_concurrency=c.max_concurrency,
        rpm=c.rpm, tpm=c.tpm, timeout_s=c.timeout, max_attempts=c.max_attempts,
        request_deadline_s=c.request_deadline, price_in=c.price_in, price_out=c.price_out,
    )


async def execute(p: Prepared) -> int:
    """Run the graph to its end; always close with run.finished."""
    c = p.config
    c.out.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    sink, status = events.configure(
        events_path=c.out / "events.jsonl", console_format=c.log_format,
        secrets=[p.api_key] if p.api_key else [], observers=[tally],
    )
    run_id = uuid.uuid4().hex[:12]
    control = Control(target=c.target_instructions, max_requests=c.max_requests,
                      drain_timeout=c.drain_timeout, committed=len(p.tasks))
    if p.torn_at is not None:
        p.store.cut_tail(p.torn_at)
    p.store.open()
    exit_code = EXIT_OK
    progress: Progress | None = None
    try:
        log.info(events.RUN_STARTED, run_id=run_id, provider=p.provider, model=p.model,
                 resumed_tasks=len(p.tasks), prior_cost_usd=round(p.prior_cost_usd, 6),
                 config=c.public())
        async with _base_url(p) as base_url:
            budget = Budget(c.budget_usd, spent_usd=p.prior_cost_usd) if c.budget_usd else None
            async with LLMClient(_provider_config(p, base_url), budget=budget) as client:
                progress = Progress(tally=tally, interval=c.progress_interval, status=status,
                                    limiter_state=client.stats, prior_cost_usd=p.prior_cost_usd)
                progress.start_committed = len(p.tasks)
                graph = _graph(p, control, client, progress, run_id)
                if control.committed >= control.target:
                    control.stop("target")
                else:
                    await graph.run()
    except FatalError as exc:
        control.stop("fatal", drain=False)
        control.fatal_message = str(exc)
        exit_code = EXIT_FATAL
    finally:
        p.store.close()
        totals = progress.snapshot(control) if progress is not None else {}
        log.info(events.RUN_FINISHED, run_id=run_id, reason=control.reason or "unknown",
                 error=control.fatal_message, **totals)
        if sink is not None:
            sink.close()
    return exit_code


def _graph(p: Prepared, control: Control, client: LLMClient, progress: Progress,
           run_id: str) -> Graph:
    c = p.config
    pool = Pool(p.seeds, threshold=c.similarity_threshold,
                record_floor=c.similarity_record_floor)
    pool.restore(p.tasks)
    gauge = Yield()
    return Graph(
        config=c,
        pool=pool,
        control=control,
        ask=Asker(client, control, c.params),
        filter=Filter(pool=pool, store=p.store, control=control, gauge=gauge,
                      slots=anyio.Semaphore(c.queue_size), model=p.model, run_id=run_id,
                      next_id=len(p.tasks) + 1),
        gauge=gauge,
        progress=progress,
        rng=random.Random(f"{c.seed}:{len(p.tasks)}"),
    )
