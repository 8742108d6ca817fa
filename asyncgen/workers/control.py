"""What the stages pass each other, and the run's stop switch.

A candidate's path: the sampler sends a prompt; an instruction worker sends `Candidates` to the
filter; the filter admits each into the pool (journaling it) and sends a `Job` on; classification
returns it `Labelled`, the filter journals the label and passes it to instance generation, which
returns it as `Finished`; the filter commits it, or remembers it as failed. `Control` is the one
place that decides when the run stops; `may_send` which requests a stopping run still sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from asyncgen.llm import Completion
from asyncgen.llm.budget import Hold, Plan
from asyncgen.llm.errors import (
    BudgetExhausted,
    ItemError,
    ProviderUnusable,
    SendingStopped,
)
from asyncgen.llm.params import RequestParams, Stage
from asyncgen.novelty.neighbours import Pending
from asyncgen.observe import events
from asyncgen.selfinstruct.parsing import Instance

log = events.get_logger()

# reasons after which no request at all is sent, not even the instance request of a labelled job
STOP_SENDING = frozenset({"max_requests"})
# stops after which the run does not wait for the similarity fields still to write (the next
# run writes them): the user wants it over, or something is wrong
LEAVE_FIELDS = frozenset({"signal", "duration", "io_error", "fatal"})
# reasons that end the run with exit code 1 (the run stopped itself, something is wrong)
FAILING_REASONS = frozenset({"stuck"})
# stops that are a fault, not a limit the user set: run.stopping is a warning for these only
ABNORMAL_STOPS = frozenset({"io_error", "fatal"}) | FAILING_REASONS


def may_send(stage: Stage, reason: str | None) -> bool:
    """Whether a request of `stage` is still sent once the run is stopping for `reason`.

    A stopping run sends no new generation or classification request: what is queued is
    journaled for the next run. The instance request of a job already labelled is the one
    follow-up it still pays for, so that the classification already paid for is not wasted
    (the budget still refuses it when it does not fit). The request cap refuses everything.
    """
    if reason is None:
        return True
    return stage == "instances" and reason not in STOP_SENDING


@dataclass(frozen=True, slots=True)
class Candidates:
    """Parsed instructions from one generation request (maybe none), on their way to admission."""

    instructions: tuple[str, ...]
    model: str = ""  # the model that wrote them (as the provider named it)
    hold: Hold | None = None  # what the plan holds for the request and its jobs (`--budget-usd`)


@dataclass(slots=True)
class Job:
    """An admitted instruction travelling through classification and instance generation."""

    instruction: str
    neighbours: Pending  # its similarity fields, being computed off the event loop
    is_classification: bool = False
    models: dict[str, str] = field(default_factory=dict)
    """Stage -> the model that answered it for this job (its task records them)."""
    hold: Hold | None = None  # what the plan holds to finish it (`--budget-usd`)


@dataclass(frozen=True, slots=True)
class Labelled:
    """A job back from classification, for the filter to journal and pass on."""

    job: Job


@dataclass(frozen=True, slots=True)
class Finished:
    """A job back at the filter: instances to commit, or the reason it has none ("stopped":
    not asked because the run was stopping; it stays open in the journal)."""

    job: Job
    instances: tuple[Instance, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CandidatesClosed:
    """Sent once, after the last instruction worker has exited."""


FilterMessage = Candidates | Labelled | Finished | CandidatesClosed


class StopRequested(Exception):
    """Raised to a worker asking for a request after the run decided to stop sending."""


@dataclass(slots=True, kw_only=True)
class Control:
    """The stop switch and the counters that decide it.

    Each field has one writer, through a method: the filter counts jobs and commits
    (`open_job`, `close_job`, `commit`); the Asker counts
    requests (`take_request`); the graph attaches its cancel scope (`attach`); whoever sees a
    reason to stop calls `stop`, and the run command records a fault found after the graph
    ended (`fail`). Everyone else reads.
    """

    target: int
    max_requests: float = 0.0
    drain_timeout: float = 30.0
    committed: int = 0
    open_jobs: int = 0  # admitted, not yet committed or failed
    requests: int = 0
    reason: str | None = None
    fatal_message: str | None = None
    stopping: anyio.Event = field(default_factory=anyio.Event)
    backlog_sent: anyio.Event = field(default_factory=anyio.Event)  # the sampler waits for it
    scope: anyio.CancelScope | None = None

    def stop(
        self, reason: str, *, drain: bool = True, note: str | None = None,
        fatal: str | None = None,
    ) -> None:
        """Stop sampling; finish in-flight work within the drain timeout (or at once).

        The first reason given is the run's; `fatal` is the one line the run ends with."""
        if self.reason is None:
            self.reason = reason
            if fatal is not None:
                self.fatal_message = fatal
            level = log.warning if reason in ABNORMAL_STOPS else log.info
            level(events.RUN_STOPPING, reason=reason, drain_s=self.drain_timeout if drain else 0,
                  note=note or fatal)
        self.stopping.set()
        if self.scope is None:
            return
        if drain:
            deadline = anyio.current_time() + self.drain_timeout
            self.scope.deadline = min(self.scope.deadline, deadline)
        else:
            self.scope.cancel()

    def fail(self, reason: str, message: str, *, keep_message: bool = False) -> None:
        """A fault that ended the run (`fatal`, `io_error`): it names the end, whatever stop
        came first. `keep_message` keeps a fault's line already recorded."""
        self.reason = reason
        if not (keep_message and self.fatal_message):
            self.fatal_message = message

    def attach(self, scope: anyio.CancelScope) -> None:
        """The graph's scope, which `stop` cancels or gives its drain deadline."""
        self.scope = scope

    def open_job(self) -> None:
        """A job was admitted (or restored) and sent on."""
        self.open_jobs += 1

    def close_job(self) -> None:
        """A job came back: finished, failed or not asked."""
        self.open_jobs -= 1

    def commit(self) -> None:
        """A task was appended to tasks.jsonl."""
        self.committed += 1

    def take_request(self) -> None:
        """Count a request about to be sent, or refuse it once the request cap is reached."""
        if self.max_requests and self.requests >= self.max_requests:
            self.stop("max_requests")
            raise StopRequested
        self.requests += 1


