"""The cost model: what one request of each stage is expected to cost, live or in a batch.

One place knows it, from what the run measures: each billed response's prompt tokens, the
share of them served from the provider's prefix cache, its completion tokens and its cost,
kept per stage and per transport ("live": one request over HTTP; "batch": a line of a Batch
API batch). Before a stage has `MEASURED_AFTER` responses on a transport, its expected cost
is its prior: the worst case of a typical request of it (`prior`, set by the run from its own
prompts), or, for the other transport, the measured live figure at the batch discount with no
cache share (a batch that caches proves it by its lines' usage). `worst_usd` is what one more
attempt may reserve: the largest recent reservation of the stage.

The budget plans with it (asyncgen.llm.budget.Plan: what finishing an admitted job will cost), and
the transport choice compares the two transports with it (asyncgen.batch.mode). Expected
figures carry `MARGIN`: a job's instance request costs more than the mean one about half the
time. Single event loop: no locks. Writers: the clients (`observe`), the run (`prior`).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from asyncgen.llm.params import STAGES, Stage
from asyncgen.llm.pricing import Price, Usage, estimate_tokens, unknown_cost_bound

__all__ = ["Choice", "CostModel", "Measured", "Transport", "choose_transport", "prior_usd",
           "unknown_cost_bound"]

Transport = Literal["live", "batch"]
TRANSPORTS: tuple[Transport, ...] = ("live", "batch")

WAITING = "waiting for the batch cost"  # probes sent, not measured yet (batch mode waits)
RECENT_KEPT = 32  # recent costs per stage and transport (their median chooses a transport)
BATCH_PROBES = 5  # requests of a stage sent in a batch to measure it (two prompt prefixes)
MEASURED_AFTER = 3  # responses of a stage on a transport before its mean replaces the prior
MARGIN = 1.3  # what the plan holds per expected request, in means
WORST_KEPT = 8  # recent reservations per stage that bound the next one's


@dataclass(slots=True)
class Measured:
    """Sums over the billed responses of one stage on one transport, and the recent costs."""

    responses: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))

    def typical_usd(self) -> float:
        """The median of the recent costs: a prefix's first request, which the provider has
        not cached yet, does not decide a transport."""
        return statistics.median(self.recent) if self.recent else 0.0

    def add(self, usage: Usage) -> None:
        self.recent.append(usage.cost_usd or 0.0)
        self.responses += 1
        self.prompt_tokens += usage.prompt_tokens
        self.cached_tokens += usage.cached_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += usage.cost_usd or 0.0

    @property
    def cached_share(self) -> float:
        """The share of prompt tokens served from the cache."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def mean_usd(self) -> float:
        return self.cost_usd / self.responses if self.responses else 0.0


