"""Shared provider limits: concurrency sized by policy, cooldown, RPM/TPM, learning from headers."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import httpx
import pytest

from asyncgen.llm import limits as lim
from asyncgen.llm.clock import ManualClock
from asyncgen.llm.limits import ProviderLimits, TokenBucket

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _settle() -> None:
    """Let every runnable task run."""
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


async def test_slots_are_capped_and_granted_in_fifo_order() -> None:
    limits = ProviderLimits(max_concurrency=2)
    order: list[int] = []

    async def worker(n: int) -> None:
        await limits.acquire()
        order.append(n)

    await limits.acquire()
    await limits.acquire()
    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(worker, n)
            await _settle()
        assert order == [] and limits.stats()["waiting"] == 3
        limits.release()
        await _settle()
        assert order == [0]
        limits.release()
        limits.release()
        await _settle()
        assert order == [0, 1, 2]
    assert limits.in_flight == 2


async def test_a_free_slot_goes_to_the_highest_priority_waiter_first() -> None:
    """Instances (0) before classification (1) before generation (2), oldest first within
    one priority, whatever order they came in."""
    limits = ProviderLimits(max_concurrency=1)
    order: list[str] = []

    async def worker(name: str, priority: int) -> None:
        await limits.acquire(priority=priority)
        order.append(name)

    await limits.acquire()
    async with anyio.create_task_group() as tg:
        for name, priority in (("gen1", 2), ("cls1", 1), ("gen2", 2), ("inst1", 0),
                               ("cls2", 1)):
            tg.start_soon(worker, name, priority)
            await _settle()
        assert limits.stats()["waiting_by_priority"] == [1, 2, 2]
        for _ in range(5):
            limits.release()
            await _settle()
    assert order == ["inst1", "cls1", "cls2", "gen1", "gen2"]
    assert limits.stats()["waiting"] == 0


async def test_a_cancelled_priority_waiter_frees_its_place() -> None:
    limits = ProviderLimits(max_concurrency=1)
    await limits.acquire()
    scope = anyio.CancelScope()
    got: list[str] = []

    async def waiter(name: str, priority: int, cancel_scope: anyio.CancelScope) -> None:
        with cancel_scope:
            await limits.acquire(priority=priority)
            got.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "first", 0, scope)
        tg.start_soon(waiter, "low", 2, anyio.CancelScope())
        await _settle()
        scope.cancel()
        await _settle()
        assert limits.stats()["waiting_by_priority"] == [0, 0, 1]
        limits.release()
        await _settle()
    assert got == ["low"] and limits.in_flight == 1


async def test_room_for_a_priority_waits_until_none_of_its_sends_waits() -> None:
    """A stage takes its next item only once its last send holds a slot (or gave up)."""
    limits = ProviderLimits(max_concurrency=1)
    await limits.acquire()  # the only slot
    took: list[str] = []

    async def sender() -> None:
        await limits.acquire(priority=2)
        took.append("slot")

    async def stage() -> None:
        await limits.room_for(2)
        took.append("room")

    await limits.room_for(2)  # nobody waits: at once
    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await _settle()
        tg.start_soon(stage)
        await _settle()
        await limits.room_for(1)  # another priority: at once
        assert took == []
        limits.release()
        await _settle()
    assert took == ["slot", "room"]


async def test_a_priority_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="priority"):
        await ProviderLimits(max_concurrency=1).acquire(priority=3)


async def test_a_cancelled_waiter_frees_its_place() -> None:
    limits = ProviderLimits(max_concurrency=1)
    await limits.acquire()
    got: list[str] = []
    scope = anyio.CancelScope()

    async def waiter(name: str, cancel_scope: anyio.CancelScope) -> None:
        with cancel_scope:
            await limits.acquire()
            got.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "cancelled", scope)
        await _settle()
        tg.start_soon(waiter, "next", anyio.CancelScope())
        await _settle()
        scope.cancel()
        await _settle()
        assert limits.stats()["waiting"] == 1
        limits.release()
        await _settle()
    assert got == ["next"]
    assert limits.in_flight == 1


async def test_a_slot_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    # anyio defers cancelling a task whose future is already done, so use asyncio directly
    limits = ProviderLimits(max_concurrency=1)
    await limits.acquire()
    first = asyncio.ensure_future(limits.acquire())
    second = asyncio.ensure_future(limits.acquire())
    await _settle()
    limits.release()  # grants `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await _settle()
    assert first.cancelled()
    assert second.done() and not second.cancelled()
    assert limits.in_flight == 1


async def test_waiters_cancelled_together_while_a_slot_frees_up() -> None:
    limits = ProviderLimits(max_concurrency=1)
    await limits.acquire()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(limits.acquire)
        await _settle()
        tg.cancel_scope.cancel()  # their futures are cancelled now, their tasks run later ...
        limits.release()  # ... after this has dropped the cancelled futures from the queue
    assert limits.in_flight == 0 and limits.stats()["waiting"] == 0
    await limits.acquire()
    assert limits.in_flight == 1


async def test_a_burst_of_429s_cuts_once_per_latency_window_and_recovers() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=16, clock=clock.clock())  # probe mode: starts at 16
    for _ in range(8):
        limits.record_success(stage="classify", latency_s=1.0)
    assert limits.concurrency == 16  # at the ceiling already
    for _ in range(8):  # a burst of 429s answered within one round trip
        limits.record_rate_limited(None)
    assert limits.concurrency == 8 and limits.decreases == 1  # success rate unknown yet: halve
    assert limits.cooldown_remaining_s == pytest.approx(lim.BARE_429_PAUSE_S)
    clock.now += 1.0  # one latency window later: counts again
    limits.record_rate_limited(0.0)
    assert limits.concurrency == 4 and limits.decreases == 2
    for _ in range(80):
        limits.record_success(stage="classify", latency_s=1.0)
    assert limits.concurrency == 16  # back to the ceiling, not beyond


async def test_a_sporadic_429_neither_cuts_nor_pauses() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=16, clock=clock.clock())
    for _ in range(40):
        clock.now += 0.1
        limits.record_success(stage="classify", latency_s=1.0)
        limits.record_noise()  # two in three answers: a share this large is congestion after all
        limits.record_noise()
        if limits.decreases:
            break
    assert limits.decreases == 1 and limits.cooldown_remaining_s == 0.0
    calm = ProviderLimits(max_concurrency=16, clock=ManualClock().clock())
    for n in range(200):  # one in ten: noise
        calm.record_success(stage="classify", latency_s=1.0)
        if n % 10 == 0:
            calm.record_noise()
    assert calm.decreases == 0 and calm.concurrency == 16 and calm.cooldown_remaining_s == 0.0
    assert calm.stats()["concurrency_policy"]["noise_429s"] == 20


async def test_concurrency_never_goes_below_one() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=2, clock=clock.clock())
    for _ in range(10):
        clock.now += 10.0
        limits.record_rate_limited(0.0)
    assert limits.concurrency == lim.MIN_CONCURRENCY


async def test_lowered_cap_holds_new_sends_until_in_flight_drains() -> None:
    limits = ProviderLimits(max_concurrency=4, clock=ManualClock().clock())
    for _ in range(4):
        await limits.acquire()
    limits.record_rate_limited(0.0)  # cap 2, 4 in flight
    assert limits.concurrency == 2
    started: list[int] = []

    async def send() -> None:
        await limits.acquire()
        started.append(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await _settle()
        limits.release()
        limits.release()
        await _settle()
        assert started == []  # 2 in flight == cap
        limits.release()
        await _settle()
        assert started == [1]


async def test_a_known_limit_sizes_concurrency_by_littles_law() -> None:
    limits = ProviderLimits(max_concurrency=1000, rpm=3000, clock=ManualClock().clock())
    for _ in range(50):
        limits.record_success(stage="instances", latency_s=5.0)
    # 50 requests/s x 5 s x headroom 1.5, plus slack
    assert limits.concurrency == 375 + 4
    assert limits.stats()["concurrency_why"].startswith("little: 50.0 req/s x 5.00 s")
    capped = ProviderLimits(max_concurrency=64, rpm=3000, clock=ManualClock().clock())
    capped.record_success(stage="instances", latency_s=5.0)
    assert capped.concurrency == 64
    assert capped.stats()["concurrency_why"] == "ceiling (--max-concurrency)"


async def test_a_silent_limit_is_inferred_from_what_got_through_and_paces_requests() -> None:
    """Bare 429s and no limit known: pace at the success rate (less INFER_BACKOFF) from the
    429 on, whatever mix of stages holds the slots; grow slowly while no 429 comes."""
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=1000, clock=clock.clock())
    for _ in range(100):  # 20 requests a second for 5 s
        clock.now += 0.05
        await limits.acquire()
        limits.release()
        limits.record_success(stage="classify", latency_s=0.4)
    assert limits.stats()["inferred_rpm"] is None  # no 429 yet: nothing inferred
    limits.record_rate_limited(None)
    inferred = limits.stats()["inferred_rpm"]
    assert inferred == pytest.approx(20 * 60 * lim.INFER_BACKOFF, rel=0.1)
    assert limits.stats()["concurrency_policy"]["rate_limit_per_s"] == pytest.approx(
        inferred / 60)  # Little's law sizes the window from it too
    limits.record_rate_limited(None)  # the same latency window: no second cut
    assert limits.stats()["inferred_rpm"] == inferred
    # paced: 10 s of sends at the inferred rate, however short the requests
    started = clock.now
    sent = 0
    while clock.now - started < 10.0:
        await limits.acquire()
        limits.release()
        sent += 1
    assert sent == pytest.approx(10 * inferred / 60 * lim.RATE_HEADROOM, rel=0.1)
    clock.now += 10.0
    limits.record_success(stage="classify", latency_s=0.4)
    assert limits.stats()["inferred_rpm"] == inferred  # no sends lately: it did not bind
    for _ in range(200):  # 10 s of sends at the pace it allows: it binds, so it grows
        await limits.acquire()
        limits.release()
        limits.record_success(stage="classify", latency_s=0.4)
    grown = limits.stats()["inferred_rpm"]
    assert grown > inferred * 1.3  # x1.65 once it has bound 10 s without a 429
    limits.observe(httpx.Headers({"x-ratelimit-limit-requests": "1200"}))
    assert limits.stats()["inferred_rpm"] is None and limits.rpm == 1200  # a known limit wins


async def test_cooldown_pauses_new_sends_with_the_clock_not_the_loop() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=4, clock=clock.clock())
    await limits.acquire()
    limits.release()
    limits.record_rate_limited(5.0)
    assert limits.cooldown_remaining_s == pytest.approx(5.0)
    assert "cooldown=5.00s" in repr(limits)
    start = clock.now
    await limits.acquire()
    assert clock.now - start >= 5.0
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(5.0)
    assert limits.cooldown_remaining_s == 0.0


async def test_cooldown_is_extended_not_shortened() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=4, clock=clock.clock())
    limits.pause(10.0)
    limits.pause(2.0)
    assert limits.cooldown_remaining_s == pytest.approx(10.0)


async def test_token_bucket_waits_and_reconciles() -> None:
    clock = ManualClock()
    bucket = TokenBucket(6000, clock=clock.clock())  # 98/s after headroom, 98 deep
    rate = 6000 / 60 * lim.RATE_HEADROOM
    assert bucket.capacity == pytest.approx(rate)
    await bucket.acquire(90)
    assert clock.sleeps == []
    await bucket.acquire(50)  # 140 > 98: wait for 42 tokens to leak
    assert clock.sleeps[-1] == pytest.approx(42 / rate)
    bucket.reconcile(50, 10)  # over-estimate: kept (servers charge max_tokens up front)
    assert bucket.level == pytest.approx(98)
    bucket.reconcile(10, 500)  # under-counted: charge the rest
    assert bucket.level == pytest.approx(98 + 490)


async def test_a_request_larger_than_the_bucket_takes_all_of_it() -> None:
    clock = ManualClock()
    bucket = TokenBucket(600, clock=clock.clock())
    assert bucket.charge(10_000) == bucket.capacity
    await bucket.acquire(10_000)
    assert bucket.level == pytest.approx(bucket.capacity)


async def test_tpm_limit_is_applied_in_acquire() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=8, tpm=6000, clock=clock.clock())
    await limits.acquire(98)
    limits.release()
    await limits.acquire(98)
    limits.release()
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(1.0)
    limits.record_success(token_charge=limits.token_charge(98), actual_tokens=200)
    assert limits.stats()["tpm_level"] == pytest.approx(98.0 + 102.0)


async def test_rpm_limiter_has_one_burst_then_paces() -> None:
    limits = ProviderLimits(max_concurrency=64, rpm=3000)
    limiter = limits._rpm_limiter
    assert limiter is not None
    rate = 3000 / 60 * lim.RATE_HEADROOM
    assert limiter.max_rate == pytest.approx(rate * lim.BURST_S)
    assert limiter.max_rate / limiter.time_period == pytest.approx(rate)
    for _ in range(int(limiter.max_rate)):
        await limits.acquire()
        limits.release()
    assert not limiter.has_capacity()


async def test_cancelled_while_waiting_for_rate_releases_the_slot() -> None:
    limits = ProviderLimits(max_concurrency=4, rpm=60)  # one request of burst
    await limits.acquire()
    limits.release()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await limits.acquire()
    assert limits.in_flight == 0


@pytest.mark.parametrize(
    ("configured", "header", "expected"),
    [
        (None, "3000", 3000.0),  # learnt
        (6000, "3000", 3000.0),  # the server's is lower: obey it
        (1000, "3000", 1000),  # ours is lower: keep it
        (None, "junk", None),
        (None, "0", None),
    ],
)
async def test_learns_request_limit_from_headers(
    configured: int | None, header: str, expected: float | None
) -> None:
    limits = ProviderLimits(max_concurrency=8, rpm=configured)
    limits.observe(httpx.Headers({"x-ratelimit-limit-requests": header}))
    assert limits.rpm == expected


async def test_learns_token_limit_and_empty_bucket_pauses() -> None:
    clock = ManualClock()
    limits = ProviderLimits(max_concurrency=8, clock=clock.clock())
    limits.observe(
        httpx.Headers(
            {
                "x-ratelimit-limit-tokens": "150000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "250ms",
                "x-ratelimit-remaining-requests": "12",
                "x-ratelimit-reset-requests": "6m0s",
            }
        )
    )
    assert limits.tpm == 150000
    assert limits.cooldown_remaining_s == pytest.approx(0.25)
    assert limits.stats()["server_limits"]["remaining_requests"] == 12
    limits.observe(
        httpx.Headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m"})
    )
    assert limits.cooldown_remaining_s == pytest.approx(lim.REMAINING_PAUSE_CAP_S)


async def test_repr_and_stats_show_live_state() -> None:
    limits = ProviderLimits(max_concurrency=3, rpm=600, tpm=60000)
    await limits.acquire(10)
    text = repr(limits)
    assert "concurrency=1/3" in text and "rpm=600" in text and "tpm=60000" in text
    stats = limits.stats()
    assert stats["in_flight"] == 1 and stats["concurrency"] == 3 and stats["rpm"] == 600


def test_misuse_fails_fast() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        ProviderLimits(max_concurrency=0)
    with pytest.raises(ValueError, match="per_minute"):
        TokenBucket(0)


async def test_sends_waiting_for_a_slot_are_turned_away_at_once() -> None:
    """An endpoint taken out of service: its queued sends fail now with the error given (they
    go to another endpoint), not after the sends in flight; the slots stay counted right."""
    limits = ProviderLimits(max_concurrency=2)
    await limits.acquire()
    await limits.acquire()
    outcomes: list[str] = []

    async def queued(priority: int) -> None:
        try:
            await limits.acquire(priority=priority)
        except LookupError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append("sent")

    async with anyio.create_task_group() as tg:
        for priority in (0, 2, 1):
            tg.start_soon(queued, priority)
        await _settle()
        assert limits.stats()["waiting"] == 3
        assert limits.turn_away(lambda: LookupError("out")) == 3
    assert outcomes == ["out", "out", "out"]
    assert limits.in_flight == 2 and limits.stats()["waiting"] == 0 and limits.queued == 0
    limits.release()
    limits.release()
    assert limits.in_flight == 0
    await limits.acquire()  # the window works on
    assert limits.in_flight == 1
