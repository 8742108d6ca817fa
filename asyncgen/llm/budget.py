"""The budget ledger: what a run has spent and holds, and a hard cap on it (`--budget-usd`).

Before each attempt the client reserves the attempt's worst-case cost; after it, it settles
the reservation with the cost actually billed. Invariant: spent + reserved <= limit at every
reservation, so the settled total never exceeds the limit as long as no attempt costs more
than its reservation.

Worst case of one attempt (`worst_case_cost`, from asyncgen.llm.pricing): prompt tokens are
bounded by the prompt's UTF-8 bytes plus PROMPT_OVERHEAD_TOKENS (every byte-level BPE or
byte-fallback token covers at least one byte; the overhead covers chat-template and BOS
tokens). That is about four times the chars/4 estimate the rate limiter uses for English: the
safety factor that keeps a real tokenizer from outrunning the reservation. Once the provider
has reported the prompt tokens of a prompt with the same fixed few-shot prefix, the client
reserves `prefix_bound` instead when lower: the fewest tokens reported after that prefix, plus
one per byte of the rest and PROMPT_OVERHEAD_TOKENS, uncached (asyncgen.llm.client; one model
only). Completion tokens are capped by max_tokens. An attempt whose cost cannot be read
(timeout or dropped connection after sending, truncated body) is settled at a cached-aware
upper bound once the provider has been caching its prefix (`LLMClient._unknown_usd`), else at
its full reservation: the provider may have billed it.

OpenRouter's reported `usage.cost` is trusted as the actual cost; should it exceed the
reservation (a price table older than the provider's prices), `overrun_usd` records it.

`Plan` decides what work to start, so that what the budget starts it can finish: see there.

Every reservation and settlement is written to the spend journal (asyncgen.rundir.spend) before it
takes effect outside the process: the reservation before the request is sent. A journal that
cannot be written stops the run (JournalFailed, a FatalError) before anything more is risked.
Without a limit the ledger still counts (and journals) the spend. `spend_usd` is the one spend
figure. Single event loop: no locks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from asyncgen.llm.errors import BudgetExhausted, JournalFailed
from asyncgen.llm.pricing import PROMPT_OVERHEAD_TOKENS, figure, worst_case_cost

if TYPE_CHECKING:
    from asyncgen.llm.costs import CostModel

__all__ = [
    "PROMPT_OVERHEAD_TOKENS",
    "Budget",
    "BudgetExhausted",
    "Hold",
    "Plan",
    "Reservation",
    "worst_case_cost",
]


@dataclass(slots=True, eq=False)
class Reservation:
    """Money held for one attempt until it is settled."""

    amount_usd: float
    number: int = 0  # the journal's reservation number
    settled: bool = False


class SpendLog(Protocol):
    """Where the budget writes each reservation before its request is sent, and each
    settlement (the run's OUT/spend.jsonl, `rundir.spend.SpendJournal`)."""

    def reserved(self, n: int, usd: float, spent_usd: float, held_usd: float) -> None: ...

    def settled(self, n: int, usd: float, spent_usd: float, held_usd: float) -> None: ...


class Budget:
    """Spent and reserved USD against a limit (None: no cap, the spend is still counted).

    One per run, shared by the live and batch clients: its figures change only through
    `reserve`, `settle` and their kin, called by the client that sent the request; the
    progress and the graph read."""

    __slots__ = ("limit_usd", "_spent", "_reserved", "_open", "_settled_event", "overrun_usd",
                 "_journal", "_numbers", "_journal_error")

    def __init__(
        self, limit_usd: float | None, spent_usd: float = 0.0, *,
        journal: SpendLog | None = None,
    ) -> None:
        if limit_usd is not None and not (math.isfinite(limit_usd) and limit_usd > 0):
            raise ValueError(f"limit_usd must be a number > 0, got {limit_usd!r}")
        if not (math.isfinite(spent_usd) and spent_usd >= 0):
            raise ValueError(f"spent_usd must be a number >= 0, got {spent_usd!r}")
        self.limit_usd = limit_usd
        self._spent = spent_usd  # includes earlier runs when resuming
        self._reserved = 0.0
        self._open = 0
        self._settled_event: anyio.Event | None = None
        self.overrun_usd = 0.0  # settled beyond reservations; stays 0 if worst cases hold
        self._journal = journal
        self._numbers = 0
        self._journal_error: OSError | None = None

    def __repr__(self) -> str:
        limit = "none" if self.limit_usd is None else f"${self.limit_usd:.4f}"
        return (
            f"<Budget limit={limit} spent=${self._spent:.6f} "
            f"reserved=${self._reserved:.6f} open={self._open}>"
        )

    @property
    def spent_usd(self) -> float:
        """USD settled so far."""
        return self._spent

    @property
    def reserved_usd(self) -> float:
        """USD held by attempts in flight."""
        return max(0.0, self._reserved)

    @property
    def spend_usd(self) -> float:
        """The one spend figure: settled plus held (never below what was billed)."""
        return figure(self._spent, self.reserved_usd)

    @property
    def remaining_usd(self) -> float:
        """USD neither spent nor reserved (infinite without a limit)."""
        if self.limit_usd is None:
            return math.inf
        return max(0.0, self.limit_usd - self._spent - self.reserved_usd)

    def fits(self, usd: float) -> bool:
        """Whether a reservation of `usd` would succeed now."""
        return self.limit_usd is None or self._spent + self.reserved_usd + usd <= self.limit_usd

    def reserve(self, usd: float) -> Reservation:
        """Hold `usd`; BudgetExhausted when spent + reserved + usd > limit."""
        if not (math.isfinite(usd) and usd >= 0):
            raise ValueError(f"a reservation must be a number >= 0, got {usd!r}")
        if not self.fits(usd):
            raise BudgetExhausted(
                f"budget ${self.limit_usd:.4f} cannot fit ${usd:.6f} more "
                f"(spent ${self._spent:.6f}, reserved ${self.reserved_usd:.6f})"
            )
        number = self._numbers + 1
        held = self._reserved + usd
        if self._journal is not None:
            if self._journal_error is not None:
                raise JournalFailed(f"cannot write the spend journal: {self._journal_error}")
            try:  # written before the request is sent, or it is not sent
                self._journal.reserved(number, usd, self._spent, held)
            except OSError as exc:
                self._journal_error = exc
                raise JournalFailed(f"cannot write the spend journal: {exc}") from exc
        self._numbers = number
        self._reserved = held
        self._open += 1
        return Reservation(usd, number)

    async def reserve_when_room(self, usd: float) -> Reservation:
        """Reserve, waiting for in-flight attempts to settle when only their holds are in the
        way; BudgetExhausted at once when even the spent money leaves no room."""
        while not self.fits(usd):
            if self._open == 0 or (
                self.limit_usd is not None and self._spent + usd > self.limit_usd
            ):
                break  # nothing will be given back: fail now
            if self._settled_event is None:
                self._settled_event = anyio.Event()
            await self._settled_event.wait()
        return self.reserve(usd)

    def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace a reservation with the billed cost (0 when the attempt was not billed)."""
        if reservation.settled:
            raise ValueError("reservation already settled")
        if not (math.isfinite(actual_usd) and actual_usd >= 0):
            raise ValueError(f"actual cost must be a number >= 0, got {actual_usd!r}")
        reservation.settled = True
        self._reserved -= reservation.amount_usd
        self._open -= 1
        if self._open == 0:
            self._reserved = 0.0  # drop float drift
        self._spent += actual_usd
        if actual_usd > reservation.amount_usd:
            self.overrun_usd += actual_usd - reservation.amount_usd
        if self._journal is not None and self._journal_error is None:
            try:
                self._journal.settled(reservation.number, actual_usd, self._spent,
                                      self.reserved_usd)
            except OSError as exc:  # the reservation stays on disk: counted at its amount
                self._journal_error = exc
        if self._settled_event is not None:
            self._settled_event.set()
            self._settled_event = None

    def stats(self) -> dict[str, float | int | None]:
        """Ledger state for progress events."""
        return {
            "limit_usd": self.limit_usd,
            "spend_usd": self.spend_usd,
            "spent_usd": self._spent,
            "reserved_usd": self.reserved_usd,
            "open_reservations": self._open,
            "overrun_usd": self.overrun_usd,
        }


@dataclass(slots=True, eq=False)
class Hold:
    """Money a Plan keeps for work under way, by part ("classify", "instances", ...); each
    part is given back once (`Plan.release`)."""

    parts: dict[str, float]

    @property
    def usd(self) -> float:
        return sum(self.parts.values())


class Plan:
    """A budget that finishes what it starts (`--budget-usd`).

    The Budget's reservations bound each attempt at its worst case, so that the provider never
    bills past the cap. The Plan decides which work to start: each admitted job holds what
    finishing it is expected to cost (its classification and instance requests at the cost
    model's expected cost with its margin, asyncgen.llm.costs), each generation request its own
    cost and that of the jobs it is expected to bring. Work starts only when its hold fits
    beside the money spent, reserved and held for others, with room left for one more
    worst-case attempt (`floor_usd`: the largest reservation of a job's stage, so that the
    last open jobs can still send theirs one at a time). Near the cap, nothing new fits: what
    is left finishes the open jobs. Holds are given back as their requests settle.

    One owner of the held money: this object; the stages call `job`, `generation`, `release`.
    Without a cap every hold is granted (and holds nothing).
    """

    __slots__ = ("budget", "costs", "_held")

    def __init__(self, budget: Budget, costs: CostModel) -> None:
        self.budget = budget
        self.costs = costs
        self._held = 0.0

    def __repr__(self) -> str:
        return f"<Plan held=${self._held:.6f} free=${self.free_usd():.6f} {self.budget!r}>"

    @property
    def held_usd(self) -> float:
        """USD held for work under way (beyond the attempts' reservations)."""
        return max(0.0, self._held)

    def floor_usd(self) -> float:
        """Room kept for one more attempt of a job's stage at its worst case."""
        return max(self.costs.worst_usd("classify"), self.costs.worst_usd("instances"))

    def free_usd(self) -> float:
        """USD neither spent, reserved, held, nor kept as the floor (infinite with no cap)."""
        budget = self.budget
        if budget.limit_usd is None:
            return math.inf
        return (budget.limit_usd - budget.spent_usd - budget.reserved_usd - self.held_usd
                - self.floor_usd())

    def job_usd(self) -> float:
        """What finishing one job is expected to cost (with the margin)."""
        return self.costs.planned_usd("classify") + self.costs.planned_usd("instances")

    def job(self) -> Hold | None:
        """Hold what finishing a new job costs; None when it does not fit."""
        return self._take({"classify": self.costs.planned_usd("classify"),
                           "instances": self.costs.planned_usd("instances")})

    def labelled_job(self) -> Hold:
        """Hold the instance request of a job labelled by an earlier run, fit or not: its
        classification is paid for (the Budget's cap still refuses what does not fit)."""
        hold = Hold({"instances": self.costs.planned_usd("instances")})
        if self.budget.limit_usd is not None:
            self._held += hold.usd
        return hold

    def generation(self, per_request: float) -> Hold | None:
        """Hold a generation request and the jobs of the `per_request` candidates it is
        expected to admit (one while a job's cost is not measured: its prior is a guess), or
        of as many as fit, at least one; None when not even that fits. Near the cap a
        generation request whose candidates are only partly finished still buys tasks."""
        parts = self._generation(per_request)
        if self.budget.limit_usd is not None:
            room = self.free_usd() - parts["instructions"]
            parts["jobs"] = min(parts["jobs"], max(room, 0.0))
            if parts["jobs"] < self.job_usd():
                return None
        return self._take(parts)

    def fits_generation(self, per_request: float) -> bool:
        """Whether `generation` would hold now."""
        return self.budget.limit_usd is None or (
            self.costs.planned_usd("instructions") + self.job_usd() <= self.free_usd())

    def fits_job(self) -> bool:
        """Whether `job` would hold now."""
        return self.budget.limit_usd is None or self.job_usd() <= self.free_usd()

    def _generation(self, per_request: float) -> dict[str, float]:
        costs = self.costs
        jobs = max(per_request, 1.0) if costs.known("classify") and costs.known("instances") \
            else 1.0
        return {"instructions": costs.planned_usd("instructions"), "jobs": jobs * self.job_usd()}

    def _take(self, parts: dict[str, float]) -> Hold | None:
        hold = Hold(parts)
        if self.budget.limit_usd is None:
            return hold
        if hold.usd > self.free_usd():
            return None
        self._held += hold.usd
        return hold

    def release(self, hold: Hold, part: str | None = None) -> None:
        """Give back one part of a hold (its request has settled), or all that is left."""
        names = list(hold.parts) if part is None else [part]
        for name in names:
            usd = hold.parts.pop(name, 0.0)
            if self.budget.limit_usd is not None:
                self._held -= usd
        if self._held < 1e-12:
            self._held = 0.0

    def stop_note(self) -> str:
        """Why a run stops for its budget before the Budget refuses anything."""
        budget = self.budget
        return (f"spent ${budget.spend_usd:.6f} of ${budget.limit_usd or 0:.4f}; what is left "
                f"cannot finish one more job (about ${self.job_usd():.6f} each)")

    def stats(self) -> dict[str, float | None]:
        """Held and free money, for progress events."""
        free = self.free_usd()
        return {"held_usd": round(self.held_usd, 9), "job_usd": round(self.job_usd(), 9),
                "free_usd": None if math.isinf(free) else round(max(free, 0.0), 9)}
