"""Retry policy: header parsing, backoff, verdicts — as tables, with the clock passed in."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from asyncgen.llm import retry
from asyncgen.llm.retry import Verdict

NOW = 1_800_000_000.0  # epoch seconds: the injected wall clock


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1500", 1.5),
        ("0", 0.0),
        (" 20 ", 0.02),
        ("2.5", 0.0025),
        ("-1", None),
        ("abc", None),
        ("nan", None),
        ("inf", None),
        (None, None),
    ],
)
def test_parse_retry_after_ms(value: str | None, expected: float | None) -> None:
    assert retry.parse_retry_after_ms(value) == expected


def _http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, tz=UTC), usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (_http_date(NOW + 30), 30.0),
        (_http_date(NOW - 30), 0.0),  # a date in the past: go now
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: cannot place it
        ("soon", None),
        ("", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert retry.parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6m0s", 360.0),
        ("547ms", 0.547),
        ("1s", 1.0),
        ("1m30.5s", 90.5),
        ("2h", 7200.0),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("20ms", 0.02),
        ("0.5s", 0.5),
        ("", None),
        ("6m0", None),
        ("1x", None),
        ("s", None),
        ("1s 2s", None),
        ("12", None),
        (None, None),
    ],
)
def test_parse_duration(value: str | None, expected: float | None) -> None:
    result = retry.parse_duration(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int((NOW + 2.5) * 1000)), 2.5),  # epoch milliseconds (OpenRouter)
        (str(int(NOW + 10)), 10.0),  # epoch seconds accepted
        (str(int((NOW - 5) * 1000)), 0.0),  # already reset
        ("bogus", None),
        (None, None),
    ],
)
def test_parse_reset_epoch(value: str | None, expected: float | None) -> None:
    result = retry.parse_reset_epoch(value, NOW)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "250", "retry-after": "3"}, 0.25),  # ms wins
        ({"Retry-After": "3"}, 3.0),  # case-insensitive through httpx.Headers
        ({"retry-after": "junk", "x-ratelimit-reset-requests": "2s"}, 2.0),
        (  # the exhausted bucket's reset, not the other's
            {
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-requests": "10",
                "x-ratelimit-reset-tokens": "6m0s",
                "x-ratelimit-remaining-tokens": "0",
            },
            360.0,
        ),
        (  # none reported empty: the nearest
            {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "547ms"},
            0.547,
        ),
        ({"X-RateLimit-Reset": str(int((NOW + 4) * 1000))}, 4.0),
        ({"retry-after": str(10 * 86_400)}, None),  # nonsense: ignored
    ],
)
def test_server_wait(headers: dict[str, str], expected: float | None) -> None:
    result = retry.server_wait(httpx.Headers(headers), NOW)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("headers", "daily"),
    [
        ({"retry-after": "20"}, False),
        ({"retry-after": str(int(retry.DAILY_CAP_RESET_S))}, False),  # exactly the limit: no
        ({"retry-after": str(int(retry.DAILY_CAP_RESET_S) + 1)}, True),
        ({"x-ratelimit-reset": str(int((NOW + 5 * 3600) * 1000))}, True),  # hours away
        ({"retry-after": "20", "x-ratelimit-reset": str(int((NOW + 8 * 3600) * 1000))}, True),
        ({"x-ratelimit-reset-requests": "8h20m"}, True),
        ({"x-ratelimit-reset-tokens": "6m0s"}, False),
        ({}, False),
    ],
)
def test_is_daily_cap(headers: dict[str, str], daily: bool) -> None:
    assert retry.is_daily_cap(httpx.Headers(headers), NOW) is daily


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.0),
        (1, 0.5, 0.25),
        (1, 0.999, 0.4995),
        (2, 0.5, 0.5),
        (3, 1.0, 2.0),
        (7, 1.0, 30.0),  # 0.5 * 64 = 32 -> capped at 30
        (200, 0.5, 15.0),  # no overflow on huge attempts
    ],
)
def test_backoff_table(attempt: int, rand: float, expected: float) -> None:
    assert retry.backoff(attempt, rand) == pytest.approx(expected)


def test_backoff_is_full_jitter_below_the_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(retry.BACKOFF_CAP_S, retry.BACKOFF_BASE_S * 2 ** (attempt - 1))
        waits = [retry.backoff(attempt, rng.random()) for _ in range(200)]
        assert all(0.0 <= w < ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling  # it spreads over the whole range


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        retry.backoff(0, 0.5)


def test_retry_wait_prefers_the_server() -> None:
    assert retry.retry_wait(7.0, 1, 0.5) == 7.0
    assert retry.retry_wait(None, 1, 0.5) == 0.25


@pytest.mark.parametrize(
    ("retryable", "attempt", "max_attempts", "wait", "remaining", "verdict"),
    [
        (True, 1, 3, 1.0, 10.0, Verdict.RETRY),
        (False, 1, 3, 1.0, 10.0, Verdict.FAIL),
        (True, 3, 3, 1.0, 10.0, Verdict.EXHAUSTED),
        (True, 1, 3, 10.0, 10.0, Verdict.DEADLINE),  # waking at the deadline is too late
        (True, 1, 3, 30.0, 5.0, Verdict.DEADLINE),  # server wait past the deadline
        (True, 1, 3, 0.0, 0.0, Verdict.DEADLINE),
        (True, 2, 3, 4.9, 5.0, Verdict.RETRY),
    ],
)
def test_decide(
    retryable: bool,
    attempt: int,
    max_attempts: int,
    wait: float,
    remaining: float,
    verdict: Verdict,
) -> None:
    got = retry.decide(
        retryable=retryable,
        attempt=attempt,
        max_attempts=max_attempts,
        wait_s=wait,
        remaining_s=remaining,
    )
    assert got is verdict
    assert retry.should_retry(
        retryable=retryable,
        attempt=attempt,
        max_attempts=max_attempts,
        wait_s=wait,
        remaining_s=remaining,
    ) is (verdict is Verdict.RETRY)
