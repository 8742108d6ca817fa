"""Rate limits the simulator enforces: requests and tokens per minute, as token buckets.

Each bucket refills continuously at limit/60 per second up to one second's worth (at least
1). A request costing more than the capacity is let in when the bucket is full and leaves it
in debt, so the long-run rate never exceeds the limit. A request is admitted only if every
bucket admits it; a rejected request takes nothing. The clock is injected (monotonic seconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
_EPSILON = 1e-6  # units short that still count as available (float error from refills)
Resource = Literal["requests", "tokens"]


@dataclass(frozen=True, slots=True)
class BucketState:
    """What the rate-limit headers report about one bucket."""

    resource: Resource
    limit: int  # per minute, as configured
    remaining: int  # whole units available right now
    reset_s: float  # until the bucket is full again


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one request, with the state the headers report."""

    admitted: bool
    retry_after_s: float  # 0 when admitted
    limited_by: Resource | None  # the bucket that said no
    states: tuple[BucketState, ...]


class TokenBucket:
    """Continuous refill at limit/60 per second, capacity one second's worth (at least 1)."""

    __slots__ = ("resource", "limit", "rate", "capacity", "_level", "_updated")

    def __init__(self, resource: Resource, limit_per_minute: int, now: float) -> None:
        if limit_per_minute <= 0:
            raise ValueError(f"limit_per_minute must be > 0, got {limit_per_minute}")
        self.resource: Resource = resource
        self.limit = limit_per_minute
        self.rate = limit_per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self._level = self.capacity  # may go negative: debt left by an oversized request
        self._updated = now

    def __repr__(self) -> str:
        return (
            f"<TokenBucket {self.resource} limit={self.limit}/min "
            f"level={self._level:.2f}/{self.capacity:.2f}>"
        )

    def _refill(self, now: float) -> None:
        """Drip capacity back into the bucket."""
        if now > self._updated:
            self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
            self._updated = now

    def wait_s(self, cost: float, now: float) -> float:
        """Seconds until `cost` can be taken (0 if now)."""
        self._refill(now)
        missing = min(cost, self.capacity) - self._level
        return missing / self.rate if missing > _EPSILON else 0.0

    def take(self, cost: float) -> None:
        """Take `cost` (after `wait_s` said 0)."""
        self._level -= cost

    def state(self) -> BucketState:
        """Limit, remaining and time to full, as of the last refill."""
        reset = max(0.0, (self.capacity - self._level) / self.rate)
        return BucketState(self.resource, self.limit, max(0, math.floor(self._level)), reset)


class RateLimiter:
    """The requests and tokens buckets of the simulated provider (either may be off)."""

    __slots__ = ("_buckets", "_clock")

    def __init__(self, *, rpm: int, tpm: int, clock: Clock) -> None:
        now = clock()
        self._clock = clock
        limits: tuple[tuple[Resource, int], ...] = (("requests", rpm), ("tokens", tpm))
        self._buckets: tuple[TokenBucket, ...] = tuple(
            TokenBucket(resource, limit, now) for resource, limit in limits if limit > 0
        )

    def __repr__(self) -> str:
        return f"<RateLimiter {' '.join(map(repr, self._buckets)) or 'unlimited'}>"

    @property
    def enabled(self) -> bool:
        """Whether any limit is enforced."""
        return bool(self._buckets)

    def admit(self, tokens: int) -> Admission:
        """Admit one request costing `tokens` against every bucket, or say how long to wait."""
        now = self._clock()
        costs = [1.0 if b.resource == "requests" else float(tokens) for b in self._buckets]
        worst, limited_by = 0.0, None
        for bucket, cost in zip(self._buckets, costs, strict=True):
            wait = bucket.wait_s(cost, now)
            if wait > worst:
                worst, limited_by = wait, bucket.resource
        if limited_by is None:
            for bucket, cost in zip(self._buckets, costs, strict=True):
                bucket.take(cost)
        states = tuple(bucket.state() for bucket in self._buckets)
        return Admission(limited_by is None, worst, limited_by, states)
