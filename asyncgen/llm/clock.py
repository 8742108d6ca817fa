"""The clock the client waits on: monotonic time, wall time and a sleep, injectable for tests."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.lowlevel


@dataclass(frozen=True, slots=True, kw_only=True)
class Clock:
    """Where time comes from; tests pass a fake whose `sleep` advances `monotonic` instantly."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # epoch seconds, for HTTP dates and epoch resets
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep


SYSTEM_CLOCK = Clock()


class ManualClock:
    """Virtual time for tests: `sleep(s)` moves time forward by `s` at once, then yields."""

    __slots__ = ("now", "epoch", "sleeps")

    def __init__(self, start: float = 1000.0, *, epoch: float = 1_800_000_000.0) -> None:
        self.now = start
        self.epoch = epoch - start  # wall() = epoch at `start`
        self.sleeps: list[float] = []

    def __repr__(self) -> str:
        return f"<ManualClock now={self.now:.3f} sleeps={len(self.sleeps)}>"

    def monotonic(self) -> float:
        """Virtual monotonic seconds."""
        return self.now

    def wall(self) -> float:
        """Virtual epoch seconds."""
        return self.epoch + self.now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, jump time forward, and yield once to the loop."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def clock(self) -> Clock:
        """This virtual time as a Clock to inject."""
        return Clock(monotonic=self.monotonic, wall=self.wall, sleep=self.sleep)
