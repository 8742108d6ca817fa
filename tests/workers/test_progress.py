"""The loop-lag figure of run.progress (asyncgen.workers.progress.LoopLag)."""

from __future__ import annotations

from typing import Any

import anyio

from asyncgen.workers.progress import LoopLag


def test_take_reports_the_worst_since_the_last_take_and_the_run_keeps_its_worst() -> None:
    lag = LoopLag()
    for late in (0.002, 0.061, 0.004):
        lag.note(late)
    assert lag.take() == 61.0
    lag.note(0.003)
    assert lag.take() == 3.0 and lag.take() == 0.0
    assert lag.worst_run_s == 0.061


class _Watched(LoopLag):
    """Sets `late` at the first wake-up that came late."""

    __slots__ = ("late",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.late = anyio.Event()

    def note(self, late_s: float) -> None:
        super().note(late_s)
        if late_s:
            self.late.set()


async def _stalled() -> LoopLag:
    now = [0.0]
    lag = _Watched(clock=lambda: now[0], tick=0.001)

    async def stall() -> None:
        await anyio.sleep(0.002)
        now[0] += 0.25  # the clock jumps while the timer sleeps: it wakes 250 ms late

    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        await stall()
        await lag.late.wait()
        tg.cancel_scope.cancel()
    return lag


def test_a_late_wake_up_is_measured_against_the_injected_clock() -> None:
    lag = anyio.run(_stalled)
    assert lag.take() == 249.0  # due 1 ms after the start, woken at 250 ms
