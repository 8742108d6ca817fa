"""The fold of events.jsonl that report reads (EventTally), and its state kept in summary.json.

Every figure of `asyncgen report` but Table 1 comes from this one pass over the events (or from
the state the checkpointer saved of it, plus the lines after)."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import CodeType
from typing import Any

from asyncgen.observe import events
from asyncgen.observe.cache_usage import CacheUsage
from asyncgen.rundir.layout import EVENTS_FILE
from asyncgen.rundir.summary import Folded, fold_file, read_summary

# funnel step a rejected candidate did not reach; reasons not listed are counted, not placed
PERCENTILES = (50, 95, 99)
FUNNEL_STEPS = ("candidates_parsed", "admitted", "classified", "with_instances", "committed")
REJECTION_STEP: Mapping[str, str] = {
    "similar": "admitted",
    "duplicate": "admitted",
    "keyword": "admitted",
    "length": "admitted",
    "bad_start": "admitted",
    "truncated": "admitted",
    "classify_failed": "classified",
    "no_instances": "with_instances",
    "item_error": "with_instances",  # unless the event says stage "classify"
}


NANO = 1_000_000_000  # costs are summed in integer nano-dollars


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, linear between closest ranks (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Latencies:
    """Latencies of one stage as counts per value: events carry them rounded (0.1 ms), so the
    state stays as small as the distinct values while the percentiles stay exact."""

    __slots__ = ("counts",)

    def __init__(self, counts: Iterable[tuple[float, int]] = ()) -> None:
        self.counts: Counter[float] = Counter(dict(counts))

    def __len__(self) -> int:
        return self.counts.total()

    def add(self, value: float) -> None:
        self.counts[value] += 1

    def merged(self, other: Latencies) -> Latencies:
        both = Latencies()
        both.counts = self.counts + other.counts
        return both

    def percentile(self, q: float) -> float | None:
        """`percentile` of the values these counts stand for."""
        n = len(self)
        if not n:
            return None
        rank = (n - 1) * q / 100
        low = math.floor(rank)
        high = min(low + 1, n - 1)
        ordered = sorted(self.counts.items())
        values: list[float] = []
        seen = 0
        for value, count in ordered:  # the values at sorted positions `low` and `high`
            while len(values) < 2 and (low if not values else high) < seen + count:
                values.append(value)
            seen += count
            if len(values) == 2:
                break
        return values[0] + (values[1] - values[0]) * (rank - low)


def _parse_time(value: Any) -> datetime | None:
    """An event timestamp; one without a zone is UTC (the events contract)."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _number(value: Any) -> float:
    """A numeric event field, 0 when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


class _Run:
    """One run segment of events.jsonl: from a run.started to the next."""

    __slots__ = ("run_id", "started_at", "last_at", "reason", "elapsed_s", "finished",
                 "committed", "requests", "cost_nano_usd", "endpoints")

    def __init__(self, run_id: str | None, started_at: datetime | None) -> None:
        self.run_id = run_id
        self.started_at = started_at
        self.last_at = started_at
        self.reason: str | None = None
        self.elapsed_s: float | None = None
        self.finished = False
        self.committed = 0
        self.requests = 0
        self.cost_nano_usd = 0
        self.endpoints: dict[str, Any] | None = None  # a pool's figures, from run.finished

    def as_dict(self) -> dict[str, Any]:
        """The run as reported; elapsed falls back to event timestamps if it never finished."""
        elapsed = self.elapsed_s
        if elapsed is None and self.started_at and self.last_at:
            elapsed = (self.last_at - self.started_at).total_seconds()
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished": self.finished,
            "reason": self.reason,
            "elapsed_s": elapsed,
            "committed": self.committed,
            "requests": self.requests,
            "cost_usd": self.cost_nano_usd / NANO,
            "endpoints": self.endpoints,
        }


class EventTally:
    """Counts over a stream of events, in one pass (events.jsonl can be large)."""

    __slots__ = ("events", "runs", "parsed", "admitted", "committed", "rejected", "lost",
                 "usage", "latency", "retries", "failed", "failed_final", "unparseable",
                 "billed_nano_usd", "cache", "via", "formats", "chat_answers", "by_model",
                 "stage_via", "transports")

    def __init__(self) -> None:
        self.events = 0
        self.runs: list[_Run] = []
        self.parsed = 0
        self.admitted = 0
        self.committed = 0
        self.rejected: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()  # funnel step -> rejections that stopped there
        self.usage: dict[str, Counter[str]] = {}  # stage -> requests, tokens
        self.latency: dict[str, Latencies] = {}
        self.retries: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failed_final: Counter[str] = Counter()
        self.unparseable = 0
        self.billed_nano_usd = 0  # every request event's cost: retries and failures included
        self.cache = CacheUsage()  # every billed request event, retries and failures included
        self.via: dict[str, Counter[str]] = {}  # "batch" (has a batch_id) or "live" -> usage
        self.formats: Counter[str] = Counter()  # list format of each generation answer
        self.chat_answers = 0  # generation answers with a chat preamble or remark dropped
        self.by_model: dict[str, dict[str, Counter[str]]] = {}  # model -> stage -> usage
        self.stage_via: dict[str, dict[str, Counter[str]]] = {}  # stage -> live/batch -> usage
        # stage -> its transport as the last run.finished gave it (`--batch`: via, why, ...)
        self.transports: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return (f"<EventTally events={self.events} runs={len(self.runs)} "
                f"parsed={self.parsed} committed={self.committed}>")

    def _run(self, at: datetime | None) -> _Run:
        """The current run segment (an anonymous one if events precede any run.started).

        Events after a run.finished stay with that run: only run.started begins a new one.
        """
        if not self.runs:
            self.runs.append(_Run(None, at))
        run = self.runs[-1]
        if at is not None:
            run.last_at = at
        return run

    def add(self, event: Mapping[str, Any]) -> None:
        """Fold one event into the counts."""
        self.events += 1
        name = event.get("event")
        at = _parse_time(event.get("timestamp"))
        if name == events.RUN_STARTED:
            run_id = event.get("run_id")
            self.runs.append(_Run(run_id if isinstance(run_id, str) else None, at))
            return
        run = self._run(at)
        if isinstance(name, str) and name.startswith("request."):
            self.billed_nano_usd += round(_number(event.get("cost_usd")) * NANO)
            self.cache.add(event)
        stage = str(event.get("stage") or "unknown")
        kind = str(event.get("error_kind") or "unknown")
        if name == events.RUN_FINISHED:
            run.finished = True
            run.reason = str(event.get("reason")) if event.get("reason") is not None else None
            if "elapsed_s" in event:
                run.elapsed_s = _number(event.get("elapsed_s"))
            limiter = event.get("limiter")
            pool = limiter.get("endpoints") if isinstance(limiter, dict) else None
            if isinstance(pool, dict):
                run.endpoints = {str(name): dict(figures) for name, figures in pool.items()
                                 if isinstance(figures, dict)}
            batches = event.get("batches")
            chosen = batches.get("transports") if isinstance(batches, dict) else None
            if isinstance(chosen, dict):
                self.transports = {str(stage): dict(row) for stage, row in chosen.items()
                                   if isinstance(row, dict)}
        elif name == events.REQUEST_COMPLETED:
            usage = self.usage.setdefault(stage, Counter())
            usage["requests"] += 1
            usage["prompt_tokens"] += int(_number(event.get("prompt_tokens")))
            usage["completion_tokens"] += int(_number(event.get("completion_tokens")))
            cost = round(_number(event.get("cost_usd")) * NANO)  # integers: sums are exact
            usage["cost_nano_usd"] += cost
            self.latency.setdefault(stage, Latencies()).add(_number(event.get("latency_ms")))
            transport = "batch" if event.get("batch_id") else "live"
            via = self.via.setdefault(transport, Counter())
            via["requests"] += 1
            via["cost_nano_usd"] += cost
            on = self.stage_via.setdefault(stage, {}).setdefault(transport, Counter())
            on["requests"] += 1
            on["cost_nano_usd"] += cost
            model = str(event.get("model") or "unknown")
            of_model = self.by_model.setdefault(model, {}).setdefault(stage, Counter())
            of_model["requests"] += 1
            of_model["prompt_tokens"] += int(_number(event.get("prompt_tokens")))
            of_model["completion_tokens"] += int(_number(event.get("completion_tokens")))
            of_model["cost_nano_usd"] += cost
            run.requests += 1
            run.cost_nano_usd += cost
        elif name == events.REQUEST_RETRY:
            self.retries[kind] += 1
        elif name == events.REQUEST_FAILED:
            self.failed[kind] += 1
            if event.get("final"):
                self.failed_final[kind] += 1
        elif name == events.CANDIDATES_PARSED:
            self.parsed += int(_number(event.get("count")))
            if isinstance(event.get("format"), str):  # events written since the chat formats
                self.formats[event["format"]] += 1
                self.chat_answers += event.get("chat") is True
        elif name == events.TASK_ADMITTED:
            self.admitted += 1
        elif name == events.TASK_COMMITTED:
            self.committed += 1
            run.committed += 1
        elif name == events.TASK_REJECTED:
            reason = str(event.get("reason") or "unknown")
            count = int(_number(event.get("count")) or 1)  # lean: unpaid ones counted per reason
            self.rejected[reason] += count
            step = REJECTION_STEP.get(reason)
            if reason == "item_error" and event.get("stage") == "classify":
                step = "classified"
            if step is not None:
                self.lost[step] += count
        elif name == events.CLASSIFY_UNPARSEABLE:
            self.unparseable += 1


def _layout() -> list[Any]:
    """What a summarised tally depends on: its fields and the code that folds events into them
    (any change to `EventTally.add` or `CacheUsage.add` makes older summaries foreign)."""
    code = hashlib.sha256()
    for function in (EventTally.add, CacheUsage.add):
        _hash_code(code, function.__code__)
    return [1, list(EventTally.__slots__), list(_Run.__slots__), code.hexdigest()[:16]]


def _hash_code(digest: Any, code: CodeType) -> None:
    """Hash a function's bytecode, names and constants (nested code too), not where it is."""
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _hash_code(digest, const)
        else:
            digest.update(repr(const).encode())


