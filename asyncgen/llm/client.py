"""LLMClient: one provider's completions, with limits, retries, usage and cost.

The send path is layered, one concern per method (as httpx's is):

    complete                 encode the request body once, estimate its tokens and worst cost
    _complete_with_retries   attempts, retry verdicts, retry waits, the final failure event
    _attempt                 shared limits and budget around one attempt; cost; success event
    _send_once               one HTTP exchange over the httpx transport API
    errors.map_transport_errors / errors.check_response   the mapping boundary

`complete` raises only `ItemError`, `FatalError` or `BudgetExhausted` (all `ProviderError`),
or `SendingStopped` for a stage the run no longer sends (`hold`); cancellation propagates.
Every billed response is costed and logged, including 200s whose body
carries an error, and responses the pipeline later throws away.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import orjson
import structlog
from aiohttp import ClientTimeout
from multidict import CIMultiDict

from asyncgen.errors import UsageError
from asyncgen.llm import retry
from asyncgen.llm.billing import (
    _NO_COST,
    Accounting,
    _billing,
    _WorstCase,
    provider_price,
)
from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.errors import (
    ConnectionFailed,
    DeadlineExceeded,
    EndpointOut,
    EndpointUnreachable,
    ItemError,
    ProviderError,
    RetriesExhausted,
    SendingStopped,
    check_response,
    error_for_status,
    map_transport_errors,
)
from asyncgen.llm.key import KeyInfo, parse_key
from asyncgen.llm.limits import ProviderLimits
from asyncgen.llm.params import PRIORITY, RequestParams, Stage
from asyncgen.llm.pricing import (
    CACHE_WRITE_FACTOR,
    Price,
    estimate_tokens,
    price_for,
    worst_case_cost,
)
from asyncgen.llm.providers import ProviderConfig
from asyncgen.llm.transport.aiohttp import Receipt, WholeBodyAiohttpTransport
from asyncgen.llm.transport.couriered import CourierFiles, CourierTransport
from asyncgen.llm.wire import (
    MS_PER_S,
    Completion,
    SplitPrompt,
    Wire,
    whole_prompt,
)
from asyncgen.observe import events

if TYPE_CHECKING:  # asyncgen.llm.budget imports asyncgen.llm: no import cycle at run time
    from asyncgen.llm.budget import Budget, Reservation
    from asyncgen.llm.costs import CostModel
    from asyncgen.llm.transport.rescue import Rescue


CONNECT_TIMEOUT_S = 10.0
UNREACHABLE_ATTEMPTS = 3
"""A request whose first this-many attempts were refused (or did not resolve), while the
endpoint has never answered, ends the run: a wrong --base-url, not an outage to wait out."""
USER_AGENT = "asyncgen/0.1"
HEALTH_POLL_S = 0.1
"""A retry's wait in a pool looks this often whether its endpoint was taken out."""


class Health(Protocol):
    """An endpoint pool's view of one endpoint (`asyncgen.llm.endpoints.Endpoint`): `out` of
    service or not; told each attempt that `failed` (True: it is out now) or was `answered`."""

    @property
    def out(self) -> bool: ...
    def failed(self, kind: str, *, refused: bool) -> bool: ...
    def answered(self) -> None: ...


