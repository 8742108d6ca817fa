"""Live progress of a run: tallies read off the event stream, `run.progress` events, status line.

`Tally` is a structlog processor: it sees every event before it is rendered, so the numbers in
`run.progress` are the same ones `asyncgen report` later reads from events.jsonl. `LoopLag`
measures how late a periodic timer wakes: the longest the event loop was kept from running
anything (a stall), reported in each `run.progress` since the previous one, and for the run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from structlog.typing import EventDict, WrappedLogger

from asyncgen.llm.budget import Budget
from asyncgen.llm.pricing import DIGITS
from asyncgen.observe import events
from asyncgen.observe.cache_usage import CacheUsage
from asyncgen.observe.events import StatusLine
from asyncgen.workers.control import Control

log = events.get_logger()

STATUS_REFRESH_S = 1.0
LAG_TICK_S = 0.02  # the loop-lag timer's period


class LoopLag:
    """The worst lateness of a `LAG_TICK_S` timer: since the last `take`, and overall."""

    __slots__ = ("clock", "tick", "worst_s", "worst_run_s")

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 tick: float = LAG_TICK_S) -> None:
        self.clock = clock
        self.tick = tick
        self.worst_s = 0.0
        self.worst_run_s = 0.0

    def __repr__(self) -> str:
        return f"<LoopLag worst={self.worst_s * 1e3:.1f}ms run={self.worst_run_s * 1e3:.1f}ms>"

    def note(self, late_s: float) -> None:
        """Record one wake-up `late_s` seconds after it was due."""
        self.worst_s = max(self.worst_s, late_s)
        self.worst_run_s = max(self.worst_run_s, late_s)

    def take(self) -> float:
        """The worst lateness since the previous take, in ms; starts the next period."""
        worst, self.worst_s = self.worst_s, 0.0
        return round(worst * 1e3, 1)

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            due = self.clock() + self.tick
            await anyio.sleep(self.tick)
            self.note(max(self.clock() - due, 0.0))


class Tally:
    """Running totals of this run's events (a structlog processor; it never drops an event)."""

    __slots__ = ("counts", "rejected", "prompt_tokens", "completion_tokens", "cost_usd",
                 "candidates", "failed_by_kind", "cache")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.failed_by_kind: Counter[str] = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.candidates = 0
        self.cache = CacheUsage()

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        event = event_dict.get("event", "")
        self.counts[event] += 1
        if event.startswith("request."):
            self.cost_usd += event_dict.get("cost_usd") or 0.0
            self.prompt_tokens += event_dict.get("prompt_tokens") or 0
            self.completion_tokens += event_dict.get("completion_tokens") or 0
            self.cache.add(event_dict)
            if event == events.REQUEST_FAILED:
                self.failed_by_kind[str(event_dict.get("error_kind"))] += 1
        elif event == events.CANDIDATES_PARSED:
            self.candidates += event_dict.get("count", 0)
        elif event == events.TASK_REJECTED:
            self.rejected[str(event_dict.get("reason"))] += 1
        return event_dict

    @property
    def requests(self) -> int:
        return self.counts[events.REQUEST_COMPLETED] + self.counts[events.REQUEST_FAILED]


