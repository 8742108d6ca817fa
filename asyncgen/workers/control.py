"""What the stages pass each other, and the run's stop switch.

A candidate's path: the sampler sends a prompt; an instruction worker sends `Candidates` to the
filter; the filter admits each into the pool and sends a `Job` on; classification fills in
`is_classification`; instance generation returns the job to the filter as `Finished`, which the
filter commits (or releases). `Control` is the one place that decides when the run stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from asyncgen import events
from asyncgen.llm import Completion
from asyncgen.llm.errors import BudgetExhausted, FatalError, ItemError
from asyncgen.llm.params import RequestParams, Stage
from asyncgen.neighbours import Pending
from asyncgen.parsing import Instance

log = events.get_logger()

# reasons after which no new request is sent, even to finish an in-flight task
STOP_SENDING = frozenset({"budget", "max_requests"})
# stops that are a fault, not a limit the user set: run.stopping is a warning for these only
ABNORMAL_STOPS = frozenset({"io_error", "fatal"})


@dataclass(frozen=True, slots=True)
class Candidates:
    """Parsed instructions from one generation request, on their way to admission."""

    instructions: tuple[str, ...]


@dataclass(slots=True)
class Job:
    """An admitted instruction travelling through classification and instance generation."""

    key: int
    instruction: str
    neighbours: Pending  # its similarity fields, being computed off the event loop
    is_classification: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    """A job back at the filter: instances to commit, or the reason it has none."""

    job: Job
    instances: tuple[Instance, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CandidatesClosed:
    """Sent once, after the last instruction worker has exited."""


FilterMessage = Candidates | Finished | CandidatesClosed


class StopRequested(Exception):
    """Raised to a worker asking for a request after the run decided to stop sending."""


class ProviderUnusable(FatalError):
    """Every recent request failed (after its retries): the provider is down or misconfigured."""

    kind = "unusable"


@dataclass(slots=True, kw_only=True)
class Control:
    """The stop switch and the counters that decide it (owned by the graph, read by stages)."""

    target: int
    max_requests: float = 0.0
    drain_timeout: float = 30.0
    committed: int = 0
    open_jobs: int = 0  # admitted, not yet committed or released (kept by the filter)
    requests: int = 0
    reason: str | None = None
    fatal_message: str | None = None
    stopping: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope | None = None

    def stop(self, reason: str, *, drain: bool = True, note: str | None = None) -> None:
        """Stop sampling; finish in-flight work within the drain timeout (or at once)."""
        if self.reason is None:
            self.reason = reason
            level = log.warning if reason in ABNORMAL_STOPS else log.info
            level(events.RUN_STOPPING, reason=reason, drain_s=self.drain_timeout if drain else 0,
                  note=note)
        self.stopping.set()
        if self.scope is None:
            return
        if drain:
            deadline = anyio.current_time() + self.drain_timeout
            self.scope.deadline = min(self.scope.deadline, deadline)
        else:
            self.scope.cancel()

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


class Asker:
    """How every stage sends a request: counted, capped, and with provider faults sorted out.

    Returns the completion, or None when this one item failed (the client already logged
    `request.failed`). Raises StopRequested when the run stops sending (request cap or budget).
    A FatalError passes through: it ends the run, as does a long run of failed requests with no
    success between them (a wrong URL or an outage would otherwise retry forever, unwatched).
    """

    __slots__ = ("client", "control", "params", "max_failures", "_failures_in_a_row")

    def __init__(
        self,
        client: Completer,
        control: Control,
        params: Mapping[Stage, RequestParams],
        *,
        max_failures: int = 0,
    ) -> None:
        self.client = client
        self.control = control
        self.params = params
        self.max_failures = max_failures  # 0: never give up
        self._failures_in_a_row = 0

    async def __call__(self, stage: Stage, prompt: str) -> Completion | None:
        if self.control.stopping.is_set() and self.control.reason in STOP_SENDING:
            raise StopRequested
        self.control.take_request()
        try:
            completion = await self.client.complete(stage, prompt, self.params[stage])
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