class _Deadline:
    """When this request must be done; time queued for shared limits pushes it back."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class LLMClient(Accounting, Wire):
    """Completions from one provider, shared by every worker of a run."""

    __slots__ = (
        "config", "price", "_budget", "_clock", "_rng", "_transport", "_courier", "_split",
        "_sender", "_fast", "_fast_url", "_fast_headers", "_fast_timeout", "_connect_s", "_url",
        "_headers", "_extensions", "_limits", "_secret", "_chat", "_bodies", "_log", "_totals",
        "_errors", "_failures", "_reached", "_held", "_rescue", "_learns", "_prefix_tokens",
        "_prefix_cached", "_write_factor", "costs", "health", "name",
    )

    def __init__(
        self,
        config: ProviderConfig,
        *,
        budget: Budget | None = None,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        rescue: Rescue | None = None,
        courier: CourierFiles | None = None,
        split: SplitPrompt = whole_prompt,
        costs: CostModel | None = None,
        name: str = "",
    ) -> None:
        assert config.model is not None  # ProviderConfig fills or demands it
        self.config = config
        prices = {
            model: price_for(
                model,
                price_in=config.price_in,
                price_out=config.price_out,
                price_cached=config.price_cached,
            )
            for model in config.answering_models
        }
        self.price: Price | None = provider_price(config)
        if budget is not None and budget.limit_usd is not None and self.price is None:
            unknown = next(model for model, price in prices.items() if price is None)
            raise UsageError(
                f"a budget needs the price of model {unknown!r}: "
                "give --price-in and --price-out (USD per 1M tokens)"
            )
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._transport = transport
        self._courier = courier  # where a courier transport keeps answers (the run's files)
        self._split = split  # the prompts' layout (fixed prefix, candidate), from the run
        self._sender: httpx.AsyncBaseTransport | None = None
        self._fast: WholeBodyAiohttpTransport | None = None
        self._fast_url = config.url
        # a CIMultiDict is taken as is by aiohttp (a dict is converted on every request)
        self._fast_headers = CIMultiDict({"User-Agent": USER_AGENT, **config.headers()})
        self._fast_timeout: ClientTimeout | None = None
        self._connect_s = min(config.timeout_s, CONNECT_TIMEOUT_S)
        self._url = httpx.URL(config.url)
        # Host given up front spares httpx deriving it from the URL on every request
        host = self._url.netloc.decode("ascii")
        self._headers = httpx.Headers({"Host": host, "User-Agent": USER_AGENT, **config.headers()})
        timeout = httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, CONNECT_TIMEOUT_S))
        self._extensions = {"timeout": timeout.as_dict()}
        self._limits = ProviderLimits(
            max_concurrency=config.max_concurrency, rpm=config.rpm, tpm=config.tpm, clock=clock
        )
        self._secret = config.api_key
        self._chat = config.endpoint == "chat"
        self._bodies: dict[RequestParams, tuple[bytes, bytes]] = {}
        self._log: Any = structlog.get_logger("asyncgen")
        self._totals: dict[str, float] = dict.fromkeys(
            (
                "attempts",
                "completed",
                "retries",
                "failed",
                "prompt_tokens",
                "cached_tokens",
                "completion_tokens",
            ),
            0,
        )
        self._totals["cost_usd"] = 0.0
        self._errors: Counter[str] = Counter()  # by kind, every failed attempt
        self._failures: Counter[str] = Counter()  # by kind, every request that raised
        self._reached = False  # the endpoint has answered at least once (any HTTP status)
        self._held: set[Stage] = set()  # stages whose requests are no longer sent
        # answers an earlier run bought and never read (transport.rescue): used before sending
        self._rescue = rescue
        # the fewest prompt tokens reported after each few-shot prefix: a tighter worst case
        # (`prefix_bound`) than the prompt's bytes, when one model (one tokenizer) answers
        self._learns = len(config.answering_models) == 1
        self._prefix_tokens: dict[str, int] = {}
        # the cached prompt tokens of the last responses after each prefix: what the provider
        # has been serving from its cache (`_unknown_usd`)
        self._prefix_cached: dict[str, tuple[int, ...]] = {}
        self.costs = costs  # told every billed response (asyncgen.llm.costs), when given
        # an endpoint pool's view of this endpoint (`Health`), set by the pool: told each
        # attempt's fault and each answer; once it says the endpoint is out, nothing more is
        # sent here (queued sends and retries end with `EndpointOut`, for another endpoint)
        self.health: Health | None = None
        self._write_factor = CACHE_WRITE_FACTOR if config.provider == "openrouter" else 1.0
        self.name = name  # its endpoint's name in a pool: tags the answers its courier keeps

    def __repr__(self) -> str:
        return (
            f"<LLMClient {self.config.provider} {self.config.model} {self.config.url} "
            f"{self._limits!r}>"
        )

    @property
    def limits(self) -> ProviderLimits:
        """The shared limits (concurrency, RPM, TPM, cooldown)."""
        return self._limits

    async def __aenter__(self) -> LLMClient:
        sender = self._transport or self._make_transport()
        await sender.__aenter__()
        self._sender = sender
        if isinstance(sender, WholeBodyAiohttpTransport):
            self._fast = sender
            # one `total` timer per attempt (aiohttp's sock_read re-arms a timer on every read)
            self._fast_timeout = ClientTimeout(
                total=self.config.timeout_s, sock_connect=self._connect_s
            )
        self._log = structlog.get_logger("asyncgen").bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sender is not None:
            sender, self._sender, self._fast = self._sender, None, None
            await sender.__aexit__(exc_type, exc, tb)

    def _make_transport(self) -> httpx.AsyncBaseTransport:
        """aiohttp under the httpx API by default (several times faster); plain httpx by flag."""
        size = self.config.max_concurrency
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        if self.config.transport == "courier":
            if self._courier is None:
                return CourierTransport(limits=limits)
            files = self._courier
            return CourierTransport(limits=limits, run_id=files.run_id, rescue=files.rescue,
                                    lock=files.lock)
        if self.config.transport == "aiohttp":
            return WholeBodyAiohttpTransport(limits=limits)
        return httpx.AsyncHTTPTransport(limits=limits)

    async def room(self, stage: Stage) -> None:
        """Return once no request of `stage` waits for a slot of the window."""
        await self._limits.room_for(PRIORITY.get(stage, 0))

    def hold(self, stage: Stage) -> None:
        """Send no more requests of `stage`: one not sent yet (queued at the limits, or waiting
        to retry) raises `SendingStopped`; requests already sent may finish."""
        self._held.add(stage)

    async def check_key(self) -> KeyInfo | None:
        """OpenRouter's `GET /key` (None when the server, or nothing, answers one); a 401
        raises. Only its own errors are mapped: this is not a completion and is not retried."""
        sender = self._sender
        if sender is None:
            raise RuntimeError("use LLMClient inside `async with`")
        url = httpx.URL(self.config.key_url)
        headers = {**self._headers, "Host": url.netloc.decode("ascii")}
        headers.pop("Content-Type", None)
        request = httpx.Request("GET", url, headers=headers, extensions=self._extensions)
        try:
            with map_transport_errors(attempt=1, secret=self._secret):
                response = await sender.handle_async_request(request)
                try:
                    data = await response.aread()
                finally:
                    await response.aclose()
        except ProviderError:  # refused, a timeout: no answer (its requests will find out)
            return None
        self._reached = True
        if response.status_code == 401:
            raise error_for_status(401, response.headers, data, attempt=1,
                                   now=self._clock.wall(), secret=self._secret)
        if response.status_code != 200:
            return None
        try:
            return parse_key(orjson.loads(data))
        except orjson.JSONDecodeError:
            return None

    def stats(self) -> dict[str, Any]:
        """Limiter state and totals, for progress events."""
        out: dict[str, Any] = self._limits.stats()
        out.update(self._totals)
        out["attempt_errors"] = dict(self._errors)
        out["failures"] = dict(self._failures)
        if self._budget is not None:
            out["budget"] = self._budget.stats()
        return out

    async def complete(
        self, stage: Stage, prompt: str, params: RequestParams | None = None
    ) -> Completion:
        """One completion of `prompt`, retried as the policy allows."""
        if params is None:
            params = self.config.params[stage]
        content = self._encode(prompt, params)
        estimate = estimate_tokens(prompt) + params.max_tokens
        if self._rescue:
            rescued = await self._rescued(stage, content, estimate)
            if rescued is not None:
                return rescued
        if self._budget is None or self.price is None:
            return await self._complete_with_retries(stage, content, estimate, _NO_COST)
        fixed, rest = self._split(prompt) if self._learns else ("", prompt)
        worst = _WorstCase(worst_case_cost(self.price, prompt, params.max_tokens), fixed, rest,
                           params.max_tokens)
        completion = await self._complete_with_retries(stage, content, estimate, worst)
        if fixed:
            self._learn(fixed, completion.usage)
        return completion

    async def _rescued(self, stage: Stage, content: bytes, estimate: int) -> Completion | None:
        """This request answered by an earlier run's rescued answer (None: send it). The answer
        is marked used (by the courier, acknowledged) before it is used: at most once, across
        kills. Its money was settled when the run started (asyncgen.llm.transport.rescue)."""
        assert self._rescue is not None
        answer = self._rescue.take(stage, content)
        if answer is None:
            return None
        sender = self._sender
        if not isinstance(sender, CourierTransport):
            return None  # nothing to mark it used with: send
        started = self._clock.monotonic()
        if not await sender.mark_used(answer.id):
            return None  # its mark is not on disk: a later run would use it again, so send
        try:
            body = check_response(answer.status, answer.headers, answer.body, attempt=1,
                                  now=self._clock.wall(), secret=self._secret)
        except ProviderError:
            return None
        completion = self._completion(stage, body, 1, 0.0, started, estimate)
        self._log.info(events.REQUEST_RESCUED, stage=stage, rescued_from=answer.run,
                       rescue_id=answer.id)
        return completion

    async def _complete_with_retries(
        self, stage: Stage, content: bytes, estimate: int, worst: _WorstCase
    ) -> Completion:
        """Attempt until success, a non-retryable error, max attempts or the deadline."""
        config = self.config
        started = self._clock.monotonic()
        deadline = _Deadline(started + config.request_deadline_s)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(
                    stage, content, estimate, worst, attempt, deadline, started
                )
            except ProviderError as err:
                if not err.retryable:
                    self._fail(stage, err, attempt, err)
                    raise
                health = self.health
                if health is not None and health.failed(
                        err.kind, refused=isinstance(err, ConnectionFailed) and err.refused):
                    out = EndpointOut(f"{self.config.url} taken out of service: {err}",
                                      status=err.status, attempt=attempt, last_kind=err.kind)
                    self._fail(stage, out, attempt, err)
                    raise out from err
                if self._unreachable(err, attempt):
                    unreachable = EndpointUnreachable(
                        f"cannot reach {self.config.url}: {err} "
                        f"({attempt} attempts, no answer yet; check --base-url)",
                        attempt=attempt,
                    )
                    self._fail(stage, unreachable, attempt, err)
                    raise unreachable from err
                wait = retry.retry_wait(err.retry_after_s, attempt, self._rng.random())
                verdict = retry.decide(
                    retryable=True,
                    attempt=attempt,
                    max_attempts=config.max_attempts,
                    wait_s=wait,
                    remaining_s=deadline.at - self._clock.monotonic(),
                )
                if verdict is not retry.Verdict.RETRY:
                    final = self._give_up(err, attempt, verdict)
                    self._fail(stage, final, attempt, err)
                    raise final from err
                self._totals["retries"] += 1
                self._log.warning(
                    events.REQUEST_RETRY,
                    stage=stage,
                    error_kind=err.kind,
                    status=err.status,
                    attempt=attempt,
                    wait_s=round(wait, 3),
                    **_billing(err),
                )
                await self._retry_wait(wait)

    async def _retry_wait(self, wait: float) -> None:
        """Sleep before a retry; in a pool, cut short when the endpoint is taken out (the
        retry then goes to another endpoint at once)."""
        health = self.health
        if health is None:
            await self._clock.sleep(wait)
            return
        until = self._clock.monotonic() + wait
        while not health.out and (left := until - self._clock.monotonic()) > 0:
            await self._clock.sleep(min(left, HEALTH_POLL_S))

    def _unreachable(self, err: ProviderError, attempt: int) -> bool:
        """This request's UNREACHABLE_ATTEMPTS-th attempt (or later) was refused or did not
        resolve, and the endpoint has never answered: nothing is listening there."""
        return (
            attempt >= UNREACHABLE_ATTEMPTS
            and not self._reached
            and isinstance(err, ConnectionFailed)
            and err.refused
        )

    def _give_up(self, err: ProviderError, attempt: int, verdict: retry.Verdict) -> ProviderError:
        """The item error that ends a request whose retryable error cannot be retried."""
        if verdict is retry.Verdict.DEADLINE:
            return DeadlineExceeded(
                f"per-request deadline of {self.config.request_deadline_s:g}s reached "
                f"after {attempt} attempt(s); last error: {err}",
                status=err.status,
                attempt=attempt,
                last_kind=err.kind,
            )
        return RetriesExhausted(
            f"gave up after {attempt} attempt(s); last error: {err}",
            status=err.status,
            attempt=attempt,
            last_kind=err.kind,
        )

    def _fail(self, stage: Stage, err: ProviderError, attempt: int, last: ProviderError) -> None:
        """Count and log a request that ends in an error (`final`: the run must stop);
        `last` is the last attempt's own error, whose cost the event carries if it was billed."""
        self._totals["failed"] += 1
        self._failures[err.kind] += 1
        self._log.error(
            events.REQUEST_FAILED,
            stage=stage,
            error_kind=err.kind,
            status=err.status,
            attempt=attempt,
            final=not isinstance(err, ItemError),
            message=str(err),
            **_billing(last),
        )

    async def _attempt(
        self,
        stage: Stage,
        content: bytes,
        estimate: int,
        worst: _WorstCase,
        attempt: int,
        deadline: _Deadline,
        started: float,
    ) -> Completion:
        """One attempt inside the shared limits, with its budget reservation and its cost."""
        clock = self._clock
        limits = self._limits
        queued_at = clock.monotonic()
        await limits.acquire(estimate, priority=PRIORITY.get(stage, 0))
        sent_at = clock.monotonic()
        deadline.at += sent_at - queued_at
        reservation: Reservation | None = None
        sent = False
        try:
            if stage in self._held:
                raise SendingStopped(f"{stage} requests are no longer sent")
            if self.health is not None and self.health.out:  # queued while it was taken out
                raise EndpointOut(f"{self.config.url} is out of service", attempt=attempt,
                                  last_kind="unreachable")
            if self._budget is not None:
                budget = self._budget
                usd = self._worst_usd(worst)
                if self.costs is not None:
                    self.costs.reserving(stage, usd)
                if budget.fits(usd):
                    reservation = budget.reserve(usd)
                else:
                    reservation = await budget.reserve_when_room(usd)
            limit_s = min(self.config.timeout_s, deadline.at - sent_at)
            if limit_s <= 0:
                raise DeadlineExceeded("per-request deadline reached", attempt=attempt)
            self._totals["attempts"] += 1
            sent = True
            try:
                receipt: Receipt = (stage, None, 0.0, self.name) if reservation is None else (
                    stage, reservation.number, reservation.amount_usd, self.name)
                body, status = await self._send_once(content, attempt, limit_s, receipt)
            except ProviderError as err:
                self._account_failure(err, reservation, worst)
                raise
            latency_ms = (clock.monotonic() - sent_at) * MS_PER_S
            completion = self._completion(stage, body, attempt, latency_ms, started, estimate)
            self._account_success(completion, status, estimate, reservation)
            return completion
        finally:
            limits.release()
            if reservation is not None and not reservation.settled and self._budget is not None:
                # cancelled mid-attempt: a sent request may have been billed
                self._budget.settle(reservation, reservation.amount_usd if sent else 0.0)

    async def _send_once(
        self, content: bytes, attempt: int, limit_s: float, receipt: Receipt | None = None
    ) -> tuple[Any, int]:
        """POST the body; the decoded JSON of a good response, or the typed error.

        Over the default transport, its direct `post` under one aiohttp `total` timeout of
        `limit_s` (no httpx.Request/Response per request: a third of the client's CPU,
        measured with bench/bench_client.py). Over any other transport, httpx's transport API.
        Neither uses AsyncClient: its URL merging, cookie jar, auth and redirects are not wanted.
        """
        fast = self._fast
        with map_transport_errors(attempt=attempt, secret=self._secret):  # the boundary
            if fast is not None:
                timeouts = self._fast_timeout
                if timeouts is None or limit_s < self.config.timeout_s:
                    timeouts = ClientTimeout(total=limit_s, sock_connect=self._connect_s)
                status, headers, data, _ = await fast.post(
                    self._fast_url, self._fast_headers, content, timeouts, receipt=receipt
                )
            else:
                status, headers, data = await self._exchange(content, limit_s)
        self._reached = True
        self._limits.observe(headers)
        body = check_response(
            status, headers, data, attempt=attempt, now=self._clock.wall(), secret=self._secret
        )
        if self.health is not None:
            self.health.answered()
        return body, status

    async def _exchange(self, content: bytes, limit_s: float) -> tuple[int, httpx.Headers, bytes]:
        """One request over httpx's transport API; the transport enforces connect/read
        timeouts, and a timer bounds the whole exchange when the deadline is nearer.
        asyncio.timeout, not anyio.move_on_after: edge-triggered cancellation lets the
        response still be closed (its connection returned) while unwinding."""
        sender = self._sender
        if sender is None:
            raise RuntimeError("use LLMClient inside `async with`")
        request = httpx.Request(
            "POST", self._url, headers=self._headers, content=content, extensions=self._extensions
        )
        async with asyncio.timeout(limit_s if limit_s < self.config.timeout_s else None):
            response = await sender.handle_async_request(request)
            try:
                data = await response.aread()
            finally:
                await response.aclose()
        return response.status_code, response.headers, data



