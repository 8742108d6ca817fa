"""The simulated provider's HTTP server (aiohttp.web): routing, limits, faults, latency.

Routes, under both /v1 and /api/v1: POST chat/completions, POST completions, GET models, GET
models/{id}, GET key (OpenRouter's key check, from the `key_*` settings), and the Batch API
(files and batches, `asyncgen.sim.batches`); plus GET /sim/stats (request counts by outcome,
prompt-cache counters, batch lines, `arrivals`: live completion requests received by prompt
kind, and `models`: the same by prompt kind and the model they named) and GET /sim/books (what
was billed, `asyncgen.sim.books`, batch lines included). Any model name and any (or no) API key
is accepted. One request goes: parse → forced or random fault → context length → rate limits →
generate → prompt cache (`asyncgen.sim.prompt_cache`) and bill → latency → respond. Handlers
never block: the generator is pure CPU on small strings, waits are `asyncio.sleep`, and hanging
requests wait on an event that `close()` sets, so the server stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import orjson
from aiohttp import web

from asyncgen.sim.batches import MAX_FILE_BYTES, BatchFaults, BatchService, LineAnswer
from asyncgen.sim.books import CLIENT_GONE, DROPPED, Bill, Books, cost_usd
from asyncgen.sim.config import SimConfig
from asyncgen.sim.faults import (
    FAULT_HEADER,
    SERVER_ERRORS,
    TRANSPORT_FAULTS,
    Fault,
    FaultCounter,
    FaultKind,
    FaultPlan,
    error_reply,
    parse_fault_header,
)
from asyncgen.sim.generator import Generated, Generator, count_tokens, finish, prompt_kind
from asyncgen.sim.headers import format_duration, rate_limit_headers
from asyncgen.sim.limits import Admission, RateLimiter
from asyncgen.sim.prompt_cache import PromptCache
from asyncgen.sim.protocol import (
    JSON,
    BadRequest,
    Endpoint,
    SimRequest,
    completion_body,
    context_length_message,
    error_body,
    model_entry,
    models_body,
    parse_request,
    usage,
)

PREFIXES = ("/v1", "/api/v1")
SHUTDOWN_TIMEOUT_S = 1.0
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST


class SimServer:
    """The request handlers and the state they share (limits, fault draws, counters)."""

    __slots__ = (
        "config", "_generator", "_limiter", "_faults", "_forced", "_closing", "_latency_rng",
        "_ids", "_wall", "_created", "counts", "books", "prompt_cache", "batches",
        "arrivals", "models",
    )

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        books: Books | None = None,
    ) -> None:
        self.config = config
        self._generator = Generator(config.seed, stuck=config.stuck,
                                    chat_format=config.chat_format)
        self._limiter = RateLimiter(rpm=config.rpm_limit, tpm=config.tpm_limit, clock=clock)
        self._faults = FaultPlan(config)
        self._forced = FaultCounter()
        self._closing = asyncio.Event()
        self._latency_rng = random.Random(f"latency:{config.seed}")
        self._ids = itertools.count(1)
        self._wall = wall
        self._created = int(wall())
        self.counts: Counter[str] = Counter()  # outcome -> requests
        self.arrivals: Counter[str] = Counter()  # prompt kind -> requests received
        self.models: dict[str, Counter[str]] = {}  # prompt kind -> model named -> requests
        self.books = books if books is not None else Books(wall=wall)
        self.prompt_cache = (
            PromptCache(ttl_s=config.prompt_cache_ttl_s, clock=clock) if config.prompt_cache
            else None
        )
        self.batches = BatchService(
            BatchFaults(delay_s=config.batch_delay_s, fail=config.batch_fail,
                        expire=config.batch_expire, line_error=config.batch_line_error,
                        seed=config.seed, page_size=config.batch_page_size),
            self._answer_line, wall,
        )

    def __repr__(self) -> str:
        return f"<SimServer {self._limiter!r} {self._faults!r} counts={dict(self.counts)}>"

    def app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(client_max_size=MAX_FILE_BYTES + (1 << 20))
        for prefix in PREFIXES:
            self.batches.add_routes(app, prefix)
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_post(f"{prefix}/completions", self._completions)
            app.router.add_get(f"{prefix}/models", self._models)
            app.router.add_get(f"{prefix}/models/{{model:.+}}", self._model)
            app.router.add_get(f"{prefix}/key", self._key)
        app.router.add_get("/sim/stats", self._stats)
        app.router.add_get("/sim/books", self._books)
        return app

    def close(self) -> None:
        """Wake every hanging request so that shutdown does not wait for it."""
        self._closing.set()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, "chat")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, "completions")

    async def _models(self, request: web.Request) -> web.Response:
        body = models_body(self.config, created=self._created)
        return _json(200, body)

    async def _model(self, request: web.Request) -> web.Response:
        return _json(200, model_entry(self.config, request.match_info["model"], self._created))

    async def _key(self, request: web.Request) -> web.Response:
        """OpenRouter's GET /api/v1/key: the key's credit limit, usage and tier."""
        config = self.config
        limit = config.key_limit_usd
        remaining = None if limit is None else max(0.0, limit - config.key_usage_usd)
        return _json(200, {"data": {
            "label": "sk-or-v1-sim...", "limit": limit, "limit_remaining": remaining,
            "limit_reset": None, "usage": config.key_usage_usd,
            "is_free_tier": config.key_free_tier, "is_provisioning_key": False,
        }})

    async def _stats(self, request: web.Request) -> web.Response:
        stats: dict[str, object] = {"counts": dict(self.counts)}
        if self.prompt_cache is not None:
            stats["prompt_cache"] = self.prompt_cache.stats()
        stats["batches"] = self.batches.stats()
        stats["arrivals"] = dict(self.arrivals)
        stats["models"] = {kind: dict(models) for kind, models in self.models.items()}
        return _json(200, stats)

    def _answer_line(self, endpoint: Endpoint, raw: bytes, ids: dict[str, str]) -> LineAnswer:
        """One Batch API line: the same answer as a live request, billed at the batch price
        in the books (`ids`: the line's batch_id, custom_id and body_digest)."""
        try:
            parsed = parse_request(endpoint, raw)
        except BadRequest as exc:
            body = error_body("openai", 400, exc.message, type_="invalid_request_error",
                              param=exc.param)
            return LineAnswer(400, body, 0.0, billed=False)
        prompt_tokens = count_tokens(parsed.prompt)
        asked = parsed.max_tokens or 0
        if prompt_tokens + asked > self.config.context_length:
            message = context_length_message(self.config.context_length, prompt_tokens, asked)
            body = error_body("openai", 400, message, type_="invalid_request_error",
                              code="context_length_exceeded", param="messages")
            return LineAnswer(400, body, 0.0, billed=False)
        generated = self._generate(parsed)
        completion_tokens = count_tokens(generated.text)
        cached_tokens = self._cached_tokens(parsed) if self.config.batch_cache else 0
        cost = round(cost_usd(self.config, prompt_tokens, completion_tokens, cached_tokens)
                     * (1.0 - self.config.batch_discount), 12)
        prefix = "chatcmpl" if parsed.endpoint == "chat" else "cmpl"
        bill = self.books.bill(Bill(
            f"{prefix}-sim{next(self._ids)}", f"batch:{parsed.endpoint}", parsed.model,
            prompt_tokens, completion_tokens, cost, cached_tokens=cached_tokens,
            extra={**ids, "kind": prompt_kind(parsed.prompt).value},
        ))
        self.books.close_bill(bill, 200, "answered")
        billed = usage(self.config, prompt_tokens, completion_tokens, cached_tokens, cost)
        body = completion_body(parsed, generated.text, generated.finish_reason, billed,
                               ident=bill.id, created=int(self._wall()))
        self.counts["batch_line"] += 1
        return LineAnswer(200, body, cost, billed=True)

    async def _books(self, request: web.Request) -> web.Response:
        return _json(200, self.books.totals())

    async def _complete(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        """One completion request, from body to response."""
        raw = await request.read()
        try:
            parsed = parse_request(endpoint, raw)
            fault = self._fault(request, raw)
        except BadRequest as exc:
            return self._error(400, exc.message, "bad_request", param=exc.param)
        kind = prompt_kind(parsed.prompt).value
        self.arrivals[kind] += 1
        self.models.setdefault(kind, Counter())[parsed.model] += 1
        if fault is not None and fault.kind not in TRANSPORT_FAULTS:
            return await self._status_fault(fault, parsed)
        prompt_tokens = count_tokens(parsed.prompt)
        asked = parsed.max_tokens or 0
        if prompt_tokens + asked > self.config.context_length:
            message = context_length_message(self.config.context_length, prompt_tokens, asked)
            return self._error(400, message, "context_length", code="context_length_exceeded",
                               param="messages")
        generated: Generated | None = None
        if parsed.max_tokens is None:  # the token charge needs the real completion length
            generated = self._generate(parsed)
            cost = prompt_tokens + count_tokens(generated.text)
        else:
            cost = prompt_tokens + parsed.max_tokens
        headers: dict[str, str] = {}
        if self._limiter.enabled:
            admission = self._limiter.admit(cost)
            if not self.config.silent_limits:
                headers = rate_limit_headers(
                    self.config.style, admission.states, limited_by=admission.limited_by,
                    retry_after_s=admission.retry_after_s, now_epoch_s=self._wall(),
                )
            if not admission.admitted:
                return self._rate_limited(admission, parsed, cost, headers)
        if generated is None:
            generated = self._generate(parsed)
        return await self._respond(request, parsed, generated, prompt_tokens, fault, headers)

    def _fault(self, request: web.Request, raw: bytes) -> Fault | None:
        """The fault this request gets: forced by header, else drawn."""
        value = request.headers.get(FAULT_HEADER)
        if value is None:
            return self._faults.draw()
        try:
            fault, times = parse_fault_header(value)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return fault if self._forced.should_fail(value, raw, times) else None

    def _generate(self, parsed: SimRequest) -> Generated:
        """The answer, cut by stop sequences and max_tokens."""
        natural = self._generator.generate(parsed.prompt)
        return finish(natural, stop=parsed.stop, max_tokens=parsed.max_tokens)

    def _delay_s(self, completion_tokens: int) -> float:
        """Latency (± spread) plus generation time at tokens_per_s."""
        config = self.config
        delay = config.latency_ms
        if config.latency_spread_ms:
            spread = config.latency_spread_ms
            delay += self._latency_rng.uniform(-spread, spread)
        seconds = max(0.0, delay) / 1000
        if config.tokens_per_s:
            seconds += completion_tokens / config.tokens_per_s
        return seconds

    async def _status_fault(self, fault: Fault, parsed: SimRequest) -> web.Response:
        """An HTTP error status; server-side failures take the latency first."""
        if fault.kind in SERVER_ERRORS or fault.kind is FaultKind.REQUEST_TIMEOUT:
            delay = self._delay_s(0)
            if delay:
                await asyncio.sleep(delay)
        context = context_length_message(self.config.context_length,
                                         count_tokens(parsed.prompt), parsed.max_tokens or 0)
        reply = error_reply(fault, self.config.style, model=parsed.model, context=context,
                            now_epoch_s=self._wall())
        self.counts[fault.kind.value] += 1
        return _json(reply.status, reply.body, reply.headers)

    def _rate_limited(
        self, admission: Admission, parsed: SimRequest, cost: int, headers: dict[str, str]
    ) -> web.Response:
        """429 from the enforced limits, with Retry-After and the x-ratelimit headers (a bare
        429 with silent limits)."""
        if self.config.silent_limits:
            self.counts["rate_limited"] += 1
            return _json(429, error_body(self.config.style, 429, "Too Many Requests"))
        resource = admission.limited_by or "requests"
        state = next(s for s in admission.states if s.resource == resource)
        unit = "RPM" if resource == "requests" else "TPM"
        requested = 1 if resource == "requests" else cost
        message = (
            f"Rate limit reached for {parsed.model} on {resource} per min ({unit}): "
            f"Limit {state.limit}, Requested {requested}. "
            f"Please try again in {format_duration(admission.retry_after_s)}."
        )
        metadata = {"headers": headers} if self.config.style == "openrouter" else None
        body = error_body(self.config.style, 429, message, type_=resource,
                          code="rate_limit_exceeded", metadata=metadata)
        self.counts["rate_limited"] += 1
        return _json(429, body, headers)

    async def _respond(
        self,
        request: web.Request,
        parsed: SimRequest,
        generated: Generated,
        prompt_tokens: int,
        fault: Fault | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Bill the generated answer; answer, drop or garble it; write the bill's line."""
        completion_tokens = count_tokens(generated.text)
        kind = fault.kind if fault is not None else None
        prefix = "chatcmpl" if parsed.endpoint == "chat" else "cmpl"
        cached_tokens = self._cached_tokens(parsed)
        bill = Bill(
            f"{prefix}-sim{next(self._ids)}", parsed.endpoint, parsed.model, prompt_tokens,
            completion_tokens,
            cost_usd(self.config, prompt_tokens, completion_tokens, cached_tokens),
            cached_tokens=cached_tokens, extra={
                "kind": prompt_kind(parsed.prompt).value,
                "prompt_digest": hashlib.blake2b(parsed.prompt.encode(),
                                                 digest_size=12).hexdigest()},
        )
        if kind is FaultKind.ERROR_200:  # the upstream failed: an error, no usage, no charge
            return await self._deliver(request, parsed, generated, bill, kind, headers)
        self.books.bill(bill)
        outcome = "answered" if kind is None else f"fault:{kind.value}"
        status = CLIENT_GONE  # unless a response or a drop comes first
        try:
            response = await self._deliver(request, parsed, generated, bill, kind, headers)
            status = DROPPED if response.status == _DROP_STATUS else response.status
            return response
        finally:
            if status == CLIENT_GONE and kind is None:
                outcome = "client_gone"
            self.books.close_bill(bill, status, outcome)

    def _cached_tokens(self, parsed: SimRequest) -> int:
        """Prompt tokens served from the prompt cache (0 when caching is off)."""
        if self.prompt_cache is None:
            return 0
        return self.prompt_cache.lookup(f"{parsed.endpoint}:{parsed.model}", parsed.prompt)

    async def _deliver(
        self,
        request: web.Request,
        parsed: SimRequest,
        generated: Generated,
        bill: Bill,
        kind: FaultKind | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Wait out the latency (or hang), then answer, drop or garble the response."""
        if kind is FaultKind.HANG:
            self.counts["hang"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.config.hang_s)
            if self._closing.is_set():
                return _drop(request)
        delay = self._delay_s(bill.completion_tokens)
        if delay:
            await asyncio.sleep(delay)
        if kind is FaultKind.RESET:
            self.counts["reset"] += 1
            return _drop(request)
        body = completion_body(parsed, generated.text, generated.finish_reason,
                               usage(self.config, bill.prompt_tokens, bill.completion_tokens,
                                     bill.cached_tokens, bill.cost_usd), ident=bill.id,
                               created=int(self._wall()))
        if kind is not None and kind is not FaultKind.HANG:
            self.counts[kind.value] += 1
            body = _garble(kind, body)
        else:
            self.counts["ok"] += 1
        data = orjson.dumps(body)
        if kind is FaultKind.MALFORMED:
            data = data[: len(data) // 2]
        return web.Response(body=data, headers=headers, content_type="application/json")

    def _error(
        self, status: int, message: str, outcome: str, *, code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        """A request error the client caused."""
        self.counts[outcome] += 1
        body = error_body(self.config.style, status, message, type_="invalid_request_error",
                          code=code, param=param)
        return _json(status, body)


def _garble(kind: FaultKind, body: JSON) -> JSON:
    """The 200-with-a-problem variants of a good completion body."""
    if kind is FaultKind.ERROR_200:  # OpenRouter: an error object instead of choices
        return {
            "id": body["id"],
            "error": {"code": 502, "message": "Provider returned error",
                      "metadata": {"provider_name": "sim", "raw": "upstream connection lost"}},
        }
    if kind is FaultKind.FINISH_ERROR:  # a billed choice that ended in an error
        choice = body["choices"][0]
        choice["finish_reason"] = "error"
        choice["native_finish_reason"] = "error"
        if "message" in choice:
            content = choice["message"]["content"]
            choice["message"]["content"] = content[: len(content) // 2]
        else:
            choice["text"] = choice["text"][: len(choice["text"]) // 2]
    elif kind is FaultKind.EMPTY_CHOICES:
        body["choices"] = []
    return body


def _json(status: int, body: JSON, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response."""
    return web.Response(status=status, body=orjson.dumps(body), headers=headers,
                        content_type="application/json")


def _drop(request: web.Request) -> web.Response:
    """Reset the connection without a response (the returned object is never sent)."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()
    return web.Response(status=_DROP_STATUS)


_DROP_STATUS = 499  # what _drop returns; never sent


def base_url(host: str, port: int) -> str:
    """http://HOST:PORT/v1, with IPv6 hosts in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


@contextlib.asynccontextmanager
async def serve(
    config: SimConfig, *, clock: Callable[[], float] = time.monotonic,
    books: Books | None = None,
) -> AsyncIterator[str]:
    """Run the simulator in the current event loop; yields its base URL (ending in /v1).

    `books` (default: totals only) records what it bills; it is closed after the server."""
    books = books if books is not None else Books()
    server = SimServer(config, clock=clock, books=books)
    runner = web.AppRunner(
        server.app(), access_log=None, handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield base_url(host, port)
    finally:
        server.close()
        try:
            await server.batches.close()
            await runner.cleanup()
        finally:
            books.close()
