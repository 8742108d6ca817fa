"""Limits shared by every worker of one provider: a concurrency cap sized from what is known,
requests per minute, tokens per minute, and a 429 cooldown.

- The concurrency cap is `concurrency.ConcurrencyPolicy`'s target: Little's law over the binding
  limit (RPM, or TPM / tokens per request) and the measured latency when a limit is known, TCP-
  like growth when none is; a rate-limit 429 cuts it (once per latency window), a sporadic 429
  does not. `max_concurrency` is the ceiling. A free slot goes to the waiter of the highest
  priority (lowest number; `params.PRIORITY` per stage), oldest first within one priority.
- Requests per minute use aiolimiter: a leaky bucket draining at the limit less RATE_HEADROOM,
  BURST_S deep (servers, the simulator included, hold one second's worth: ours stays under).
- Tokens per minute are reserved by estimate (prompt chars / 4 + max_tokens) before sending,
  and reconciled with the reported usage after (an under-estimate is charged the rest).
- Limits sent by the server (`x-ratelimit-limit-requests/-tokens`) lower the configured ones
  (or set them when none was configured); `x-ratelimit-remaining-* == 0` pauses new sends
  until that bucket's reset (at most REMAINING_PAUSE_CAP_S).
- A rate-limit 429 starts a cooldown of its wait: new sends wait (anyio sleep through the clock)
  until it ends; a bare 429 (no wait given) pauses only when it cuts the window; a sporadic
  429 pauses nobody but its own request.
- A limit nobody announced (no RPM or TPM known, rate-limit 429s all the same) is inferred:
  at a rate-limit 429 (at most one per latency window) the request rate is paced at what the
  server let through over the last INFER_SPAN_S (sends less the 429s answered: a 429 comes
  back at once, so both are counted when they happen) less INFER_BACKOFF, then raised while no
  429 comes, slowly at first and faster the longer none comes (INFER_GROWTH: CUBIC's shape,
  so a rate inferred low during the ramp-up is soon left behind). A window alone cannot pace
  a mix of stages whose latencies differ tenfold: the same slots send ten times as many short
  requests.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from aiolimiter import AsyncLimiter

from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.concurrency import MIN_CONCURRENCY, ConcurrencyPolicy
from asyncgen.llm.retry import parse_duration

BARE_429_PAUSE_S = 0.5
"""Pause of every sender after a bare 429 (no wait given) that cut the window."""
TOKENS_ALPHA = 0.1
"""EWMA weight of one request's token charge, for the rate a TPM limit allows."""
PRIORITIES = 3
"""Priorities a waiter may have: 0 (served first) to PRIORITIES - 1."""
INFER_BACKOFF = 0.95
"""At a rate-limit 429 with no limit known, pace at this share of what got through."""
INFER_SPAN_S = 2.0
"""What got through is counted over this many seconds (sends less 429s)."""
INFER_GROWTH = 0.01
"""An inferred rate grows by INFER_GROWTH x (seconds it has bound since the last 429) per
second: 5% in the first 3 s, x1.65 in 10 s, x2.7 in 14 s (finds a higher limit)."""
INFER_BINDING = 0.9
"""An inferred rate grows only while the sends come near it (it is what holds them back)."""
INFER_UPDATE_S = 0.5
"""An inferred rate's pacing is renewed at most this often."""
RATE_HEADROOM = 0.98
"""Aim 2% under a requests/tokens limit: clock skew and network jitter between us and the
server's bucket would otherwise turn a few sends into 429s."""
BURST_S = 0.5
"""Burst capacity of the request limiter, in seconds of rate: half the server's one second, so
the server's bucket keeps slack after our first burst."""
SECONDS_PER_MINUTE = 60.0
_EPSILON = 1e-9
REMAINING_PAUSE_CAP_S = 1.0
"""When the server reports a bucket empty (`x-ratelimit-remaining-* == 0`), new sends pause
until its reset, at most this long (OpenAI's reset is the time to a *full* bucket)."""


