"""BatchClient: `complete()` as LLMClient's, but each request waits for a Batch API batch.

The stages keep their one way to ask (`workers.control.Asker`): in batch mode its client is a
BatchClient. A request is queued per stage; a stage's queue becomes a batch when it holds
`size` requests or its oldest has waited `max_wait_s`. Each batch, in its own task:

    reserve its worst case at the batch price → journal `planned` → upload the input file →
    journal `uploaded` → create the batch → journal `submitted` → poll until terminal →
    read the lines' results → journal `collected` → settle → answer each request

(uploading, creating and reading results are the provider's dialect: `BatchAPI.submit` and
`results`, OpenAI's or OpenRouter's, `asyncgen.batch.openrouter`)

so several batches (of any stage) are in flight at once. A request whose body (its digest)
is already queued, in flight or answered is never sent again: it waits for, or gets, that
answer. Lines that never ran (expired, cancelled, failed batch) or failed retryably are sent
again, in a later batch or live (`retry`), up to `attempts` batches; other line errors end the
request as a live error would. `run()` re-attaches, on start, to the batches an earlier run
left in flight (see `asyncgen.batch.journal`); their answers serve the requests that ask the
same body again, and generation answers nobody asks for again are handed to `take_orphans()`.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from asyncgen.batch.api import BatchAPI
from asyncgen.batch.flights import (
    BatchSettings,
    _Flight,
    _from_record,
    _next_number,
    _record,
    _Request,
    batch_price,
)
from asyncgen.batch.journal import BatchJournal, JournaledBatch
from asyncgen.batch.lines import ENDPOINT_PATHS, LineResult
from asyncgen.llm.client import LLMClient
from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.costs import TRANSPORTS, WAITING, Choice, CostModel, choose_transport
from asyncgen.llm.errors import (
    BudgetExhausted,
    FatalError,
    ItemError,
    LineNotRun,
    ProviderError,
    RetriesExhausted,
    SendingStopped,
)
from asyncgen.llm.params import STAGES, RequestParams, Stage
from asyncgen.llm.pricing import Usage, worst_case_cost
from asyncgen.llm.wire import Completion
from asyncgen.observe import events

if TYPE_CHECKING:
    from asyncgen.llm.budget import Budget, Reservation

log = events.get_logger()

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""The batch price as a discount off the live price, by provider (OpenAI: 50%)."""
_MS = 1000.0