class Completer(Protocol):
    """What the Asker sends through: LLMClient (live) or BatchClient (`--batch`)."""

    async def complete(
        self, stage: Stage, prompt: str, params: RequestParams | None = None
    ) -> Completion: ...

    def hold(self, stage: Stage) -> None: ...

    async def room(self, stage: Stage) -> None: ...


class Asker:
    """How every stage sends a request: counted, capped, and with provider faults sorted out.

    Returns the completion, or None when this one item failed (the client already logged
    `request.failed`). Raises StopRequested when the run no longer sends this request (`may_send`:
    stopping, request cap, budget), also when the stop came while it waited for its turn.
    A FatalError passes through: it ends the run, as does a long run of failed requests with no
    success between them (a wrong URL or an outage would otherwise retry forever, unwatched).
    """

    __slots__ = ("client", "control", "params", "max_failures", "plan", "_failures_in_a_row")

    def __init__(
        self,
        client: Completer,
        control: Control,
        params: Mapping[Stage, RequestParams],
        *,
        max_failures: int = 0,
        plan: Plan | None = None,
    ) -> None:
        self.client = client
        self.control = control
        self.params = params
        self.max_failures = max_failures  # 0: never give up
        self.plan = plan  # a capped budget's plan (asyncgen.llm.budget.Plan), else None
        self._failures_in_a_row = 0

    def release(self, hold: Hold | None, part: str | None = None) -> None:
        """Give back (a part of) what the plan holds for a job or a request, once settled."""
        if hold is not None and self.plan is not None:
            self.plan.release(hold, part)

    async def __call__(self, stage: Stage, prompt: str) -> Completion | None:
        if self.control.stopping.is_set() and not may_send(stage, self.control.reason):
            raise StopRequested
        self.control.take_request()
        try:
            completion = await self.client.complete(stage, prompt, self.params[stage])
        except SendingStopped:  # held (graph.py) while it waited for its turn
            raise StopRequested from None
        except BudgetExhausted:
            self.control.stop("budget")
            raise StopRequested from None
        except ItemError as exc:
            self._failures_in_a_row += 1
            if self.max_failures and self._failures_in_a_row >= self.max_failures:
                raise ProviderUnusable(
                    f"{self._failures_in_a_row} requests in a row failed; last: {exc}",
                    status=exc.status,
                ) from exc
            return None
        self._failures_in_a_row = 0
        return completion
