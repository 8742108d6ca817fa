"""What a BatchClient tracks: its settings, the requests waiting for a batch, the batches in
flight, and the journal form of a line's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc

from asyncgen.batch.lines import LineResult
from asyncgen.llm.errors import (
    ProviderError,
    SendingStopped,
)
from asyncgen.llm.params import RequestParams, Stage
from asyncgen.llm.pricing import Price, Usage
from asyncgen.llm.wire import Completion

if TYPE_CHECKING:
    from asyncgen.llm.budget import Reservation

DEFAULT_DISCOUNT: dict[str, float] = {"openai": 0.5, "sim": 0.5, "openai-compatible": 0.5,
                                      "openrouter": 0.5}  # OpenRouter: "typically 50%"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    """How requests are gathered into batches, followed and retried."""

    size: int = 1000
    max_wait_s: float = 10.0
    poll_interval_s: float = 5.0
    discount: float = 0.5  # batch price = live price x (1 - discount)
    retry: Literal["batch", "live"] = "batch"
    attempts: int = 3  # batches a request may go through before it fails

    def __post_init__(self) -> None:
        if not 1 <= self.size <= 50_000:
            raise ValueError(f"batch size must be in 1..50000 (OpenAI's limit), got {self.size}")
        if not (self.max_wait_s >= 0 and self.poll_interval_s > 0):
            raise ValueError("batch max wait must be >= 0 and the poll interval > 0")
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f"batch discount must be in [0, 1), got {self.discount}")
        if self.retry not in ("batch", "live"):
            raise ValueError(f"batch retry must be 'batch' or 'live', got {self.retry!r}")
        if self.attempts < 1:
            raise ValueError("batch attempts must be >= 1")


def batch_price(price: Price, discount: float) -> Price:
    """The price of a batch line: the live price less the discount."""
    factor = 1.0 - discount
    return Price(price.input_per_m * factor, price.output_per_m * factor)


class _Request:
    """One request body, waiting for its answer from a batch (or live, on retry)."""

    __slots__ = ("stage", "prompt", "params", "key", "next_number", "attempts", "asked_at",
                 "queued_at", "done", "completion", "error", "orphan")

    def __init__(self, stage: Stage, key: str, prompt: str | None,
                 params: RequestParams | None, next_number: int | None, now: float) -> None:
        self.stage = stage
        self.prompt = prompt  # None for a line re-attached from the journal, until re-asked
        self.params = params
        self.key = key
        self.next_number = next_number
        self.attempts = 0
        self.asked_at = now
        self.queued_at = now
        self.done = anyio.Event()
        self.completion: Completion | None = None
        self.error: ProviderError | SendingStopped | None = None
        self.orphan = prompt is None  # nobody in this run waits for it (yet)


@dataclass(slots=True)
class _Flight:
    """One batch at the provider."""

    seq: str
    stage: Stage
    requests: dict[str, _Request]  # custom_id -> request
    reservation: Reservation | None
    batch_id: str = ""
    status: str = "validating"
    total: int = 0
    completed: int = 0
    failed: int = 0
    progress_since: float | None = None  # when it was first seen in progress
    started: float = 0.0


def _next_number(prompt: str) -> int | None:
    """The number a generation prompt ends on ("…\\n9."), which parsing needs."""
    last = prompt.rstrip().rpartition("\n")[2].strip().rstrip(".")
    return int(last) if last.isdigit() else None


def _record(result: LineResult) -> dict[str, Any]:
    """A line's outcome as the journal keeps it."""
    if result.error is None:
        usage = result.usage
        return {"t": result.text, "f": result.finish_reason,
                "p": usage.prompt_tokens if usage else 0,
                "c": usage.completion_tokens if usage else 0,
                "u": usage.cost_usd if usage else None}
    return {"e": result.error.kind, "s": result.error.status}


def _from_record(record: dict[str, Any]) -> LineResult | None:
    """A journaled answer (None for a journaled error: that body may be asked again)."""
    if "e" in record:
        return None
    cost = record.get("u")
    return LineResult(str(record.get("t", "")), str(record.get("f", "unknown")),
                      Usage(int(record.get("p", 0)), int(record.get("c", 0)),
                            float(cost) if cost is not None else None))


def settings_for(provider: str, *, size: int, max_wait_s: float, poll_interval_s: float,
                 discount: float | None, retry: str, attempts: int = 3) -> BatchSettings:
    """Settings with the provider's default discount unless one is given."""
    return BatchSettings(
        size=size, max_wait_s=max_wait_s, poll_interval_s=poll_interval_s,
        discount=DEFAULT_DISCOUNT.get(provider, 0.5) if discount is None else discount,
        retry="live" if retry == "live" else "batch", attempts=attempts,
    )