class BatchClient:
    """Completions through a provider's Batch API, shared by every worker of a run."""

    __slots__ = ("live", "api", "journal", "settings", "price", "_budget", "_clock", "_run_id",
                 "_url", "_queues", "_by_key", "_answers", "_flights", "_orphans", "_seq",
                 "_tg", "totals", "settled_usd", "_statuses", "_held", "costs", "all_stages",
                 "_probes", "_routes", "_probed", "_leaving", "_collecting")

    def __init__(
        self,
        live: LLMClient,
        api: BatchAPI,
        journal: BatchJournal,
        settings: BatchSettings,
        *,
        run_id: str,
        budget: Budget | None = None,
        clock: Clock = SYSTEM_CLOCK,
        costs: CostModel | None = None,
        all_stages: bool = True,
    ) -> None:
        self.live = live
        # with a cost model, each stage goes live or in a batch by its expected cost per
        # request (`choose_transport`); without one, or with `all_stages`, every stage batches
        self.costs = costs
        self.all_stages = all_stages or costs is None
        self._probes: Counter[str] = Counter()  # requests sent in batches to measure them
        self._routes: dict[Stage, Choice] = {}  # the last choice per stage
        # set once a stage's batch probes are measured (or failed, or the stage is held)
        self._probed: dict[Stage, anyio.Event] = {stage: anyio.Event() for stage in STAGES}
        self.api = api
        self.journal = journal
        self.settings = settings
        self.price = None if live.price is None else batch_price(live.price, settings.discount)
        self._budget = budget
        self._clock = clock
        self._run_id = run_id
        self._url = ENDPOINT_PATHS[live.config.endpoint]
        self._queues: dict[Stage, list[_Request]] = {stage: [] for stage in STAGES}
        self._by_key: dict[str, _Request] = {}
        self._answers: dict[str, LineResult] = {}  # body key -> answer from earlier runs
        self._flights: dict[str, _Flight] = {}
        self._orphans: list[tuple[int, Completion]] = []
        self._seq = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        self.totals: Counter[str] = Counter()
        self.settled_usd = 0.0  # billed by collected batches, this run
        self._statuses: Counter[str] = Counter()  # terminal statuses of collected batches
        self._held: set[Stage] = set()
        self._leaving = False  # `leave_orphans`: batches only of orphans are left uncollected
        self._collecting: set[str] = set()  # flights whose results are being downloaded

    def __repr__(self) -> str:
        return f"<BatchClient {self.api!r} flights={len(self._flights)} {dict(self.totals)}>"

    # the stages' side -------------------------------------------------------------------

    async def complete(
        self, stage: Stage, prompt: str, params: RequestParams | None = None
    ) -> Completion:
        """The answer to `prompt`, from a batch; raises the typed errors LLMClient raises."""
        if params is None:
            params = self.live.config.params[stage]
        key = hashlib.blake2b(self.live.body(prompt, params), digest_size=16).hexdigest()
        request = self._by_key.get(key)
        if request is not None and request.done.is_set() and request.error is not None:
            request = None  # it failed: this is a new attempt
        if request is None:
            answer = self._answers.get(key)
            if answer is not None:  # answered in an earlier run's batch: not paid again
                self.totals["reused"] += 1
                return self._completion(stage, answer, attempts=1, started=self._now())
            choice = self._route(stage)
            if choice.why == WAITING:  # batch mode waits anyway: for the probes' cost here
                await self._probed[stage].wait()
                choice = self._route(stage)
            if choice.via == "live":
                self.totals["requests_routed_live"] += 1
                return await self.live.complete(stage, prompt, params)
            request = _Request(stage, key, prompt, params, _next_number(prompt)
                               if stage == "instructions" else None, self._now())
            self._by_key[key] = request
            self._enqueue(request)
        elif request.prompt is None:  # re-attached from the journal: now someone waits
            request.prompt, request.params, request.orphan = prompt, params, False
        else:
            self.totals["shared"] += 1
        await request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.completion is not None
        return request.completion

    async def room(self, stage: Stage) -> None:
        """A batch takes every request at once: no wait (the stage's ceiling bounds them)."""

    def _route(self, stage: Stage) -> Choice:
        """Where a new request of `stage` goes (kept for `stats`)."""
        if self.costs is None or self.all_stages:
            choice = Choice("batch", "forced (--batch-stages all)" if self.all_stages
                            else "no cost model")
        else:
            choice = choose_transport(self.costs, stage, batch_probes=self._probes[stage])
            if choice.via == "batch" and choice.why.startswith("measuring"):
                self._probes[stage] += 1
        self._routes[stage] = choice
        return choice

    def transports(self) -> dict[str, dict[str, Any]]:
        """Per stage: the transport its requests take now, why, and the measured cost per
        request on each (run.progress, run.finished)."""
        out: dict[str, dict[str, Any]] = {}
        for stage, choice in self._routes.items():
            row: dict[str, Any] = {"via": choice.via, "why": choice.why}
            if self.costs is not None:
                for transport in TRANSPORTS:
                    measured = self.costs.measured(stage, transport)
                    if measured.responses:
                        row[f"{transport}_usd_per_request"] = round(measured.mean_usd(), 9)
                        row[f"{transport}_cached_share"] = round(measured.cached_share, 3)
            out[stage] = row
        return out

    def hold(self, stage: Stage) -> None:
        """Send no more requests of `stage`: queued ones (not yet in a batch) and later ones
        raise SendingStopped; batches already submitted are still followed and collected."""
        self._held.add(stage)
        self._probed[stage].set()
        self.live.hold(stage)
        queue = self._queues[stage]
        for request in queue:
            request.error = SendingStopped(f"{stage} requests are no longer sent")
            request.done.set()
        queue.clear()

    def take_orphans(self) -> list[tuple[int, Completion]]:
        """Generation answers from re-attached batches that no worker asked for again, each
        with the number its prompt ended on (to parse it); taken once (by
        asyncgen.workers.instructions.adopt)."""
        out, self._orphans = self._orphans, []
        return out

    def expecting_orphans(self) -> bool:
        """Whether a re-attached generation line nobody asked for again is still unanswered
        (or answered and not taken yet); once `leave_orphans`, only those of batches being
        collected now, or that someone else waits for (they are collected all the same)."""
        if self._orphans:
            return True
        for flight in self._flights.values():
            if flight.stage != "instructions" or not any(
                    request.orphan and not request.done.is_set()
                    for request in flight.requests.values()):
                continue
            if not self._left(flight) or flight.seq in self._collecting:
                return True
        return False

    def leave_orphans(self) -> None:
        """The run is stopping: a re-attached generation batch whose lines nobody in this run
        asks for is no longer collected; it stays `submitted` in the batches journal, and the
        next run re-attaches to it and adopts its answers (paid for, never dropped)."""
        self._leaving = True

    def _left(self, flight: _Flight) -> bool:
        return self._leaving and flight.stage == "instructions" and all(
            request.orphan for request in flight.requests.values())

    def stats(self) -> dict[str, Any]:
        """Batches by status, requests queued / in batches / answered, money held and settled,
        and an ETA (None with a reason when it cannot be told)."""
        by_status = Counter(f.status for f in self._flights.values())
        by_status.update(self._statuses)
        in_batches = sum(f.total or len(f.requests) for f in self._flights.values())
        reserved = sum(f.reservation.amount_usd for f in self._flights.values()
                       if f.reservation is not None and not f.reservation.settled)
        eta, why = self._eta()
        return {
            "by_status": dict(by_status),
            "queued": sum(len(q) for q in self._queues.values()),
            "in_batches": in_batches,
            "answered_in_flight": sum(f.completed for f in self._flights.values()),
            "reserved_usd": round(reserved, 6),
            "settled_usd": round(self.settled_usd, 6),
            **self.totals,
            "eta_s": eta,
            "eta_unknown": why,
            "transports": self.transports(),
        }

    def _eta(self) -> tuple[float | None, str | None]:
        """Seconds until every batch in flight is done, from each one's pace so far."""
        if not self._flights:
            return (None, "no batch in flight") if any(self._queues.values()) else (0.0, None)
        now, longest = self._now(), 0.0
        for flight in self._flights.values():
            if flight.status in ("validating", "cancelling") or flight.progress_since is None:
                return None, f"a batch is {flight.status}"
            if flight.status == "finalizing":
                continue
            done = flight.completed + flight.failed
            if done == 0:
                return None, "no batch line answered yet"
            pace = (now - flight.progress_since) / done
            longest = max(longest, pace * (flight.total - done))
        return round(longest, 1), None

    def _now(self) -> float:
        return self._clock.monotonic()

    def _enqueue(self, request: _Request) -> None:
        if request.stage in self._held:
            request.error = SendingStopped(f"{request.stage} requests are no longer sent")
            request.done.set()
            return
        queue = self._queues[request.stage]
        request.queued_at = self._now()
        queue.append(request)
        if len(queue) >= self.settings.size:
            self._flush(request.stage)

    def _flush(self, stage: Stage) -> None:
        queue = self._queues[stage]
        taken, queue[:] = queue[: self.settings.size], queue[self.settings.size:]
        if taken:
            assert self._tg is not None, "BatchClient.run() is not running"
            self._tg.start_soon(self._send, stage, taken)

    # the batches' side ------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Re-attach to earlier batches, then form batches by age until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self.journal.open()
            try:
                await self._resume()
                task_status.started()
                tick = max(0.01, min(self.settings.max_wait_s / 4, 0.5))
                while True:
                    await self._clock.sleep(tick)
                    now = self._now()
                    for stage, queue in self._queues.items():
                        if queue and now - queue[0].queued_at >= self.settings.max_wait_s:
                            self._flush(stage)
            finally:
                self.journal.close()

    async def _send(self, stage: Stage, requests: list[_Request]) -> None:
        """One batch from reservation to answers."""
        requests, reservation = await self._reserve(requests)
        if not requests:
            return
        seq = f"{self._run_id}-{next(self._seq)}"
        flight = _Flight(seq, stage, {f"{seq}-{i}": r for i, r in enumerate(requests)},
                         reservation, total=len(requests), started=self._now())
        for request in requests:
            request.attempts += 1
        worst = reservation.amount_usd if reservation is not None else 0.0
        self.journal.planned(seq, stage, self._url, worst,
                             [(cid, r.key, r.next_number) for cid, r in flight.requests.items()])
        self._flights[seq] = flight
        try:
            batch = await self.api.submit(seq, self._url, self.live.model_of(stage), (
                (cid, self.live.body(r.prompt or "", r.params or self.live.config.params[stage]))
                for cid, r in flight.requests.items()
            ), lambda file_id: self.journal.uploaded(seq, file_id))
        except FatalError:
            raise
        except ProviderError as err:
            self.journal.abandoned(seq, f"{err.kind}: {err}")
            log.warning(events.BATCH_ABANDONED, seq=seq, stage=stage, requests=len(requests),
                        error_kind=err.kind, message=str(err))
            self._close(flight, "abandoned", 0.0)
            for request in requests:
                self._settle_line(flight, request, LineResult("", "error", None, err))
            return
        flight.batch_id = str(batch["id"])
        self.journal.submitted(seq, flight.batch_id)
        self.totals["batches"] += 1
        self.totals["requests_submitted"] += len(requests)
        log.info(events.BATCH_SUBMITTED, batch_id=flight.batch_id, seq=seq, stage=stage,
                 requests=len(requests), reserved_usd=round(worst, 6))
        await self._follow(flight, batch)

    async def _reserve(self, requests: list[_Request]
                       ) -> tuple[list[_Request], Reservation | None]:
        """Hold the batch's worst case; requests that cannot fit end with BudgetExhausted."""
        budget, price = self._budget, self.price
        if budget is None or price is None:
            return requests, None
        worst = [worst_case_cost(price, r.prompt or "", (r.params.max_tokens if r.params else 0))
                 for r in requests]
        total = sum(worst)
        try:
            if budget.fits(total):
                return requests, budget.reserve(total)
            return requests, await budget.reserve_when_room(total)
        except BudgetExhausted as exc:
            room, fit = budget.remaining_usd, 0
            while fit < len(requests) and sum(worst[: fit + 1]) <= room:
                fit += 1
            for request in requests[fit:]:
                request.error = exc
                request.done.set()
            kept = requests[:fit]
            return kept, (budget.reserve(sum(worst[:fit])) if kept else None)

    async def _follow(self, flight: _Flight, batch: dict[str, Any]) -> None:
        """Poll until the batch is done, then collect it."""
        while True:
            self._observe(flight, batch)
            if self._left(flight):
                return  # left to the next run (`leave_orphans`)
            if flight.status in TERMINAL:
                break
            await self._clock.sleep(self.settings.poll_interval_s)
            try:
                batch = await self.api.retrieve(flight.batch_id)
            except FatalError:
                raise
            except ProviderError as err:  # the batch is still at the provider: keep asking
                log.warning(events.BATCH_STATUS, batch_id=flight.batch_id, status=flight.status,
                            error_kind=err.kind, message=str(err))
        await self._collect(flight, batch)

    def _observe(self, flight: _Flight, batch: dict[str, Any]) -> None:
        status = str(batch.get("status"))
        counts = batch.get("request_counts") or {}
        flight.total = int(counts.get("total") or flight.total)
        flight.completed = int(counts.get("completed") or 0)
        flight.failed = int(counts.get("failed") or 0)
        if status in ("in_progress", "finalizing") and flight.progress_since is None:
            flight.progress_since = self._now()
        if status != flight.status:
            flight.status = status
            log.info(events.BATCH_STATUS, batch_id=flight.batch_id, stage=flight.stage,
                     status=status,
                     total=flight.total, completed=flight.completed, failed=flight.failed)

    async def _collect(self, flight: _Flight, batch: dict[str, Any]) -> None:
        """Read the lines' results (the dialect's way); journal, settle, answer every request."""
        self._collecting.add(flight.seq)
        try:
            results = await self.api.results(batch, self.price, now=self._clock.wall())
        finally:
            self._collecting.discard(flight.seq)
        cost = sum(r.usage.cost_usd for r in results.values()
                   if r.usage is not None and r.usage.cost_usd is not None)
        self.journal.collected(flight.seq, flight.batch_id, flight.status, cost,
                               {cid: _record(r) for cid, r in results.items()})
        self._close(flight, flight.status, cost)
        answered = sum(1 for r in results.values() if r.error is None)
        log.info(events.BATCH_COLLECTED, batch_id=flight.batch_id, stage=flight.stage,
                 status=flight.status, requests=len(flight.requests), answered=answered,
                 cost_usd=round(cost, 6),
                 elapsed_s=round(self._now() - flight.started, 2))
        for cid, request in flight.requests.items():
            result = results.get(cid)
            if result is None:
                result = LineResult("", "error", None, LineNotRun(
                    f"batch {flight.batch_id} {flight.status}: line not answered"))
            self._settle_line(flight, request, result)

    def _close(self, flight: _Flight, status: str, cost: float) -> None:
        self._flights.pop(flight.seq, None)
        self._statuses[status] += 1
        self.settled_usd += cost
        if flight.reservation is not None and self._budget is not None:
            self._budget.settle(flight.reservation, cost)

    def _settle_line(self, flight: _Flight, request: _Request, result: LineResult) -> None:
        """Answer one request, or send it again, or end it with its error."""
        err = result.error
        if err is None:
            completion = self._completion(request.stage, result, attempts=request.attempts,
                                          started=request.asked_at)
            usage = completion.usage
            if self.costs is not None:
                self.costs.observe(request.stage, usage, "batch")
                if self.costs.known(request.stage, "batch"):
                    self._probed[request.stage].set()
            self.totals["requests_answered"] += 1
            log.info(events.REQUEST_COMPLETED, stage=request.stage, model=completion.model,
                     status=200, attempt=request.attempts,
                     latency_ms=round(completion.latency_ms, 1),
                     prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                     cost_usd=usage.cost_usd, batch_id=flight.batch_id)
            self._answer(request, completion)
            return
        billed = err.billed
        cost = {} if billed is None else {"prompt_tokens": billed.prompt_tokens,
                                          "completion_tokens": billed.completion_tokens,
                                          "cost_usd": billed.cost_usd}
        if err.retryable and request.prompt is not None and request.params is not None \
                and request.attempts < self.settings.attempts:
            log.warning(events.REQUEST_RETRY, stage=request.stage, error_kind=err.kind,
                        status=err.status, attempt=request.attempts, wait_s=0,
                        batch_id=flight.batch_id, retry=self.settings.retry, **cost)
            self.totals["lines_retried"] += 1
            if self.settings.retry == "live":
                assert self._tg is not None
                self._tg.start_soon(self._ask_live, request)
            else:
                self._enqueue(request)
            return
        final: ProviderError = err
        if err.retryable:
            final = RetriesExhausted(f"gave up after {request.attempts} batch(es); last: {err}",
                                     status=err.status, attempt=request.attempts,
                                     last_kind=err.kind)
        self.totals["requests_failed"] += 1
        log.error(events.REQUEST_FAILED, stage=request.stage, error_kind=final.kind,
                  status=final.status, attempt=request.attempts,
                  final=not isinstance(final, ItemError), message=str(final),
                  batch_id=flight.batch_id, **cost)
        request.error = final
        request.done.set()
        self._probed[request.stage].set()  # a probe may have failed: do not wait for it

    async def _ask_live(self, request: _Request) -> None:
        """A retry sent live (`retry="live"`)."""
        assert request.prompt is not None
        self.totals["requests_live"] += 1
        try:
            completion = await self.live.complete(request.stage, request.prompt, request.params)
        except ProviderError as err:
            request.error = err
            request.done.set()
            return
        self._answer(request, completion)

    def _answer(self, request: _Request, completion: Completion) -> None:
        request.completion = completion
        request.done.set()
        if request.orphan and request.stage == "instructions" and request.next_number:
            self._orphans.append((request.next_number, completion))

    def _completion(self, stage: Stage, result: LineResult, *, attempts: int,
                    started: float) -> Completion:
        usage = result.usage or Usage(0, 0, None, estimated=True)
        waited = (self._now() - started) * _MS
        return Completion(text=result.text, finish_reason=result.finish_reason, usage=usage,
                          latency_ms=waited, elapsed_ms=waited, attempts=attempts,
                          model=self.live.model_of(stage), stage=stage)

    # resume -----------------------------------------------------------------------------

    async def _resume(self) -> None:
        """Take up what earlier runs left: answers to reuse, batches to follow."""
        # batches known by id first, and none the journal names (collected ones too) is
        # taken for a lost submission: OpenRouter's are found by shape, not by input file
        olds = self.journal.load()
        taken = frozenset(b.batch_id for b in olds if b.batch_id is not None)
        for old in sorted(olds, key=lambda b: b.batch_id is None):
            if old.status is not None:
                for cid, key, _ in old.lines:
                    record = old.results.get(cid)
                    answer = None if record is None else _from_record(record)
                    if answer is not None:
                        self._answers[key] = answer
                continue
            batch = await self._find(old, taken)
            if batch is None:
                continue
            self._reattach(old, batch)

    async def _find(self, old: JournaledBatch, taken: frozenset[str]) -> dict[str, Any] | None:
        """The provider's batch for a journaled one, or None (then it is abandoned)."""
        if old.batch_id is not None:
            try:
                return await self.api.retrieve(old.batch_id)
            except ProviderError as err:
                if err.status != 404:
                    raise
                reason = "not found at the provider"
        elif old.file_id is not None:
            found = await self.api.find(old.file_id, taken=taken)
            if found is not None:
                self.journal.submitted(old.seq, str(found["id"]))
                return found
            reason = "uploaded, never created"
        else:
            reason = "never uploaded"
        self.journal.abandoned(old.seq, reason)
        log.warning(events.BATCH_ABANDONED, seq=old.seq, stage=old.stage, requests=len(old.lines),
                    error_kind="resume", message=reason)
        return None

    def _reattach(self, old: JournaledBatch, batch: dict[str, Any]) -> None:
        stage: Stage = old.stage if old.stage in STAGES else "instructions"
        now = self._now()
        requests: dict[str, _Request] = {}
        for cid, key, number in old.lines:
            request = _Request(stage, key, None, None, number, now)
            request.attempts = 1
            self._by_key.setdefault(key, request)
            requests[cid] = request
        # no new reservation: the killed run's hold for this batch is still on the spend
        # journal, and the resumed budget counts it as spent (asyncgen.rundir.spend)
        reservation = None
        flight = _Flight(old.seq, stage, requests, reservation, batch_id=str(batch["id"]),
                         status="", total=len(requests), started=now)
        self._flights[old.seq] = flight
        self.totals["batches_reattached"] += 1
        log.info(events.BATCH_REATTACHED, batch_id=flight.batch_id, seq=old.seq, stage=stage,
                 status=batch.get("status"), requests=len(requests))
        assert self._tg is not None
        self._tg.start_soon(self._follow, flight, batch)


__all__: Sequence[str] = ["BatchClient"]
