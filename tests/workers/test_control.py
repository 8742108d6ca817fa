"""The stop switch, the request cap and the sampler's outlook: small policies, table-tested."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from asyncgen.llm.params import Stage
from asyncgen.workers.control import Control, StopRequested, may_send
from asyncgen.workers.instructions import INITIAL_COMMIT_SHARE, INITIAL_YIELD, Outlook


def _outlook(**counts: int) -> Outlook:
    """An outlook with these counts, given as the stages give them."""
    outlook = Outlook()
    writers = {"in_flight": lambda: outlook.sending(+1), "admitted": outlook.admit,
               "committed": outlook.commit, "failed": outlook.fail,
               "requests": lambda: (outlook.answered(), outlook.judge()),
               "pending": outlook.answered}
    for name, value in counts.items():
        for _ in range(value):
            writers[name]()
    return outlook


@pytest.mark.parametrize(
    ("counts", "committed", "open_jobs", "queued", "expected"),
    [
        # nothing measured yet: the initial guesses
        ({}, 0, 0, 0, 0.0),
        ({"in_flight": 2}, 0, 0, 0, 2 * INITIAL_YIELD * INITIAL_COMMIT_SHARE),
        ({}, 10, 5, 1, 10 + (5 + INITIAL_YIELD) * INITIAL_COMMIT_SHARE),
        # measured: 40 requests admitted 80 (2 each); 45 of 50 finished jobs committed (0.9)
        ({"requests": 40, "admitted": 80, "committed": 45, "failed": 5, "in_flight": 3,
          "pending": 1}, 45, 10, 2, 45 + (10 + 6 * 2.0) * 0.9),
        # a run that admits nothing still counts a little, so the sampler never spins forever
        ({"requests": 50, "admitted": 0}, 0, 0, 1, 0.1 * INITIAL_COMMIT_SHARE),
    ],
)
def test_outlook_expected(counts: dict[str, int], committed: int, open_jobs: int, queued: int,
                          expected: float) -> None:
    got = _outlook(**counts).expected(
        committed=committed, open_jobs=open_jobs, queued_prompts=queued
    )
    assert got == pytest.approx(expected)


def test_request_cap_stops_the_run_and_refuses_the_next_request() -> None:
    control = Control(target=10, max_requests=2)
    control.take_request()
    control.take_request()
    with pytest.raises(StopRequested):
        control.take_request()
    assert control.reason == "max_requests" and control.stopping.is_set()
    assert control.requests == 2


def test_first_reason_wins_and_drain_sets_a_deadline() -> None:
    async def scenario() -> tuple[float, float]:
        control = Control(target=10, drain_timeout=30.0)
        with anyio.CancelScope() as scope:
            control.scope = scope
            control.stop("signal")
            control.stop("budget")
            assert control.reason == "signal"
            deadline, now = scope.deadline, anyio.current_time()
            await anyio.lowlevel.checkpoint()
        return deadline, now

    deadline, now = anyio.run(scenario)
    assert 29.0 < deadline - now <= 30.0


def test_stop_at_once_cancels_the_scope() -> None:
    async def scenario() -> bool:
        control = Control(target=1)
        with anyio.CancelScope() as scope:
            control.scope = scope
            control.stop("target", drain=False)
            await anyio.sleep(10)  # cancelled at once, no real wait
        return scope.cancelled_caught

    assert anyio.run(scenario)


@pytest.mark.parametrize(
    ("stage", "reason", "sent"),
    [
        ("instructions", None, True),
        ("classify", None, True),
        ("instances", None, True),
        # stopping: nothing new, only the instance request of a job already labelled
        ("instructions", "signal", False),
        ("classify", "signal", False),
        ("instances", "signal", True),
        ("classify", "target", False),
        ("instances", "target", True),
        ("instructions", "budget", False),
        ("instances", "budget", True),  # the budget itself refuses it if it does not fit
        ("instances", "stuck", True),
        ("instances", "duration", True),
        # the request cap refuses everything
        ("instances", "max_requests", False),
    ],
)
def test_what_a_stopping_run_still_sends(stage: Stage, reason: str | None, sent: bool) -> None:
    assert may_send(stage, reason) is sent