def _duration(seconds: float) -> str:
    """12s, 3m05s, 2h07m."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _rate(amount: float, seconds: float) -> float:
    return amount / seconds if seconds > 0 else 0.0


class Progress:
    """Emits `run.progress` every interval, and a status line on a terminal every second."""

    def __init__(
        self,
        *,
        tally: Tally,
        interval: float,
        status: StatusLine | None,
        limiter_state: Callable[[], Mapping[str, Any]],
        spend: Budget | None = None,
        prior_cost_usd: float = 0.0,
        start_committed: int = 0,
        queues: Callable[[], Mapping[str, int]] | None = None,
        batches: Callable[[], Mapping[str, Any]] | None = None,
        neighbours: Callable[[], Mapping[str, Any]] | None = None,
        fields_pending: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tally = tally
        self.interval = interval
        self.status = status
        self.limiter_state = limiter_state
        self.spend = spend  # the one spend figure (all runs); else the request events' costs
        self.prior_cost_usd = prior_cost_usd
        self.clock = clock
        self.started = clock()
        self.start_committed = start_committed  # tasks committed by earlier runs
        self.queues = queues  # the graph's stream depths
        self.batches = batches  # batch mode's state
        self.neighbours = neighbours  # the similarity fields' pass
        self.fields_pending = fields_pending  # committed, their fields not written yet
        self.lag = LoopLag(clock=clock)

    def snapshot(self, control: Control) -> dict[str, Any]:
        """The fields of run.progress (and of run.finished's totals)."""
        t = self.tally
        elapsed = self.clock() - self.started
        made = control.committed - self.start_committed
        if self.spend is not None:
            all_runs = self.spend.spend_usd
            cost = round(all_runs - self.prior_cost_usd, DIGITS)
        else:
            cost = round(t.cost_usd, DIGITS)
            all_runs = round(cost + self.prior_cost_usd, DIGITS)
        per_task = cost / made if made else 0.0
        left = max(control.target - control.committed, 0)
        rate = _rate(made, elapsed)
        return {
            "committed": made,  # this run's; *_all_runs fields count earlier runs too
            "committed_all_runs": control.committed,
            "target": control.target,
            "elapsed_s": round(elapsed, 1),
            "requests": t.requests,
            "rps": round(_rate(t.requests, elapsed), 2),
            "tokens_per_s": round(_rate(t.prompt_tokens + t.completion_tokens, elapsed), 1),
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "cost_usd": cost,
            "cost_usd_all_runs": all_runs,
            "cost_per_hour": round(_rate(cost, elapsed) * 3600, 4),
            "projected_cost_usd": round(all_runs + per_task * left, 4),  # all runs, at target
            "eta_s": round(left / rate, 1) if rate else None,
            "candidates": t.candidates,
            "acceptance_rate": round(made / t.candidates, 4) if t.candidates else None,
            "rejected": dict(t.rejected),
            "open_jobs": control.open_jobs,
            "fields_pending": self.fields_pending(),  # committed, their fields not written
            "queues": {} if self.queues is None else dict(self.queues()),
            "limiter": dict(self.limiter_state()),
            **t.cache.progress_fields(),
            **({} if self.batches is None else {"batches": dict(self.batches())}),
            **({} if self.neighbours is None else {"neighbours": dict(self.neighbours())}),
            "loop_lag_max_ms": round(self.lag.worst_run_s * 1e3, 1),  # the whole run
        }

    def line(self, control: Control) -> str:
        """The status line, most important first (a narrow terminal cuts the end)."""
        s = self.snapshot(control)
        eta = _duration(s["eta_s"]) if s["eta_s"] is not None else "?"
        return (
            f"{s['committed_all_runs']}/{s['target']} tasks  ETA {eta}  "
            f"${s['cost_usd_all_runs']:.4f} (~${s['projected_cost_usd']:.2f} at target)  "
            f"{s['rps']:.1f} req/s  {s['open_jobs']} in flight"
        )

    async def run(self, control: Control) -> None:
        """Tick until cancelled by the graph (the loop-lag timer with it)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.lag.run)
            next_event = self.clock() + self.interval
            while True:
                await anyio.sleep(STATUS_REFRESH_S if self.status else self.interval)
                if self.status is not None:
                    self.status.show(self.line(control))
                if self.clock() >= next_event:
                    next_event += self.interval
                    # loop_lag_ms: the longest stall of the event loop since the last event
                    log.info(events.RUN_PROGRESS, **self.snapshot(control),
                             loop_lag_ms=self.lag.take())

    def final(self) -> None:
        if self.status is not None:
            self.status.close()