# per bucket: the limit, remaining and reset headers, and the `server_limits` key of remaining
_HEADERS = {
    b: (f"x-ratelimit-limit-{b}", f"x-ratelimit-remaining-{b}", f"x-ratelimit-reset-{b}",
        f"remaining_{b}")
    for b in ("requests", "tokens")
}


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    """A finite number from a header, or None."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _rpm_limiter(rpm: float) -> AsyncLimiter:
    """A leaky bucket at rpm (less headroom), BURST_S seconds deep, at least 1 request."""
    rate = rpm / SECONDS_PER_MINUTE * RATE_HEADROOM
    capacity = max(1.0, rate * BURST_S)
    return AsyncLimiter(capacity, capacity / rate)


class TokenBucket:
    """Leaky bucket of tokens: acquire by estimate, reconcile with the actual count later."""

    __slots__ = ("capacity", "rate", "_level", "_last", "_clock", "_lock")

    def __init__(self, per_minute: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        self.rate = per_minute / SECONDS_PER_MINUTE * RATE_HEADROOM  # tokens per second
        self.capacity = max(1.0, self.rate)  # one second's worth
        self._level = 0.0
        self._clock = clock
        self._last = clock.monotonic()
        self._lock = anyio.Lock()  # FIFO: only the head waiter sleeps

    def __repr__(self) -> str:
        return (
            f"<TokenBucket rate={self.rate:.1f}/s capacity={self.capacity:.0f} "
            f"level={self.level:.0f}>"
        )

    @property
    def level(self) -> float:
        """Tokens in the bucket now."""
        self._leak()
        return self._level

    def _leak(self) -> None:
        """Drip out capacity for the time since the last look."""
        now = self._clock.monotonic()
        self._level = max(0.0, self._level - (now - self._last) * self.rate)
        self._last = now

    def charge(self, amount: float) -> float:
        """What acquiring `amount` takes: a request larger than the bucket takes all of it."""
        return min(float(amount), self.capacity)

    def try_acquire(self, amount: float) -> bool:
        """Take `charge(amount)` tokens if nobody is queued and they fit now (never waits)."""
        if self._lock.locked():
            return False
        amount = self.charge(amount)
        self._leak()
        if self._level + amount <= self.capacity:
            self._level += amount
            return True
        return False

    async def acquire(self, amount: float) -> None:
        """Wait until `charge(amount)` tokens fit, then take them."""
        if self.try_acquire(amount):  # fast path: no checkpoint
            return
        amount = self.charge(amount)
        async with self._lock:
            while True:
                self._leak()
                excess = self._level + amount - self.capacity
                if excess <= _EPSILON:  # a float crumb left: a sleep that short passes no time
                    self._level += amount
                    return
                await self._clock.sleep(excess / self.rate)

    def reconcile(self, charged: float, actual: float) -> None:
        """Charge what the estimate under-counted. Over-counts are not given back: OpenAI and
        the simulator charge max_tokens at admission, so their buckets keep it too."""
        if actual > charged:
            self._leak()
            self._level += actual - charged


class ProviderLimits:
    """Concurrency cap (sized by policy), RPM, TPM and 429 cooldown, shared by all sends to one
    provider; the client that owns it is its one writer (through `acquire`, `release` and
    what it learns from responses)."""

    __slots__ = (
        "max_concurrency",
        "_clock",
        "_policy",
        "_cap",
        "_in_flight",
        "_waiters",
        "_waiting",
        "_room",
        "_asking",
        "_inferred",
        "_inferred_at",
        "_inferred_cut_at",
        "_pacer",
        "_sends",
        "_refusals",
        "_binding_s",
        "_started",
        "rpm",
        "tpm",
        "_rpm_limiter",
        "_tokens",
        "_tokens_per_request",
        "_cooldown_until",
        "server_limits",
        "_buckets",
    )

    def __init__(
        self,
        *,
        max_concurrency: int,
        rpm: float | None = None,
        tpm: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_concurrency < MIN_CONCURRENCY:
            raise ValueError(f"max_concurrency must be >= {MIN_CONCURRENCY}, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._in_flight = 0
        # per priority, a FIFO of tasks waiting for a slot; a slot is counted in _in_flight
        # when granted; _waiting counts them all
        self._waiters: tuple[deque[asyncio.Future[None]], ...] = tuple(
            deque() for _ in range(PRIORITIES)
        )
        self._waiting = 0
        # per priority, the sends not yet holding a slot (cooldown or queue); `_room` is set
        # when one of them leaves (`room_for`)
        self._asking = [0] * PRIORITIES
        self._room: anyio.Event | None = None
        self._inferred: float | None = None  # requests per second (no limit known)
        self._inferred_at = 0.0  # when its pacing was last renewed
        self._inferred_cut_at = -math.inf
        self._pacer: TokenBucket | None = None  # paces requests at the inferred rate
        # while no limit is known: when requests were sent, and when 429s that are a limit came
        self._sends: deque[float] = deque()
        self._refusals: deque[float] = deque()
        self._binding_s = 0.0  # seconds the inferred rate has bound since its last cut
        self._started = clock.monotonic()
        self.rpm: float | None = None
        self.tpm: float | None = None
        self._rpm_limiter: AsyncLimiter | None = None
        self._tokens: TokenBucket | None = None
        self._tokens_per_request: float | None = None
        self._policy = ConcurrencyPolicy(max_concurrency, now=clock.monotonic())
        self._cap = self._policy.target
        self._set_rpm(rpm)
        self._set_tpm(tpm)
        self._cooldown_until = 0.0
        self.server_limits: dict[str, float] = {}
        # per bucket: its name, the configured limit, how to apply a learnt one, its headers
        self._buckets = (
            ("requests", rpm, self._set_rpm, *_HEADERS["requests"]),
            ("tokens", tpm, self._set_tpm, *_HEADERS["tokens"]),
        )

    def __repr__(self) -> str:
        cooldown = self.cooldown_remaining_s
        return (
            f"<ProviderLimits concurrency={self._in_flight}/{self._cap} "
            f"(max {self.max_concurrency}: {self._policy.reason()}) waiting={self._waiting} "
            f"rpm={self.rpm} tpm={self.tpm}"
            + (f" cooldown={cooldown:.2f}s" if cooldown > 0 else "")
            + ">"
        )

    @property
    def concurrency(self) -> int:
        """The current cap on requests in flight."""
        return self._cap

    @property
    def policy(self) -> ConcurrencyPolicy:
        """The policy that sizes the cap (read-only use: its events come through this object)."""
        return self._policy

    @property
    def decreases(self) -> int:
        """Cuts of the concurrency window so far."""
        return self._policy.decreases

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Sends waiting for a slot now (in a cooldown or in the queue)."""
        return sum(self._asking)

    @property
    def cooldown_remaining_s(self) -> float:
        """Seconds until new sends may start again after a 429 (0 when not cooling down)."""
        return max(0.0, self._cooldown_until - self._clock.monotonic())

    def _set_rpm(self, rpm: float | None) -> None:
        """Replace the request limiter (waiters on the old one finish on it)."""
        if rpm != self.rpm:
            self.rpm = rpm
            self._inferred = self._pacer = None  # a known limit replaces an inferred one
            self._rpm_limiter = None if rpm is None else _rpm_limiter(rpm)
            self._set_rate()

    def _infer(self, rate: float) -> None:
        """Pace requests at an inferred rate (per second)."""
        rate = self._inferred = max(rate, 1.0 / SECONDS_PER_MINUTE)
        self._inferred_at = self._clock.monotonic()
        pacer = self._pacer
        if pacer is None:  # one bucket of requests, its level kept as its rate changes
            pacer = self._pacer = TokenBucket(rate * SECONDS_PER_MINUTE, clock=self._clock)
            self._policy.paced()
        pacer.rate = rate * RATE_HEADROOM
        pacer.capacity = max(1.0, pacer.rate * BURST_S)
        self._set_rate()

    def _inferred_cut(self) -> bool | None:
        """A rate-limit 429 and no limit known: pace at what got through (once per window).
        True when it cut now, False when an inferred rate paces already, None when none does
        (a limit is known, or no success rate is measured yet)."""
        if self.rpm is not None or self.tpm is not None:
            return None
        now = self._clock.monotonic()
        self._refusals.append(now)
        if now - self._started < INFER_SPAN_S:
            return None  # too early to count what got through: the window is cut instead
        if now - self._inferred_cut_at < self._policy.window_s():
            return False if self._inferred is not None else None
        through = self._got_through(now)
        if through <= 0:
            return False if self._inferred is not None else None
        current = self._inferred if self._inferred is not None else math.inf
        self._inferred_cut_at = now
        self._binding_s = 0.0
        self._infer(min(current, through) * INFER_BACKOFF)
        return True

    def _got_through(self, now: float) -> float:
        """Requests per second the server let through lately: sends less 429s."""
        for times in (self._sends, self._refusals):
            while times and times[0] < now - INFER_SPAN_S:
                times.popleft()
        return (len(self._sends) - len(self._refusals)) / INFER_SPAN_S

    def _inferred_growth(self) -> None:
        """No 429 lately: let the inferred rate grow (renewed every INFER_UPDATE_S)."""
        inferred = self._inferred
        if inferred is None:
            return
        now = self._clock.monotonic()
        elapsed = now - self._inferred_at
        if elapsed < INFER_UPDATE_S:
            return
        self._got_through(now)  # prunes the counts to the span
        if len(self._sends) < INFER_BINDING * inferred * INFER_SPAN_S:
            self._inferred_at = now  # it does not bind (the window, or demand, does): hold
            return
        self._binding_s += elapsed
        self._infer(inferred * (1.0 + INFER_GROWTH * self._binding_s * elapsed))

    def _set_tpm(self, tpm: float | None) -> None:
        """Replace the token bucket."""
        if tpm != self.tpm:
            self.tpm = tpm
            self._tokens = None if tpm is None else TokenBucket(tpm, clock=self._clock)
            self._set_rate()

    def _set_rate(self) -> None:
        """Tell the policy the binding limit in requests per second (RPM, or TPM over the
        tokens a request takes)."""
        rates = []
        if self.rpm is not None:
            rates.append(self.rpm / SECONDS_PER_MINUTE)
        if self.tpm is not None and self._tokens_per_request:
            rates.append(self.tpm / SECONDS_PER_MINUTE / self._tokens_per_request)
        if not rates and self._inferred is not None:
            rates.append(self._inferred)
        self._policy.set_rate(min(rates) if rates else None)
        self._set_cap()

    def token_charge(self, estimated_tokens: int) -> float:
        """Tokens a send of this estimate takes from the TPM bucket (0 without a TPM limit)."""
        return 0.0 if self._tokens is None else self._tokens.charge(estimated_tokens)

    async def _wait_cooldown(self) -> None:
        """Sleep (never block) until any 429 cooldown has ended; it may be extended meanwhile."""
        while (left := self._cooldown_until - self._clock.monotonic()) > 0:
            await self._clock.sleep(left)

    async def _acquire_slot(self, priority: int) -> None:
        """Take a concurrency slot, waiting when none is free (highest priority first, then
        oldest first)."""
        if self._in_flight < self._cap and not self._waiting:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[priority]
        queue.append(waiter)
        self._waiting += 1
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # granted as we were cancelled: pass the slot on
            elif waiter in queue:  # `_grant` may have dropped it already
                queue.remove(waiter)
                self._waiting -= 1
            raise

    def turn_away(self, error: Callable[[], BaseException]) -> int:
        """Fail every send waiting for a slot with `error()`, at once (its endpoint was taken
        out of service: they go elsewhere, not after the sends in flight there); how many."""
        turned = 0
        for queue in self._waiters:
            while queue:
                waiter = queue.popleft()
                self._waiting -= 1
                if not waiter.done():
                    waiter.set_exception(error())
                    turned += 1
        return turned

    def _grant(self) -> None:
        """Hand free slots to waiters, highest priority first, oldest first within one."""
        for queue in self._waiters:
            while queue and self._in_flight < self._cap:
                waiter = queue.popleft()
                self._waiting -= 1
                if not waiter.done():
                    self._in_flight += 1
                    waiter.set_result(None)
            if self._in_flight >= self._cap:
                return

    async def room_for(self, priority: int) -> None:
        """Return once no send of `priority` is waiting for its slot (in a cooldown or in the
        queue). A stage that takes its next item only then holds no more items than the window
        will soon send: the rest stay in its bounded stream, and the sampler does not sample
        prompts minutes ahead."""
        while self._asking[priority]:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()

    async def acquire(self, estimated_tokens: int = 0, *, priority: int = 0) -> None:
        """Wait for the cooldown, a slot, a request and the tokens. A slot goes to the waiter
        of the lowest `priority` first (0 to PRIORITIES - 1).

        Every successful `acquire` must be paired with one `release`.
        """
        if not 0 <= priority < PRIORITIES:
            raise ValueError(f"priority must be in 0..{PRIORITIES - 1}, got {priority}")
        if self._cooldown_until > 0 or self._in_flight >= self._cap or self._waiting:
            self._asking[priority] += 1
            try:
                if self._cooldown_until > 0:
                    await self._wait_cooldown()
                await self._acquire_slot(priority)
            finally:
                self._asking[priority] -= 1
                if self._room is not None:  # wake `room_for`
                    self._room.set()
                    self._room = None
        else:  # a free slot: no coroutine
            self._in_flight += 1
        try:
            if self._rpm_limiter is not None:
                await self._rpm_limiter.acquire()
            elif (pacer := self._pacer) is not None and not pacer.try_acquire(1):
                await pacer.acquire(1)
            tokens = self._tokens
            if tokens is not None:
                self._count_tokens(estimated_tokens)
                if not tokens.try_acquire(estimated_tokens):
                    await tokens.acquire(estimated_tokens)
            if self._cooldown_until > 0:
                await self._wait_cooldown()  # a 429 may have come back while we queued
        except BaseException:
            self.release()
            raise
        if self.rpm is None and self.tpm is None:  # a limit may have to be inferred
            sends = self._sends
            now = self._clock.monotonic()
            sends.append(now)
            if sends[0] < now - INFER_SPAN_S:
                sends.popleft()

    def _count_tokens(self, estimated_tokens: int) -> None:
        """Follow the tokens a request takes: with a TPM limit, they set the request rate."""
        previous = self._tokens_per_request
        if previous is None:
            self._tokens_per_request = float(max(1, estimated_tokens))
            self._set_rate()
        else:
            self._tokens_per_request = previous + TOKENS_ALPHA * (estimated_tokens - previous)
            if abs(self._tokens_per_request - previous) > 0.05 * previous:
                self._set_rate()

    def release(self) -> None:
        """Give a slot back."""
        self._in_flight -= 1
        if self._waiting:
            self._grant()

    def record_success(
        self,
        *,
        stage: str = "",
        latency_s: float = 0.0,
        token_charge: float = 0.0,
        actual_tokens: int | None = None,
    ) -> None:
        """A response: the policy learns its latency and grows; reconcile the token estimate."""
        self._policy.on_success(stage, latency_s, self._clock.monotonic())
        if self._inferred is not None:
            self._inferred_growth()
        if self._policy.target != self._cap:
            self._set_cap()
        if self._tokens is not None and actual_tokens is not None:
            self._tokens.reconcile(token_charge, actual_tokens)

    def record_rate_limited(self, wait_s: float | None) -> None:
        """A 429 that is a rate limit: cut the window (at most once per latency window), and,
        with no limit known, the inferred rate (which Little's law sizes the window from); hold
        every new send for the server's wait, or, for a bare 429 that cut, BARE_429_PAUSE_S."""
        inferred = self._inferred_cut()
        if inferred is None:  # no rate inferred (yet): the window alone slows down
            cut = self._policy.on_rate_limit(self._clock.monotonic())
            if cut:
                self._set_cap()
        else:
            cut = inferred
        if wait_s is not None:
            self.pause(wait_s)
        elif cut:
            self.pause(BARE_429_PAUSE_S)

    def record_noise(self) -> None:
        """A sporadic 429 (an overloaded upstream, not our limit): only its own request waits;
        the window is cut only if these become a large share of the answers."""
        if self._policy.on_noise(self._clock.monotonic()):
            self._set_cap()

    def _set_cap(self) -> None:
        """Take the policy's target as the integer cap; wake waiters if it grew."""
        self._cap = self._policy.target
        if self._waiting:
            self._grant()

    def pause(self, wait_s: float) -> None:
        """Hold new sends for `wait_s` (extends, never shortens, a running cooldown)."""
        until = self._clock.monotonic() + wait_s
        if until > self._cooldown_until:
            self._cooldown_until = until

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from `x-ratelimit-limit-*` (lower our limits to the server's) and
        `x-ratelimit-remaining-*` (an empty bucket pauses new sends until its reset).
        `headers` must be case-insensitive (aiohttp's or httpx's) or lower-cased."""
        learnt = self.server_limits
        for bucket, configured, setter, limit_h, remaining_h, reset_h, remaining_key in (
            self._buckets
        ):
            limit = _header_number(headers, limit_h)
            if limit is not None and limit > 0 and learnt.get(bucket) != limit:
                learnt[bucket] = limit
                setter(limit if configured is None else min(configured, limit))
            remaining = _header_number(headers, remaining_h)
            if remaining is not None:
                learnt[remaining_key] = remaining
                if remaining <= 0:
                    reset = parse_duration(headers.get(reset_h)) or 0.0
                    self.pause(min(reset, REMAINING_PAUSE_CAP_S))

    def stats(self) -> dict[str, Any]:
        """Live state for progress events: the cap, and why it is what it is."""
        policy = self._policy.stats()
        return {
            "concurrency": self._cap,
            "max_concurrency": self.max_concurrency,
            "concurrency_why": policy.pop("why"),
            "concurrency_policy": policy,
            "in_flight": self._in_flight,
            "waiting": self._waiting,
            "waiting_by_priority": [len(queue) for queue in self._waiters],
            "rpm": self.rpm,
            "inferred_rpm": None if self._inferred is None else round(
                self._inferred * SECONDS_PER_MINUTE, 1),
            "tpm": self.tpm,
            "tpm_level": None if self._tokens is None else round(self._tokens.level, 1),
            "server_limits": dict(self.server_limits),
            "cooldown_s": round(self.cooldown_remaining_s, 3),
            "decreases": self._policy.decreases,
        }