class CostModel:
    """Expected USD per request of each stage on each transport (see the module docstring)."""

    __slots__ = ("price", "batch_discount", "_measured", "_prior", "_reserved")

    def __init__(self, price: Price | None, *, batch_discount: float = 0.5) -> None:
        if not 0.0 <= batch_discount < 1.0:
            raise ValueError(f"batch_discount must be in [0, 1), got {batch_discount!r}")
        self.price = price
        self.batch_discount = batch_discount
        self._measured: dict[tuple[Stage, Transport], Measured] = {
            (stage, transport): Measured() for stage in STAGES for transport in TRANSPORTS
        }
        self._prior: dict[Stage, float] = {}
        self._reserved: dict[Stage, deque[float]] = {
            stage: deque(maxlen=WORST_KEPT) for stage in STAGES}

    def __repr__(self) -> str:
        live = {stage: round(self.expected_usd(stage), 7) for stage in STAGES}
        return f"<CostModel live={live}>"

    def prior(self, stage: Stage, usd: float) -> None:
        """What a request of `stage` is expected to cost before any is measured (`prior_usd`
        of a typical prompt of it: the plan then holds too much, rarely too little)."""
        if not usd >= 0:
            raise ValueError(f"a prior must be a number >= 0, got {usd!r}")
        self._prior[stage] = usd

    def reserving(self, stage: Stage, usd: float) -> None:
        """An attempt of `stage` reserves `usd` (its worst case, asyncgen.llm.budget)."""
        self._reserved[stage].append(usd)

    def worst_usd(self, stage: Stage) -> float:
        """The largest of the last WORST_KEPT reservations of `stage` (its prior before any):
        what one more attempt of it may need to reserve."""
        recent = self._reserved[stage]
        return max(recent) if recent else self._prior.get(stage, 0.0)

    def observe(self, stage: Stage, usage: Usage, transport: Transport = "live") -> None:
        """A billed response of `stage` on `transport` (its cost as billed)."""
        if usage.cost_usd is not None and not usage.estimated:
            self._measured[stage, transport].add(usage)

    def measured(self, stage: Stage, transport: Transport = "live") -> Measured:
        """The sums of one stage on one transport (read only)."""
        return self._measured[stage, transport]

    def known(self, stage: Stage, transport: Transport = "live") -> bool:
        """Whether the stage's mean on this transport is measured."""
        return self._measured[stage, transport].responses >= MEASURED_AFTER

    def expected_usd(self, stage: Stage, transport: Transport = "live") -> float:
        """The mean cost of one request of `stage` on `transport` (no margin)."""
        own = self._measured[stage, transport]
        if own.responses >= MEASURED_AFTER:
            return own.mean_usd()
        live = self._measured[stage, "live"]
        if transport == "batch" and live.responses >= MEASURED_AFTER:
            return self.uncached_usd(live) * (1.0 - self.batch_discount)
        return self._prior.get(stage, 0.0)

    def uncached_usd(self, measured: Measured) -> float:
        """The mean request of `measured` priced with none of its prompt cached."""
        if self.price is None or not measured.responses:
            return measured.mean_usd()
        n = measured.responses
        return self.price.cost(round(measured.prompt_tokens / n),
                               round(measured.completion_tokens / n))

    def live_floor_usd(self, stage: Stage) -> float | None:
        """The least a live request like the stage's batch lines can cost: their mean tokens
        with the whole prompt served from the cache (None without prices or batch lines)."""
        lines = self._measured[stage, "batch"]
        if self.price is None or not lines.responses:
            return None
        prompt = round(lines.prompt_tokens / lines.responses)
        return self.price.cost(prompt, round(lines.completion_tokens / lines.responses), prompt)

    def planned_usd(self, stage: Stage, transport: Transport = "live") -> float:
        """What the plan holds for one request of `stage`: its expected cost with MARGIN."""
        return self.expected_usd(stage, transport) * MARGIN

    def stats(self) -> dict[str, Any]:
        """Per stage and transport: responses, expected USD per request, cached share."""
        out: dict[str, Any] = {}
        for (stage, transport), m in self._measured.items():
            if m.responses or transport == "live":
                out.setdefault(stage, {})[transport] = {
                    "responses": m.responses,
                    "usd_per_request": round(self.expected_usd(stage, transport), 9),
                    "cached_share": round(m.cached_share, 3),
                }
        return out



def prior_usd(price: Price, prompt: str, max_tokens: int) -> float:
    """A prior for a request of this prompt: its tokens estimated at chars/4, none cached,
    and max_tokens of completion."""
    return price.cost(estimate_tokens(prompt), max_tokens)


@dataclass(frozen=True, slots=True)
class Choice:
    """Which transport a stage's next request takes, and why."""

    via: Transport
    why: str
    live_usd: float | None = None  # expected per request, when both are measured
    batch_usd: float | None = None


def choose_transport(costs: CostModel, stage: Stage, *, batch_probes: int,
                     forced: bool = False) -> Choice:
    """Live or batch for a request of `stage`, by expected cost per request (`--batch`).

    Forced (`--batch-stages all`): batch. Otherwise each transport is measured first: the
    first BATCH_PROBES requests of a stage go through a batch (`batch_probes`: how many
    already did) and the others live until both means are known, so that the cached share
    each transport actually gets decides, not the discount alone (the batch client makes the
    others wait for the probes: in batch mode a request waits for a batch anyway). Then the
    cheaper one, by the median of its recent costs per request. Batch lines that cost less
    than a live request could even with its whole prompt cached (`live_floor_usd`: a provider
    that caches batch lines) decide for batch at once: live is not measured, and the requests
    that would have gone live to measure it do not pay the live price."""
    if forced:
        return Choice("batch", "forced (--batch-stages all)")
    if not costs.known(stage, "batch") and batch_probes < BATCH_PROBES:
        return Choice("batch", "measuring the batch cost")
    if costs.known(stage, "batch") and not costs.known(stage, "live"):
        floor = costs.live_floor_usd(stage)
        batch_usd = costs.measured(stage, "batch").typical_usd()
        if floor is not None and batch_usd < floor:
            return Choice("batch", "cheaper per request than live with its whole prompt cached",
                          floor, batch_usd)
    if not (costs.known(stage, "live") and costs.known(stage, "batch")):
        return Choice("live", "measuring the live cost" if costs.known(stage, "batch")
                      else WAITING)
    live = costs.measured(stage, "live").typical_usd()
    batch = costs.measured(stage, "batch").typical_usd()
    if batch < live:
        return Choice("batch", "cheaper per request", live, batch)
    return Choice("live", "cheaper per request (the prompt cache serves live requests)"
                  if costs.measured(stage, "live").cached_share
                  > costs.measured(stage, "batch").cached_share else "cheaper per request",
                  live, batch)