TALLY_LAYOUT = _layout()  # a summary written with another layout is ignored


def _encode(value: Any) -> Any:
    """A tally value as JSON, tagged where JSON alone would lose its type."""
    if isinstance(value, Counter):
        return {"$counter": dict(value)}  # insertion order kept: most_common breaks ties by it
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, _Run):
        return {"$run": {name: _encode(getattr(value, name)) for name in _Run.__slots__}}
    if isinstance(value, CacheUsage):
        return {"$cache": value.by_stage}
    if isinstance(value, Latencies):
        return _latency_state(value)
    if isinstance(value, dict):
        return {"$dict": {key: _encode(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot summarise a {type(value).__name__}")


def _latency_state(latencies: Latencies) -> dict[str, Any]:
    """Latencies in whole tenths of a ms (as events round them): each value as its step from
    the one before, then its count, in one flat list (`$tenths`, a third of the bytes of
    [value, count] pairs: a loaded run's latencies took a third of summary.json); [value,
    count] pairs (`$latency`) when a value is not a whole tenth."""
    items = sorted(latencies.counts.items())
    tenths = [round(value * 10) for value, _ in items]
    if any(tenth / 10 != value for tenth, (value, _) in zip(tenths, items, strict=True)):
        return {"$latency": items}
    flat: list[int] = []
    previous = 0
    for tenth, (_, count) in zip(tenths, items, strict=True):
        flat += (tenth - previous, count)
        previous = tenth
    return {"$tenths": flat}


def _tenths(steps: Iterable[int]) -> Iterator[float]:
    total = 0
    for step in steps:
        total += int(step)
        yield total / 10


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$counter":
        return Counter(inner)
    if tag == "$time":
        return datetime.fromisoformat(inner)
    if tag == "$run":
        run = _Run(None, None)
        for name in _Run.__slots__:
            setattr(run, name, _decode(inner[name]))
        return run
    if tag == "$cache":
        cache = CacheUsage()
        cache.by_stage = {str(k): [int(n) for n in row] for k, row in inner.items()}
        return cache
    if tag == "$latency":
        return Latencies((float(v), int(n)) for v, n in inner)
    if tag == "$tenths":
        return Latencies(zip(_tenths(inner[::2]), map(int, inner[1::2]), strict=True))
    if tag == "$dict":
        return {key: _decode(item) for key, item in inner.items()}
    raise ValueError(f"not a tally value: {tag!r}")


def tally_state(tally: EventTally) -> dict[str, Any]:
    """The fold, for the summary."""
    return {"layout": TALLY_LAYOUT,
            "tally": {name: _encode(getattr(tally, name)) for name in EventTally.__slots__}}


def tally_from_state(state: Mapping[str, Any]) -> EventTally:
    """The fold a summary holds; ValueError when another layout wrote it."""
    if state["layout"] != TALLY_LAYOUT:
        raise ValueError("another tally layout")
    tally = EventTally()
    for name in EventTally.__slots__:
        setattr(tally, name, _decode(state["tally"][name]))
    return tally


def fold_event(tally: EventTally, event: dict[str, Any], where: str) -> None:
    """Fold one decoded line of events.jsonl (`asyncgen.rundir.summary.fold_file`'s `add`)."""
    tally.add(event)


def fold_events(directory: Path,
                summary: Mapping[str, Any] | None = None) -> Folded[EventTally]:
    """events.jsonl folded, from the directory's summary and the lines after it."""
    part = (read_summary(directory) if summary is None else summary).get("events")
    return fold_file(directory / EVENTS_FILE, part, EventTally, tally_from_state, fold_event)
