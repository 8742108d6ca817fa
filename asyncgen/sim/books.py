"""The simulator's own books: what it billed, independent of anything the client records.

A request is billed when the simulator generates its answer: after parsing, faults that
answer with an error status, the context check and the rate limits, before the latency wait.
From then on it is billed whatever happens next: answered, garbled (malformed, 200-error,
finish-error, empty-choices), held (hang), dropped (reset), or left by a client that timed
out, disconnected, was cancelled or killed. The one exception is OpenRouter's 200-error
fault: an error object with no usage, an upstream failure that is not charged. That is how
a hosted provider bills, and it is the figure asyncgen's own spend must never fall below.

`asyncgen sim --books PATH` appends one JSON line per billed request when the request ends
(the response is sent, the connection dropped, or the client gone), one write(2) per line:

    {"t": 1796083200.1, "id": "chatcmpl-sim7", "endpoint": "chat", "model": "sim-1",
     "prompt_tokens": 120, "cached_tokens": 0, "completion_tokens": 40, "cost_usd": 0.00012,
     "status": 200, "outcome": "answered", "kind": "classify", "prompt_digest": "9c1e…"}

A Batch API line is billed when it is answered, at the batch price, with endpoint
"batch:chat" (or "batch:completions") and its `batch_id`, `custom_id` and `body_digest`.
`status` is the HTTP status sent, 499 when the client left first, 0 when the simulator
dropped the connection itself. `outcome` is "answered", "client_gone" or "fault:<kind>"
(the injected fault, which wins over "client_gone": a hang's client always leaves).
`kind` is the Self-Instruct prompt the simulator recognised ("instructions", "classify",
"input_first", "output_first" or "other"): what a test counts stages by, independently;
`prompt_digest` (blake2b, 12 bytes, of the prompt's text): what a test finds a prompt billed
twice by.
`GET /sim/books` returns the running totals (`Books.totals`); `requests`, `billed_usd` and
the token counts include requests billed but not yet ended (`pending`), so they equal the sum
of the file's lines once `pending` is 0.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from asyncgen.jsonl import LineAppender
from asyncgen.sim.config import SimConfig

CLIENT_GONE = 499  # nginx's "client closed request"
DROPPED = 0  # no response: the simulator dropped the connection


def cost_usd(
    config: SimConfig, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> float:
    """What the simulator charges for these tokens (also reported as usage.cost): uncached
    prompt tokens at the input price, cached ones (part of prompt_tokens) at the cached
    price, completion tokens at the output price."""
    uncached = prompt_tokens - cached_tokens
    return round((uncached * config.price_in + cached_tokens * config.price_cached
                  + completion_tokens * config.price_out) / 1e6, 12)


@dataclass(slots=True)
class Bill:
    """One billed request, until it ends."""

    id: str
    endpoint: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached_tokens: int = 0
    closed: bool = False
    extra: dict[str, Any] | None = None  # more fields for its line (a batch line's ids)


class Books:
    """Billed requests: running totals, and a JSONL line per request when PATH is given.

    One owner (the server); single event loop, no locks.
    """

    __slots__ = ("_file", "_wall", "_totals", "_statuses", "_outcomes", "_pending")

    def __init__(self, path: Path | None = None, *, wall: Callable[[], float] = time.time) -> None:
        self._file = LineAppender(path) if path is not None else None
        self._wall = wall
        self._totals: dict[str, float] = dict.fromkeys(
            ("requests", "prompt_tokens", "cached_tokens", "completion_tokens"), 0
        )
        self._totals["billed_usd"] = 0.0
        self._statuses: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        self._pending = 0

    def __repr__(self) -> str:
        path = None if self._file is None else str(self._file.path)
        return (f"<Books path={path!r} requests={int(self._totals['requests'])} "
                f"billed=${self._totals['billed_usd']:.6f} pending={self._pending}>")

    def bill(self, bill: Bill) -> Bill:
        """Bill a request whose answer has just been generated."""
        totals = self._totals
        totals["requests"] += 1
        totals["prompt_tokens"] += bill.prompt_tokens
        totals["cached_tokens"] += bill.cached_tokens
        totals["completion_tokens"] += bill.completion_tokens
        totals["billed_usd"] += bill.cost_usd
        self._pending += 1
        return bill

    def close_bill(self, bill: Bill, status: int, outcome: str) -> None:
        """The request has ended: write its line (once)."""
        if bill.closed:
            return
        bill.closed = True
        self._pending -= 1
        self._statuses[str(status)] += 1
        self._outcomes[outcome] += 1
        if self._file is not None:
            line = {
                "t": round(self._wall(), 3), "id": bill.id, "endpoint": bill.endpoint,
                "model": bill.model, "prompt_tokens": bill.prompt_tokens,
                "cached_tokens": bill.cached_tokens,
                "completion_tokens": bill.completion_tokens, "cost_usd": bill.cost_usd,
                "status": status, "outcome": outcome,
            }
            if bill.extra:
                line.update(bill.extra)
            self._file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def totals(self) -> dict[str, Any]:
        """Running totals, for GET /sim/books."""
        out: dict[str, Any] = {k: int(v) for k, v in self._totals.items() if k != "billed_usd"}
        out["billed_usd"] = round(self._totals["billed_usd"], 12)
        out["pending"] = self._pending
        out["statuses"] = dict(self._statuses)
        out["outcomes"] = dict(self._outcomes)
        return out

    def close(self) -> None:
        """Flush the file to disk and close it."""
        if self._file is not None:
            self._file.close()


def read_books(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a books file (for tests and benchmarks)."""
    from asyncgen.jsonl import JsonlFile  # the one JSONL reader; not needed to serve

    for _, line in JsonlFile(path):
        yield line


def billed_usd(path: Path) -> float:
    """The sum of a books file's cost_usd."""
    return sum(float(line["cost_usd"]) for line in read_books(path))


def books_url(base_url: str) -> str:
    """GET /sim/books of a simulator whose base URL (ending in /v1) is given."""
    return base_url.removesuffix("/v1") + "/sim/books"


def fetch_totals(base_url: str, *, settled: bool = True, timeout_s: float = 10.0) -> dict[str, Any]:
    """The running totals of a simulator (synchronous, for tests and benchmarks); with
    `settled`, wait until no billed request is still open, so they equal the file's lines."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        with urllib.request.urlopen(books_url(base_url), timeout=timeout_s) as response:
            totals: dict[str, Any] = orjson.loads(response.read())
        if not settled or totals["pending"] == 0 or time.monotonic() > deadline:
            return totals
        time.sleep(0.02)
