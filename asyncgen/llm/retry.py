"""Retry policy: when to retry, how long to wait. Pure functions over named constants.

Server-specified waits are read in this order: `retry-after-ms`, `Retry-After` (seconds or an
HTTP date), OpenAI's `x-ratelimit-reset-requests` / `-tokens` (durations such as "6m0s",
"547ms", "1m30.5s"), OpenRouter's `X-RateLimit-Reset` (epoch milliseconds). Without one, the
wait is exponential backoff with full jitter. Header lookups expect a case-insensitive mapping
(`httpx.Headers`) or lower-case keys.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
DAILY_CAP_RESET_S = 600.0
"""A 429 whose reset is further away than this is a daily cap, not a rate limit: stop the run."""
EPOCH_MS_MIN = 100_000_000_000
"""X-RateLimit-Reset values at least this large are epoch milliseconds, smaller ones seconds."""
MAX_SERVER_WAIT_S = 86_400.0 * 7
"""Hints further out than a week are nonsense; they are ignored."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class Verdict(enum.Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    FAIL = "fail"  # the error is not retryable
    EXHAUSTED = "exhausted"  # max attempts used
    DEADLINE = "deadline"  # the wait would pass the per-request deadline


def _number(value: str | None) -> float | None:
    """A finite, non-negative float, or None."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def parse_retry_after_ms(value: str | None) -> float | None:
    """`retry-after-ms: 1500` -> 1.5 seconds."""
    number = _number(value)
    return None if number is None else number / 1000.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` -> seconds from now."""
    number = _number(value)
    if number is not None:
        return number
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def parse_duration(value: str | None) -> float | None:
    """OpenAI reset durations: "6m0s", "547ms", "1s", "1m30.5s", "2h" -> seconds."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    total = 0.0
    end = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != end:
            return None
        total += float(match.group(1)) * _DURATION_SCALE[match.group(2)]
        end = match.end()
    return total if end == len(text) else None


def parse_reset_epoch(value: str | None, now: float) -> float | None:
    """OpenRouter `X-RateLimit-Reset` (epoch ms; epoch s accepted) -> seconds from now."""
    number = _number(value)
    if number is None:
        return None
    epoch_s = number / 1000.0 if number >= EPOCH_MS_MIN else number
    return max(0.0, epoch_s - now)


def _sane(wait: float | None) -> float | None:
    """Drop hints that cannot be meant."""
    return wait if wait is not None and wait <= MAX_SERVER_WAIT_S else None


def _openai_reset(headers: Mapping[str, str]) -> float | None:
    """The reset of the exhausted bucket(s); if none is reported empty, the nearest reset."""
    resets: list[float] = []
    exhausted: list[float] = []
    for bucket in ("requests", "tokens"):
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{bucket}"))
        if reset is None:
            continue
        resets.append(reset)
        if _number(headers.get(f"x-ratelimit-remaining-{bucket}")) == 0:
            exhausted.append(reset)
    if exhausted:
        return max(exhausted)
    return min(resets) if resets else None


def server_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait the server asked for, in seconds, or None when it did not say."""
    for wait in (
        parse_retry_after_ms(headers.get("retry-after-ms")),
        parse_retry_after(headers.get("retry-after"), now),
        _openai_reset(headers),
        parse_reset_epoch(headers.get("x-ratelimit-reset"), now),
    ):
        if (sane := _sane(wait)) is not None:
            return sane
    return None


def longest_reset(headers: Mapping[str, str], now: float) -> float | None:
    """The furthest reset any header announces (a daily cap hides behind a short Retry-After)."""
    waits = [
        parse_retry_after_ms(headers.get("retry-after-ms")),
        parse_retry_after(headers.get("retry-after"), now),
        parse_duration(headers.get("x-ratelimit-reset-requests")),
        parse_duration(headers.get("x-ratelimit-reset-tokens")),
        parse_reset_epoch(headers.get("x-ratelimit-reset"), now),
    ]
    known = [w for w in map(_sane, waits) if w is not None]
    return max(known) if known else None


def is_daily_cap(headers: Mapping[str, str], now: float) -> bool:
    """A 429 that resets hours away (OpenRouter's free-model daily cap, a requests-per-day cap)."""
    reset = longest_reset(headers, now)
    return reset is not None and reset > DAILY_CAP_RESET_S


def backoff(attempt: int, rand: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))).

    `attempt` counts from 1 (the attempt that just failed); `rand` is uniform in [0, 1).
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempt - 1, 32))
    return ceiling * rand


def retry_wait(server_wait_s: float | None, attempt: int, rand: float) -> float:
    """The server's wait when it gave one, else backoff."""
    return server_wait_s if server_wait_s is not None else backoff(attempt, rand)


def decide(
    *, retryable: bool, attempt: int, max_attempts: int, wait_s: float, remaining_s: float
) -> Verdict:
    """Retry, or why not. A wait that would end at or past the deadline gives up now:
    sleeping until the deadline could not be followed by a useful attempt."""
    if not retryable:
        return Verdict.FAIL
    if attempt >= max_attempts:
        return Verdict.EXHAUSTED
    if wait_s >= remaining_s:
        return Verdict.DEADLINE
    return Verdict.RETRY


def should_retry(
    *, retryable: bool, attempt: int, max_attempts: int, wait_s: float, remaining_s: float
) -> bool:
    """True when `decide` says retry."""
    verdict = decide(
        retryable=retryable,
        attempt=attempt,
        max_attempts=max_attempts,
        wait_s=wait_s,
        remaining_s=remaining_s,
    )
    return verdict is Verdict.RETRY
