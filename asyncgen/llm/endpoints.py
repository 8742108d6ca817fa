"""A pool of endpoints in one run: several servers or keys behind the one ask path.

`[[endpoints]]` in the TOML config (`EndpointSpec`, checked by config.py) gives each endpoint
its provider, base URL, the NAME of the environment variable holding its key, the models it
serves, and optionally its limits and prices. Each endpoint is one `LLMClient`: its own limits,
learnt headers, concurrency window, retries and counters; all of them share the run's budget
(one spend journal).

`EndpointPool` routes each request to an endpoint that serves its stage's model and is in
service, the one furthest from its limit (the largest free share of its window). Each endpoint
is its client's `Health`: every attempt's fault is counted as it happens, not after the
client's retries. A connection refused takes the endpoint out of service at once, and so do
HEALTH_FAILURES attempts in a row that failed for a reason that is the endpoint's own (no
connection, timeouts, 5xx), unless it is the last in service for one of its models (its
requests then retry there as a single endpoint's do); it stays out for PROBE_AFTER_S, then
the next request probes it, alone (one answer puts it back; a fault takes it out again).
Once it is out, its client sends nothing more there: the attempt that failed, the sends
queued for its window and the retries waiting end with `EndpointOut`, and the pool sends
each to another endpoint at once. Such a request was never answered with a completion (a
request answered is never sent again: the answer, or its item error, is the request's); an
attempt that reached the endpoint (billed, or maybe billed: a timeout or a reset after the
body left) is settled on its endpoint's books and the run's one budget before it moves.
When no endpoint in service serves the model, the last failure is the request's.

Over the courier (the default transport) the pool's endpoints share one courier, which the pool
starts and ends (`open_pool`): one rescue file and one lock for the run directory, each answer
kept there tagged with its endpoint's name. After a kill -9, the next run settles each at its
endpoint's price, and any endpoint serving its model answers a matching request with it instead
of sending it (`asyncgen.llm.transport.rescue`).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import httpx

from asyncgen.llm.client import LLMClient
from asyncgen.llm.costs import CostModel
from asyncgen.llm.errors import EndpointOut, EndpointUnreachable, GaveUp, ProviderError
from asyncgen.llm.params import PRIORITY, RequestParams, Stage
from asyncgen.llm.providers import Provider, ProviderConfig
from asyncgen.llm.transport.couriered import CourierFiles, CourierTransport
from asyncgen.llm.wire import SplitPrompt, whole_prompt

if TYPE_CHECKING:
    from asyncgen.llm.budget import Budget
    from asyncgen.llm.transport.rescue import Rescue

HEALTH_FAILURES = 3
"""Failed requests in a row (the endpoint's own fault) that take an endpoint out of service."""
PROBE_AFTER_S = 10.0
"""An endpoint out of service is probed again after this long."""
ENDPOINT_FAULTS = frozenset({"connection", "timeout", "server", "unreachable"})
"""Error kinds that speak of the endpoint, not of the request (its last attempt's kind)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSpec:
    """One `[[endpoints]]` table, checked."""

    name: str
    provider: str = "openai-compatible"
    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable; the key never reaches a file
    models: tuple[str, ...] = ()  # () = the run's model
    rpm: int = 0
    tpm: int = 0
    price_in: float | None = None
    price_out: float | None = None
    price_cached: float | None = None

    def public(self) -> dict[str, Any]:
        """As plain values, for run.started (the variable's name, not its value)."""
        return {name: getattr(self, name) for name in self.__slots__}


def configs_for(specs: Sequence[EndpointSpec], base: ProviderConfig, *,
                environ: Mapping[str, str] | None = None) -> list[ProviderConfig]:
    """Each endpoint's client config: the run's (`base`: model, stage params, timeouts,
    prices) with the endpoint's provider, URL, key (from the variable it names), limits and
    prices, over the run's transport (`open_pool` shares one courier). ValueError names what
    is wrong."""
    env = os.environ if environ is None else environ
    configs = []
    for spec in specs:
        key = None
        if spec.api_key_env is not None:
            key = env.get(spec.api_key_env) or None
            if key is None:
                raise ValueError(f"[[endpoints]] {spec.name!r}: api_key_env {spec.api_key_env} "
                                 "is not set in the environment")
        priced = spec.price_in is not None
        try:
            configs.append(replace(
                base, provider=cast(Provider, spec.provider), base_url=spec.base_url,
                api_key=key, rpm=spec.rpm or None, tpm=spec.tpm or None,
                price_in=spec.price_in if priced else base.price_in,
                price_out=spec.price_out if priced else base.price_out,
                price_cached=spec.price_cached if spec.price_cached is not None
                else base.price_cached,
                routing=base.routing if spec.provider == "openrouter" else {},
                fallback_models=base.fallback_models if spec.provider == "openrouter" else (),
            ))
        except ValueError as exc:
            raise ValueError(f"[[endpoints]] {spec.name!r}: {exc}") from None
    return configs


@asynccontextmanager
async def open_pool(specs: Sequence[EndpointSpec], configs: Sequence[ProviderConfig], *,
                    budget: Budget | None, split: SplitPrompt = whole_prompt,
                    costs: CostModel | None = None, courier: CourierFiles | None = None,
                    rescue: Rescue | None = None) -> AsyncIterator[EndpointPool]:
    """The endpoints' clients, open, in a pool sharing the run's budget and, over the courier,
    one courier (`courier`: where it keeps what the run never reads; `rescue`: the answers an
    earlier run's courier kept, for any endpoint to use)."""
    model = configs[0].model or ""
    async with AsyncExitStack() as stack:
        shared = None
        if configs[0].transport == "courier":  # entered first, exited last: the pool's
            size = sum(config.max_concurrency for config in configs)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            shared = await stack.enter_async_context(
                CourierTransport(limits=limits) if courier is None else CourierTransport(
                    limits=limits, run_id=courier.run_id, rescue=courier.rescue,
                    lock=courier.lock))
        endpoints = []
        for spec, config in zip(specs, configs, strict=True):
            client = await stack.enter_async_context(
                LLMClient(config, budget=budget, split=split, costs=costs, transport=shared,
                          rescue=rescue if shared is not None else None, name=spec.name))
            endpoint = Endpoint(spec.name, client, spec.models or (model,))
            client.health = endpoint  # the client tells its endpoint each fault and answer
            endpoints.append(endpoint)
        yield EndpointPool(endpoints, model=model)


class Endpoint:
    """One endpoint in the pool: its client, the models it serves, its health and counters.
    Written by the pool, and by its client through `Health` (`out`, `failed`, `answered`)."""

    __slots__ = ("name", "client", "models", "failures_in_a_row", "out_until", "probing",
                 "routed", "rerouted", "taken_out", "faults", "peers", "_clock")

    def __init__(self, name: str, client: Any, models: Sequence[str], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.client = client
        self.models = frozenset(models)
        self.failures_in_a_row = 0
        self.out_until = 0.0  # out of service until then (monotonic seconds); 0: in service
        self.probing = False  # taken out, and one request now sent to see if it is back
        self.routed = 0  # requests sent here
        self.rerouted = 0  # requests that failed here and went to another endpoint
        self.taken_out = 0
        self.faults = 0  # attempts that failed for a reason of the endpoint's own
        self.peers: tuple[Endpoint, ...] = ()  # the pool's other endpoints (set by the pool)
        self._clock = clock

    @property
    def out(self) -> bool:
        """Out of service now (`Health`)."""
        return self.out_until > self._clock()

    def failed(self, kind: str, *, refused: bool = False) -> bool:
        """An attempt failed (`Health`): a refused connection takes the endpoint out at once,
        HEALTH_FAILURES faults of its own in a row do too. True: it is out."""
        if kind in ENDPOINT_FAULTS:
            self.faults += 1
            self.failures_in_a_row += 1
            if (refused or self.failures_in_a_row >= HEALTH_FAILURES) and self._replaceable():
                now = self._clock()
                if self.out_until <= now:
                    self.taken_out += 1
                self.out_until = now + PROBE_AFTER_S
                self.probing = False
                self.client.limits.turn_away(self._out_of_service)  # its queue: elsewhere now
        return self.out

    def _out_of_service(self) -> EndpointOut:
        return EndpointOut(f"endpoint {self.name!r} was taken out of service",
                           last_kind="unreachable")

    def _replaceable(self) -> bool:
        """Each model it serves has another endpoint in service (one taken out counts once an
        answer put it back, not while it is due for a probe or probed). The last one of a model
        stays in: its requests retry there as a single endpoint's do (taken out, nothing would
        serve them: the run would end at a server's restart)."""
        serving = [p for p in self.peers if p.out_until == 0.0]
        return all(any(model in p.models for p in serving) for model in self.models)

    def answered(self) -> None:
        """An attempt was answered (`Health`): in service again, if it was out."""
        self.failures_in_a_row = 0
        self.out_until = 0.0
        self.probing = False

    def __repr__(self) -> str:
        return (f"<Endpoint {self.name} models={sorted(self.models)} "
                f"failures_in_a_row={self.failures_in_a_row} out_until={self.out_until:.1f}>")

    def room(self) -> float:
        """The free share of its concurrency window, its queue counted against it (1: idle,
        0: full, below 0: that many windows queued): a full pool queues in proportion."""
        limits = self.client.limits
        cap = max(1, int(limits.concurrency))
        busy = int(limits.in_flight) + int(limits.queued)
        return (cap - busy) / cap


class EndpointPool:
    """Routes each request to the endpoint with most room among those in service that serve
    its model (see the module docstring). The `Completer` of a run with `[[endpoints]]`."""

    __slots__ = ("endpoints", "model", "_clock")

    def __init__(self, endpoints: Sequence[Endpoint], *, model: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        for endpoint in self.endpoints:
            endpoint.peers = tuple(e for e in self.endpoints if e is not endpoint)
        self.model = model  # the run's model: a stage without its own asks for it
        self._clock = clock

    def __repr__(self) -> str:
        return f"<EndpointPool {list(self.endpoints)}>"

    def serving(self, model: str) -> list[Endpoint]:
        return [e for e in self.endpoints if model in e.models]

    def _choose(self, model: str, tried: set[str]) -> Endpoint | None:
        """In service (or due for a probe nobody sends yet), serving `model`, not tried yet:
        most room first."""
        now = self._clock()
        ready = [e for e in self.serving(model)
                 if e.name not in tried and e.out_until <= now and not e.probing]
        return max(ready, key=Endpoint.room, default=None)

    async def complete(self, stage: Stage, prompt: str,
                       params: RequestParams | None = None) -> Any:
        """One completion from one endpoint; another if the first fails as an endpoint."""
        model = (params.model if params is not None else None) or self.model
        tried: set[str] = set()
        last: ProviderError | None = None
        while (endpoint := self._choose(model, tried)) is not None:
            tried.add(endpoint.name)
            endpoint.routed += 1
            # taken out and due: this request alone probes it (a hung server is not sent a
            # window of requests to time out again); the others wait for its answer
            probe = endpoint.probing = endpoint.out_until > 0
            try:
                completion = await endpoint.client.complete(stage, prompt, params)
            except (GaveUp, EndpointUnreachable) as exc:
                kind = exc.last_kind if isinstance(exc, GaveUp) else exc.kind
                if kind not in ENDPOINT_FAULTS:
                    raise
                if getattr(endpoint.client, "health", None) is not endpoint:
                    endpoint.failed(kind)  # a client that does not tell it each attempt (tests)
                endpoint.rerouted += 1
                last = exc
                continue
            finally:
                if probe and endpoint.probing:  # ended neither answered nor taken out again
                    endpoint.probing = False
            endpoint.answered()
            return completion
        if last is not None:
            raise last
        raise EndpointUnreachable(f"no endpoint in service serves model {model!r} ({stage})")

    async def room(self, stage: Stage) -> None:
        """Return once the endpoint with most room has no send of `stage` waiting."""
        model = self.endpoints[0].client.model_of(stage) if self.endpoints else self.model
        endpoint = self._choose(model, set()) or self.endpoints[0]
        await endpoint.client.limits.room_for(PRIORITY.get(stage, 0))

    def hold(self, stage: Stage) -> None:
        for endpoint in self.endpoints:
            endpoint.client.hold(stage)

    def stats(self) -> dict[str, Any]:
        """The pool's totals (summed over endpoints) and each endpoint's own figures."""
        now = self._clock()
        per: dict[str, dict[str, Any]] = {}
        totals: dict[str, Any] = {"concurrency": 0, "in_flight": 0, "attempts": 0,
                                  "completed": 0, "failed": 0, "cost_usd": 0.0,
                                  "waiting_by_priority": [0, 0, 0]}
        for endpoint in self.endpoints:
            stats = endpoint.client.stats()
            rpm = stats.get("rpm") or stats.get("inferred_rpm")
            errors = stats.get("attempt_errors", {})
            per[endpoint.name] = {
                "requests": stats.get("completed", 0), "attempts": stats.get("attempts", 0),
                "429s": errors.get("rate_limit", 0) + errors.get("rate_limit_sporadic", 0),
                "failures": stats.get("failed", 0),
                "latency_s": stats.get("concurrency_policy", {}).get("latency_s"),
                "cost_usd": stats.get("cost_usd", 0.0), "rpm_limit": rpm,
                "concurrency": stats.get("concurrency"),
                "concurrency_why": stats.get("concurrency_why"),
                "in_flight": stats.get("in_flight"), "routed": endpoint.routed,
                "rerouted": endpoint.rerouted, "taken_out": endpoint.taken_out,
                "faults": endpoint.faults, "in_service": endpoint.out_until <= now,
            }
            for key in ("concurrency", "in_flight", "attempts", "completed", "failed",
                        "cost_usd"):
                totals[key] += stats.get(key) or 0
            for i, n in enumerate(stats.get("waiting_by_priority", [])):
                totals["waiting_by_priority"][i] += n
        budget = self.endpoints[0].client.stats().get("budget")
        return {**totals, **({"budget": budget} if budget is not None else {}),
                "endpoints": per}
