"""`asyncgen run`: check the inputs, then start the graph and see it to a clean end.

Everything a user can get wrong (flags, config, seeds, keys, prices, a corrupt tasks.jsonl) is
checked in `prepare` before the first byte is written. `execute` owns the run's resources in
the order they are needed and closes them in reverse, whatever way the run ends.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio

from asyncgen import __version__
from asyncgen.batch.flights import DEFAULT_DISCOUNT
from asyncgen.batch.mode import batch_workers, batching
from asyncgen.commands import console
from asyncgen.config import DEFAULT_MODEL, FIELDS_SAMPLE, RunConfig
from asyncgen.errors import UsageError
from asyncgen.llm import LLMClient, ProviderConfig, key
from asyncgen.llm.billing import billed_usd, provider_price
from asyncgen.llm.budget import Budget, Plan
from asyncgen.llm.costs import CostModel, prior_usd
from asyncgen.llm.endpoints import configs_for, open_pool
from asyncgen.llm.errors import FatalError, InsufficientCredits
from asyncgen.llm.params import RequestParams, Stage
from asyncgen.llm.pricing import DIGITS, price_for
from asyncgen.llm.providers import KEY_VARIABLES, Endpoint, Provider, TransportName
from asyncgen.llm.transport import courier, rescue
from asyncgen.llm.transport.couriered import CourierFiles
from asyncgen.novelty.pool import Pool, SeedTask, TaskStore, load_seeds, utc_now
from asyncgen.observe import events
from asyncgen.rundir import fields as side
from asyncgen.rundir import journal as worklog
from asyncgen.rundir import layout, spend, summary
from asyncgen.rundir.checkpoint import Checkpointer
from asyncgen.rundir.closing import settle
from asyncgen.rundir.record import (
    DirectoryLock,
    Record,
    check_authorship,
    check_settings,
    file_sha256,
    read_record,
    write_record,
)
from asyncgen.rundir.spend import Recovered
from asyncgen.selfinstruct.demos import Demonstrations, load_demos
from asyncgen.selfinstruct.prompts import (
    classify_prompt,
    input_first_prompt,
    instruction_prompt,
    output_first_prompt,
    split_fixed,
)
from asyncgen.sim.embedded import SimulatorFailed, simulator
from asyncgen.workers.control import FAILING_REASONS, Asker, Completer, Control
from asyncgen.workers.filter import Filter
from asyncgen.workers.graph import Graph, Streams
from asyncgen.workers.instructions import Outlook
from asyncgen.workers.progress import Progress, Tally

log = events.get_logger()

EMBEDDED_PLACEHOLDER = "http://127.0.0.1/embedded-simulator/v1"  # replaced once it serves
AUTO_PROVIDERS: tuple[Provider, ...] = ("openrouter", "openai")  # tried in this order
EXIT_OK, EXIT_FATAL = 0, 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A run's checked inputs: nothing has been written yet."""

    config: RunConfig
    provider: ProviderConfig
    seeds: list[SeedTask]
    demos: Demonstrations
    store: TaskStore
    committed: summary.TaskFold  # tasks.jsonl folded (from OUT/summary.json and its tail)
    folded: summary.Folded[summary.TaskFold]  # the same, with what it covers
    summary: dict[str, Any]  # OUT/summary.json as the run found it
    backlog: worklog.Backlog  # the open work of earlier runs (OUT/journal.jsonl)
    prior: Recovered
    rescued: list[rescue.Answer]  # answers earlier runs' couriers kept (OUT/rescued.jsonl)
    courier_wait_s: float  # how long the last run's courier was waited for
    lock: DirectoryLock  # held from `prepare` to the end of `execute`
    record: Record  # the runs that wrote into --out before this one
    settings: dict[str, Any]  # this run's data-changing settings (asyncgen.json)
    changed: list[str]  # how they differ from the last run's (with --allow-changes)
    unscored: list[side.Unscored]  # tasks of earlier runs still without similarity fields
    endpoints: tuple[ProviderConfig, ...] = ()  # [[endpoints]]: each one's client config


def _provider(config: RunConfig) -> Provider:
    """The provider asked for; with none, the first whose key is set, else the simulator."""
    if config.provider is not None:
        return cast(Provider, config.provider)
    for provider in AUTO_PROVIDERS:
        if any(os.environ.get(variable) for variable in KEY_VARIABLES[provider]):
            return provider
    return "sim"


def provider_config(config: RunConfig) -> ProviderConfig:
    """The client's configuration; the key comes from the environment only."""
    provider = _provider(config)
    model = config.model or DEFAULT_MODEL.get(provider)
    if model is None:
        raise UsageError(f"--provider {provider} needs --model")
    try:
        return ProviderConfig.from_env(
            provider=provider,
            base_url=config.base_url or (EMBEDDED_PLACEHOLDER if provider == "sim" else None),
            model=model,
            endpoint=cast(Endpoint, config.endpoint),
            transport=cast(TransportName, config.transport),
            max_concurrency=config.max_concurrency,
            rpm=config.rpm or None,
            tpm=config.tpm or None,
            timeout_s=config.timeout,
            max_attempts=config.max_attempts,
            request_deadline_s=config.request_deadline,
            price_in=config.price_in,
            price_out=config.price_out,
            price_cached=config.price_cached,
            routing=config.routing,
            fallback_models=config.fallback_models,
            params=config.params,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def prepare(config: RunConfig) -> Prepared:
    """Check every input; raise UsageError naming the first bad one."""
    if config.out.exists() and not config.out.is_dir():
        raise UsageError(f"--out {config.out} exists and is not a directory")
    seeds = load_seeds(config.seeds, need=config.human_per_prompt)
    demos = load_demos(config.demos)
    provider = provider_config(config)
    assert provider.model is not None
    if config.batch and provider.provider == "openrouter" and (
            provider.endpoint != "chat" or provider.fallback_models):
        raise UsageError("--batch with OpenRouter: its Batch API takes chat completions for one "
                         "model per batch (--endpoint chat, no fallback models)")
    if config.budget_usd and config.price_in is None and price_for(provider.model) is None:
        raise UsageError(
            f"--budget-usd needs prices for model {provider.model!r}: give --price-in and "
            "--price-out"
        )
    endpoints: tuple[ProviderConfig, ...] = ()
    if config.endpoints:
        if config.batch:
            raise UsageError("--batch: not with [[endpoints]] (a pool of endpoints is live)")
        try:
            endpoints = tuple(configs_for(config.endpoints, provider))
        except ValueError as exc:
            raise UsageError(f"{exc}") from None
    settings = data_settings(config, provider, endpoints)
    lock = _own(config.out)
    try:
        waited = _wait_for_courier(config)
        record = read_record(config.out)
        store = TaskStore(config.out / layout.TASKS_FILE)
        before = summary.read_summary(config.out)
        folded = summary.fold_tasks(config.out, before)  # a torn last line is cut at open
        committed = folded.fold
        check_authorship(record, config.out,
                         ((first, run_id) for run_id, first in committed.runs.items()))
        backlog = worklog.read(config.out / layout.JOURNAL_FILE, set(committed.instructions),
                               before.get("journal"))
        changed = check_settings(record, config.out, settings,
                                 allow_changes=config.allow_changes)
        return Prepared(
            config=config, provider=provider, seeds=seeds, demos=demos, store=store,
            committed=committed, folded=folded, summary=before,
            backlog=backlog, prior=spend.recover(config.out / layout.SPEND_FILE),
            rescued=rescue.read(config.out / layout.RESCUE_FILE), courier_wait_s=waited,
            lock=lock, record=record, settings=settings, changed=changed,
            unscored=side.missing(config.out),
            endpoints=endpoints,
        )
    except BaseException:
        lock.release()
        raise


def _wait_for_courier(config: RunConfig) -> float:
    """Wait for the last run's courier to finish what it had in flight (its answers go to the
    rescue file this run reads): the seconds waited."""
    def say(line: str) -> None:
        if config.log_format != "none":
            print(f"asyncgen run: {line}", file=sys.stderr)

    try:
        return courier.wait_for_previous(
            config.out / layout.COURIER_LOCK_FILE,
            bound_s=courier.drain_limit(config.timeout), say=say)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Rescued:
    """What this run took over from earlier runs' couriers."""

    answers: list[rescue.Answer]  # not used yet; [] when the rescue file cannot be rewritten
    settled: int  # reservations settled now at their answer's bill
    settled_usd: float  # how that changed the spend figure (<= 0 unless a bill overran)

    def fields(self, waited_s: float) -> dict[str, Any]:
        return {"answers": len(self.answers), "settled": self.settled,
                "settled_usd": self.settled_usd, "courier_wait_s": round(waited_s, 3)}


def _take_over_rescued(p: Prepared) -> Rescued:
    """Settle the reservations of rescued answers not settled yet at what the provider billed,
    and mark them settled in the rescue file first (a crash between leaves the spend figure
    high, never low); their change to the spend figure, for its first line."""
    answers = p.rescued
    if not answers:
        return Rescued([], 0, 0.0)
    named = zip(p.config.endpoints, p.endpoints, strict=True)  # a pool's: its endpoint's price
    prices = {"": provider_price(p.provider)} | {s.name: provider_price(e) for s, e in named}
    fresh = [a for a in answers if not a.settled and not a.delivered and a.reservation is not None]
    change = sum(billed_usd(a, prices.get(a.endpoint, prices[""])) - a.reserved_usd for a in fresh)
    try:
        rescue.rewrite(p.config.out / layout.RESCUE_FILE, answers)
    except OSError:
        return Rescued([], 0, 0.0)  # nothing settled, nothing used: the next run tries again
    return Rescued(answers, len(fresh), round(change, DIGITS))


def data_settings(config: RunConfig, provider: ProviderConfig,
                  endpoints: Sequence[ProviderConfig] = ()) -> dict[str, Any]:
    """The settings that change the data, as asyncgen.json records them (a pool's: no key)."""
    hashes: dict[str, str] = {}
    for flag, path in (("seeds", config.seeds), ("demos", config.demos)):
        try:
            hashes[f"{flag}_sha256"] = file_sha256(path)
        except OSError as exc:
            raise UsageError(f"--{flag}: cannot read {str(path)!r}: {exc.strerror}") from None
    stage_models = {stage: params.model for stage, params in config.params.items()
                    if params.model and params.model != provider.model}
    pool = [{"name": spec.name, "provider": one.provider, "base_url": one.base_url,
             "models": list(spec.models or (provider.model,))}
            for spec, one in zip(config.endpoints, endpoints, strict=True)]
    return {
        "provider": "+".join(sorted({e.provider for e in endpoints})) or provider.provider,
        "model": provider.model,
        "stage_models": stage_models,  # [stages.<stage>] model, where not the run's
        "endpoint": config.endpoint,
        "similarity_threshold": config.similarity_threshold,
        **hashes,
        **({"endpoints": pool} if pool else {}),
    }


def _own(out: Path) -> DirectoryLock:
    """Create --out if needed and lock it: from here on this run is its only writer."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {str(out)!r}: {exc.strerror}") from None
    lock = DirectoryLock(out)
    lock.acquire()
    return lock


@asynccontextmanager
async def _connected(p: Prepared) -> AsyncIterator[ProviderConfig]:
    """The provider's config; for the simulator with no --base-url, start one for this run."""
    if p.provider.base_url != EMBEDDED_PLACEHOLDER:
        yield p.provider
        return
    log.warning(events.RUN_SIMULATOR, message="no API key: using the built-in simulator "
                "(see --provider)")
    async with simulator(["--seed", str(p.config.seed)]) as url:
        yield replace(p.provider, base_url=url)


SWITCH_INTERVAL_S = 0.0005  # see `execute`


async def execute(p: Prepared) -> int:
    """Run the graph to its end; always close with run.finished.

    A file that cannot be written (disk full, read-only, I/O error) ends the run with one line
    and exit code 1; every line written before it is whole, so the directory resumes.
    """
    c = p.config
    run_id = uuid.uuid4().hex[:12]
    # the loop thread releases the GIL on every write, send and poll; with worker threads
    # busy (similarity fields, index merges, checkpoints) each re-acquisition waited up to
    # the interpreter's 5 ms switch interval: a convoy of them was a stall of 50-150 ms
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        # the record first: every journal file beside it is then provably this run's
        try:
            write_record(c.out, p.record, {"run_id": run_id, "started_at": utc_now(),
                                           "asyncgen": __version__, "settings": p.settings})
        except OSError as exc:
            print(f"asyncgen run: error: {_cannot_write(exc, c.out)}", file=sys.stderr)
            return EXIT_FATAL
        if p.folded.length > p.folded.from_summary:  # lines of a killed (or older) run
            await anyio.to_thread.run_sync(_summarise_tasks, p)  # a big pool's: not on the loop
        return await _execute(p, run_id)
    finally:
        p.lock.release()


async def _execute(p: Prepared, run_id: str) -> int:
    c = p.config
    rescued = _take_over_rescued(p)
    # held money of a killed run counts as spent, except what its rescued answers settled
    prior_usd = max(0.0, round(p.prior.figure_usd + rescued.settled_usd, DIGITS))
    journal = spend.open_journal(c.out / layout.SPEND_FILE, run_id, prior_usd,  # first write
                                 rescued=rescued.settled, rescued_usd=rescued.settled_usd)
    tally = Tally()
    control = Control(target=c.target_instructions, max_requests=c.max_requests,
                      drain_timeout=c.drain_timeout, committed=len(p.committed))
    sink: events.EventFile | None = None
    try:
        secrets = [config.api_key for config in (p.provider, *p.endpoints) if config.api_key]
        sink, status = events.configure(
            events_path=c.out / layout.EVENTS_FILE, console_format=c.log_format,
            secrets=secrets, observers=[tally],
            on_console_closed=partial(_console_closed, control),
            human=partial(console.Human, c.out),
            lean_events=c.event_detail == "lean",
        )
        p.store.open()
    except OSError as exc:
        events.close(sink)
        journal.close_quietly()
        print(f"asyncgen run: error: {_cannot_write(exc, c.out)}", file=sys.stderr)
        return EXIT_FATAL
    assert sink is not None
    sink.on_fault = partial(_output_failed, control)
    budget = Budget(c.budget_usd or None, spent_usd=prior_usd, journal=journal)
    costs = _cost_model(p)
    plan = None if budget.limit_usd is None else Plan(budget, costs)
    work = worklog.Journal(c.out / layout.JOURNAL_FILE)
    worklog.rewrite(work.path, p.backlog)  # only what is still open, and the failures
    work.open()
    # the summary's writer from here on (the files it folds are written from now on)
    checkpointer = Checkpointer(c.out, p.folded, p.summary.get("events"), work=work,
                                spend=journal)
    exit_code = EXIT_OK
    progress: Progress | None = None
    graph: Graph | None = None
    try:
        log.info(events.RUN_STARTED, run_id=run_id, provider=p.provider.provider,
                 model=p.provider.model,
                 resumed_tasks=len(p.committed), prior_cost_usd=prior_usd,
                 rescued=rescued.fields(p.courier_wait_s),
                 settings_changed=p.changed, config=c.public())
        _warn_if_unpriced(p)
        progress_of = partial(Progress, tally=tally, interval=c.progress_interval, status=status,
                              spend=budget, prior_cost_usd=prior_usd,
                              start_committed=len(p.committed))
        files, store = _courier(p, p.provider, run_id, rescued)  # a pool's: its endpoints'
        if p.endpoints:
            async with open_pool(c.endpoints, p.endpoints, budget=budget, split=split_fixed,
                                 costs=costs, courier=files, rescue=store) as pool:
                for one in pool.endpoints:  # each OpenRouter key of the pool, checked
                    if one.client.config.provider == "openrouter":
                        await _check_key(one.client, 0.0, one.name)
                graph = _graph(p, control, pool, run_id, work, checkpointer,
                               partial(progress_of, limiter_state=pool.stats), plan)
                progress = graph.progress
                await _run_graph(graph, control)
        else:
            async with _connected(p) as provider:
                async with LLMClient(provider, budget=budget, courier=files, split=split_fixed,
                                     rescue=store, costs=costs) as client, \
                        batching(c, provider, client, budget, run_id) as batcher:
                    asking: Completer = client if batcher is None else batcher
                    if provider.provider == "openrouter":
                        await _check_key(client, c.budget_usd - prior_usd if c.budget_usd else 0.0)
                    graph = _graph(p, control, asking, run_id, work, checkpointer, partial(
                        progress_of, limiter_state=client.stats,
                        batches=None if batcher is None else batcher.stats), plan)
                    progress = graph.progress
                    await _run_graph(graph, control)
        if control.reason in FAILING_REASONS:
            exit_code = EXIT_FATAL  # its one line is printed below, with the other faults
    except* (FatalError, SimulatorFailed) as group:
        control.fail("fatal", str(_first(group)))
        exit_code = EXIT_FATAL
    except* OSError as group:
        control.fail("io_error", _cannot_write(_first(group), c.out))
        exit_code = EXIT_FATAL
    except* anyio.BrokenResourceError:
        if control.reason not in ("fatal", "io_error"):
            raise
        # a stage whose neighbour ended on the error above: nothing of its own to report
    finally:
        if progress is not None:
            progress.final()
        fields_missing = len(p.unscored)
        if graph is not None:
            fields_missing = graph.fields.outstanding
            try:
                graph.fields.shut()  # what is outstanding stays so: the next run writes it
            except OSError as exc:
                control.fail("io_error", _cannot_write(exc, c.out), keep_message=True)
        for closing in (p.store, journal, work):
            try:
                closing.close()
            except OSError as exc:
                control.fail("io_error", _cannot_write(exc, c.out), keep_message=True)
        if sink.fault is not None and control.reason != "fatal":
            control.fail("io_error", _cannot_write(sink.fault, sink.path))
        if control.reason == "io_error":
            exit_code = EXIT_FATAL
        totals = progress.snapshot(control) if progress is not None else {}
        totals["cost_usd_all_runs"] = budget.spend_usd  # what report reads from spend.jsonl
        totals["fields_missing"] = fields_missing  # tasks whose similarity fields the next
        # run writes (asyncgen.rundir.fields)
        log.info(events.RUN_FINISHED, run_id=run_id, reason=control.reason or "unknown",
                 error=control.fatal_message, note=_finish_note(p, control, tally, plan), **totals)
        events.close(sink)
        cut_short = control.scope is not None and control.scope.cancel_called
        if control.reason != "io_error" and not cut_short:
            with anyio.CancelScope(shield=True):  # a big run's last fold: not on the loop
                await anyio.to_thread.run_sync(settle, c.out, checkpointer)
        if control.fatal_message is not None and c.log_format != "human":  # human: in its summary
            print(f"asyncgen run: stopped: {control.fatal_message}", file=sys.stderr)
    return exit_code


def _cost_model(p: Prepared) -> CostModel:
    """The run's cost model, its priors from the run's own prompts (asyncgen.llm.costs)."""
    c = p.config
    discount = c.batch_discount
    costs = CostModel(provider_price(p.provider), batch_discount=(
        DEFAULT_DISCOUNT.get(p.provider.provider, 0.5) if discount is None else discount))
    shown = [seed.instruction for seed in p.seeds[:c.human_per_prompt + c.machine_per_prompt]]
    set_priors(costs, p.demos, shown, c.params)
    return costs


def _summarise_tasks(p: Prepared) -> None:
    """Fold what `prepare` read into the summary at once, so that a kill -9 of this run
    leaves the next one only this run's lines to fold (the events part stays as it was)."""
    parts = {key: value for key, value in p.summary.items()
             if key not in ("format", "journal", "tasks")}  # the journal is rewritten next
    try:
        summary.write_summary(p.config.out,
                              {**parts, "tasks": p.folded.part(p.folded.fold.state())})
    except OSError:
        pass  # a summary is never needed: the next reader folds the file itself


def _courier(p: Prepared, provider: ProviderConfig, run_id: str,
             rescued: Rescued) -> tuple[CourierFiles | None, rescue.Rescue | None]:
    """Where the run's courier (a pool's one) keeps answers in OUT, and the rescued answers it
    may use (None, None for another transport: it keeps nothing and uses nothing)."""
    if provider.transport != "courier":
        return None, None
    files = CourierFiles(run_id=run_id, rescue=p.config.out / layout.RESCUE_FILE,
                         lock=p.config.out / layout.COURIER_LOCK_FILE)
    return files, rescue.Rescue(rescued.answers)


def _cannot_write(exc: BaseException, where: Path) -> str:
    """One line for a failed write: which file (or directory), what the system said."""
    if not isinstance(exc, OSError) or isinstance(exc, ConnectionError):
        return str(exc)
    path = exc.filename or where
    return (f"cannot write {str(path)!r}: {exc.strerror or exc} (when fixed, the same command "
            "resumes the run)")


def _output_failed(control: Control, exc: OSError) -> None:
    """events.jsonl could not be written: stop at once (its fault is reported at the end)."""
    control.stop("io_error", drain=False, note=exc.strerror)


def _console_closed(control: Control) -> None:
    """The console's reader went away (`| head`): stop as a signal would, draining."""
    control.stop("signal", note="the console was closed (broken pipe)")


def _warn_if_unpriced(p: Prepared) -> None:
    """Say once that cost_usd stays 0 when neither the provider nor a price table prices it."""
    if p.provider.provider == "openrouter" or p.config.price_in is not None:
        return  # OpenRouter reports usage.cost
    if price_for(str(p.provider.model)) is None:
        log.warning(events.RUN_UNPRICED, model=p.provider.model,
                    message="no price for this model: cost is not tracked (cost_usd stays 0); "
                    "give --price-in and --price-out")


def _finish_note(p: Prepared, control: Control, tally: Tally,
                 plan: Plan | None = None) -> str | None:
    """A word for the user when the stop reason alone would puzzle them."""
    if control.reason == "budget" and tally.requests == 0 and plan is not None and (
            plan.budget.fits(plan.floor_usd())):
        return plan.stop_note()  # a request would fit, not a job
    if control.reason == "budget" and tally.requests == 0:
        return (f"--budget-usd {p.config.budget_usd:g} cannot fit even one request's worst "
                "case (its prompt and max_tokens at the model's prices); raise it")
    return None


async def _check_key(client: LLMClient, budget_usd: float, endpoint: str = "") -> None:
    """OpenRouter's key check, said once; refuse the run when the key cannot pay for it (a
    pool's endpoint: when it has no credit left; the budget is the pool's, not one key's)."""
    info = await client.check_key()
    where = {"endpoint": endpoint} if endpoint else {}
    if info is None:
        log.warning(events.RUN_KEY, message="OpenRouter: no answer from GET /key", **where)
        return
    log.warning(events.RUN_KEY, message=key.describe(info), limit_usd=info.limit_usd,
                remaining_usd=info.remaining_usd, usage_usd=info.usage_usd, **where,
                free_tier=info.free_tier, free_daily_requests=info.free_daily_requests)
    why = key.refusal(info, budget_usd=budget_usd, model=client.config.model or "")
    if why is not None:
        raise InsufficientCredits(f"[[endpoints]] {endpoint!r}: {why}" if endpoint else why)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf of a (nested) exception group: the error that stopped the run."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def _run_graph(graph: Graph, control: Control) -> None:
    """Run the graph, or only complete the fields earlier runs left when the target is met."""
    graph.fields.open()
    gc.collect(1)  # the start's objects frozen: a full collection walked them (70-120 ms)
    gc.freeze()
    if control.committed >= control.target:
        control.stop("target")
        await graph.complete_fields()  # what earlier runs left, if anything
    elif not control.stopping.is_set():
        await graph.run()


def _graph(p: Prepared, control: Control, client: Completer, run_id: str,
           work: worklog.Journal, checkpointer: Checkpointer,
           progress: Callable[..., Progress], plan: Plan | None = None) -> Graph:
    """The graph and what it owns; `progress` is completed with the graph's own sources."""
    c = batch_workers(p.config)
    streams = Streams(c.queue_size)
    pool = Pool(p.seeds, threshold=c.similarity_threshold,
                sample=FIELDS_SAMPLE if c.fields == "sample" else 0)
    # built in a worker thread while the run sends; open jobs: the filter keeps them first
    pool.restore(p.committed.instructions, kept=p.backlog.failed)
    outlook = Outlook()
    fields = side.FieldsPass(c.out / layout.FIELDS_FILE, pool, p.unscored)
    return Graph(
        config=c,
        pool=pool,
        demos=p.demos,
        control=control,
        ask=Asker(client, control, c.params, max_failures=c.max_consecutive_failures,
                  plan=plan),
        filter=Filter(pool=pool, store=p.store, journal=work, backlog=p.backlog,
                      control=control, outlook=outlook,
                      slots=anyio.Semaphore(c.queue_size), model=str(p.provider.model),
                      run_id=run_id, next_id=len(p.committed) + 1, stuck_after=c.stuck_after,
                      fields=fields, plan=plan, detailed=c.event_detail == "full"),
        outlook=outlook,
        progress=progress(queues=streams.depths, neighbours=pool.scores.stats,
                          fields_pending=lambda: fields.outstanding),
        streams=streams,
        rng=random.Random(f"{c.seed}:{len(p.committed)}"),
        checkpointer=checkpointer,
        fields=fields,
    )


def set_priors(costs: CostModel, demos: Demonstrations, instructions: Sequence[str],
               params: Mapping[Stage, RequestParams]) -> None:
    """Priors from the run's own prompts: a generation prompt showing these seed
    `instructions`, and the classification and (dearer) instance prompt of the longest."""
    price = costs.price
    if price is None or not instructions:
        return
    longest = max(instructions, key=len)
    costs.prior("instructions", prior_usd(price, instruction_prompt(instructions),
                                          params["instructions"].max_tokens))
    costs.prior("classify", prior_usd(price, classify_prompt(demos.classify, longest),
                                      params["classify"].max_tokens))
    instance = max(input_first_prompt(demos.input_first, longest),
                   output_first_prompt(demos.output_first, longest), key=len)
    costs.prior("instances", prior_usd(price, instance, params["instances"].max_tokens))
