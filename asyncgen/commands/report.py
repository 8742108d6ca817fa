"""`asyncgen report DIR`: what a run produced, what it cost, and where candidates were lost.

Sections: the paper's Table 1 (from tasks.jsonl); the funnel, requests/tokens/cost, latency
percentiles, errors and runs (from events.jsonl, all runs appended to it by resume). The numbers
come from pure functions over tasks and event dicts (`build_report`, `render_text`); `main`
only reads files and prints. `--plots` draws the paper's Figures 4 and 5 (matplotlib extra);
`--html` writes the same report as one self-contained page (asyncgen.commands.report_html).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import CodeType
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.llm.params import STAGES
from asyncgen.novelty.pool import Task
from asyncgen.observe import events
from asyncgen.observe.cache_usage import CacheUsage
from asyncgen.rundir import fields, layout, spend
from asyncgen.rundir.layout import EVENTS_FILE, SPEND_FILE, TASKS_FILE
from asyncgen.rundir.summary import Folded, fold_file, fold_tasks, read_summary
from asyncgen.rundir.tasks import load_tasks, output_dir

PERCENTILES = (50, 95, 99)
FUNNEL_STEPS = ("candidates_parsed", "admitted", "classified", "with_instances", "committed")
# funnel step a rejected candidate did not reach; reasons not listed are counted, not placed
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
MATPLOTLIB_MISSING = "matplotlib is not installed; pip install 'asyncgen[plots]'"


# ---------------------------------------------------------------- pure figures


def word_count(text: str) -> int:
    """Length in words, as in the paper's Table 1 (whitespace tokens)."""
    return len(text.split())


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


def _mean(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


def table1(tasks: Sequence[Task]) -> dict[str, Any]:
    """The paper's Table 1: counts and average lengths (in words) of the generated data."""
    lengths = length_distributions(tasks)
    instances = len(lengths["output"])
    clf = sum(1 for task in tasks if task.is_classification)
    return {
        "instructions": len(tasks),
        "classification_instructions": clf,
        "non_classification_instructions": len(tasks) - clf,
        "instances": instances,
        "instances_with_empty_input": instances - len(lengths["input"]),
        "avg_instruction_words": _mean(lengths["instruction"]),
        "avg_nonempty_input_words": _mean(lengths["input"]),
        "avg_output_words": _mean(lengths["output"]),
    }


def similarity_scores(tasks: Sequence[Task]) -> list[float]:
    """Figure 4: each task's ROUGE-L to its most similar seed instruction (`most_similar_seed`);
    tasks written before that field existed are left out."""
    return [max(task.most_similar_seed.values()) for task in tasks if task.most_similar_seed]


def length_distributions(tasks: Sequence[Task]) -> dict[str, list[int]]:
    """Figure 5: word counts of instructions, non-empty inputs and outputs."""
    instances = [inst for task in tasks for inst in task.instances]
    return {
        "instruction": [word_count(t.instruction) for t in tasks],
        "input": [word_count(i.input) for i in instances if i.input.strip()],
        "output": [word_count(i.output) for i in instances],
    }


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
                 "billed_nano_usd", "cache", "via", "formats", "chat_answers", "by_model")

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
        elif name == events.REQUEST_COMPLETED:
            usage = self.usage.setdefault(stage, Counter())
            usage["requests"] += 1
            usage["prompt_tokens"] += int(_number(event.get("prompt_tokens")))
            usage["completion_tokens"] += int(_number(event.get("completion_tokens")))
            cost = round(_number(event.get("cost_usd")) * NANO)  # integers: sums are exact
            usage["cost_nano_usd"] += cost
            self.latency.setdefault(stage, Latencies()).add(_number(event.get("latency_ms")))
            via = self.via.setdefault("batch" if event.get("batch_id") else "live", Counter())
            via["requests"] += 1
            via["cost_nano_usd"] += cost
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
            self.rejected[reason] += 1
            step = REJECTION_STEP.get(reason)
            if reason == "item_error" and event.get("stage") == "classify":
                step = "classified"
            if step is not None:
                self.lost[step] += 1
        elif name == events.CLASSIFY_UNPARSEABLE:
            self.unparseable += 1


# --- the fold as a part of OUT/summary.json (asyncgen.rundir.summary) ---------------------

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
        return {"$latency": sorted(value.counts.items())}
    if isinstance(value, dict):
        return {"$dict": {key: _encode(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot summarise a {type(value).__name__}")


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


def _stage_order(stages: Iterable[str]) -> list[str]:
    known = [s for s in STAGES if s in stages]
    return known + sorted(set(stages) - set(known))


def funnel(tally: EventTally) -> dict[str, Any]:
    """Candidates through the steps; classified and with_instances are derived from rejections."""
    classified = tally.admitted - tally.lost["classified"]
    with_instances = classified - tally.lost["with_instances"]
    return {
        "candidates_parsed": tally.parsed,
        "admitted": tally.admitted,
        "classified": classified,
        "with_instances": with_instances,
        "committed": tally.committed,
        "in_flight_at_stop": with_instances - tally.committed,
        "acceptance_rate": tally.committed / tally.parsed if tally.parsed else None,
        "rejected_total": sum(tally.rejected.values()),
        "rejected": dict(tally.rejected.most_common()),
        "rejected_at_step": {step: tally.lost[step] for step in FUNNEL_STEPS[1:4]},
    }


def answer_formats(tally: EventTally) -> dict[str, Any]:
    """The list formats the model wrote its generation answers in (selfinstruct.chatlist), most
    frequent first, and how many answers held a chat preamble or closing remark."""
    answers = sum(tally.formats.values())
    return {
        "answers": answers,
        "by_format": {name: {"answers": count, "share": count / answers}
                      for name, count in tally.formats.most_common()},
        "with_chat_remarks": tally.chat_answers,
        "chat_share": tally.chat_answers / answers if answers else None,
    }


def requests_by_stage(tally: EventTally) -> dict[str, Any]:
    """Requests, tokens and cost (from request.completed) per stage, and the total."""
    rows: dict[str, dict[str, Any]] = {}
    total: Counter[str] = Counter()
    for stage in _stage_order(tally.usage):
        usage = tally.usage[stage]
        total.update(usage)
        rows[stage] = _usage_row(usage)
    via = {name: {"requests": tally.via[name]["requests"],
                  "cost_usd": tally.via[name]["cost_nano_usd"] / NANO}
           for name in ("batch", "live") if name in tally.via}
    by_model = {model: {stage: _usage_row(tally.by_model[model][stage])
                        for stage in _stage_order(tally.by_model[model])}
                for model in sorted(tally.by_model)}
    return {"by_stage": rows, "total": _usage_row(total), "via": via, "by_model": by_model}


def _usage_row(usage: Counter[str]) -> dict[str, Any]:
    return {
        "requests": usage["requests"],
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "cost_usd": usage["cost_nano_usd"] / NANO,
    }


def prompt_cache(tally: EventTally) -> dict[str, Any]:
    """Prompt tokens, cached prompt tokens, their share and the USD saved, per stage and in
    total (every billed request event)."""
    cache = tally.cache
    stages = _stage_order(cache.by_stage)
    return {
        "by_stage": {stage: cache.totals([stage]) for stage in stages},
        "total": cache.totals(),
    }


def latency_by_stage(tally: EventTally) -> dict[str, Any]:
    """p50/p95/p99 of latency_ms per stage and over all stages."""
    groups = {stage: tally.latency[stage] for stage in _stage_order(tally.latency)}
    groups["all"] = functools.reduce(Latencies.merged, tally.latency.values(), Latencies())
    return {
        stage: {"count": len(values), **{f"p{q}": values.percentile(q) for q in PERCENTILES}}
        for stage, values in groups.items()
    }


def errors_by_kind(tally: EventTally) -> dict[str, Any]:
    """Retries and failures per error kind, most frequent first."""
    kinds = sorted(set(tally.retries) | set(tally.failed),
                   key=lambda k: (-(tally.retries[k] + tally.failed[k]), k))
    return {
        "by_kind": {
            k: {"retries": tally.retries[k], "failed": tally.failed[k],
                "failed_final": tally.failed_final[k]}
            for k in kinds
        },
        "retries": sum(tally.retries.values()),
        "failed": sum(tally.failed.values()),
        "classify_unparseable": tally.unparseable,
    }


def build_report(
    tasks: Sequence[Task], events: Iterable[Mapping[str, Any]], *, notes: Sequence[str] = (),
    spend_usd: float | None = None,
) -> dict[str, Any]:
    """The whole report as one JSON-ready dict; `notes` are carried into `warnings`.

    `spend_usd` is the spend journal's figure (all runs, held money of killed runs counted);
    without a journal the cost is the sum over every request event (retries and failures
    included), which misses attempts whose cost was never known."""
    tally = EventTally()
    for event in events:
        tally.add(event)
    return assemble(table1(tasks), tally, notes=notes, spend_usd=spend_usd,
                    fields_missing=sum(not task.scored for task in tasks))


def assemble(t1: Mapping[str, Any], tally: EventTally, *, notes: Sequence[str] = (),
             spend_usd: float | None = None, fields_missing: int = 0) -> dict[str, Any]:
    """The report from Table 1 and the events' fold (`build_report`, or `main` from folds);
    `fields_missing`: tasks without their similarity fields (asyncgen.rundir.fields)."""
    count = t1["instructions"]
    runs = [run.as_dict() for run in tally.runs]
    requests = requests_by_stage(tally)
    warnings = list(notes)
    if tally.events and tally.committed != count:
        warnings.append(f"{tally.committed} task.committed events but {count} tasks "
                        "in tasks.jsonl")
    if spend_usd is None:
        cost, source = tally.billed_nano_usd / NANO, "events"
    else:
        cost, source = spend_usd, SPEND_FILE
    return {
        "runs": {
            "count": len(runs),
            "elapsed_s": sum((r["elapsed_s"] or 0.0 for r in runs), 0.0),
            "list": runs,
        },
        "table1": dict(t1),
        "fields_missing": fields_missing,
        "funnel": funnel(tally),
        "answer_formats": answer_formats(tally),
        "requests": requests,
        "cost_usd": cost,
        "cost_source": source,
        "cost_per_instruction_usd": cost / count if count else None,
        "prompt_cache": prompt_cache(tally),
        "latency_ms": latency_by_stage(tally),
        "errors": errors_by_kind(tally),
        "warnings": warnings,
    }


# ---------------------------------------------------------------- text rendering


def _table(rows: Sequence[Sequence[str]], *, left: int = 1) -> list[str]:
    """Aligned columns, two-space indent; the first `left` columns left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if i < left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _float(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def _usd(value: Any, digits: int = 4) -> str:
    return f"${value:,.{digits}f}" if isinstance(value, int | float) else "-"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _runs_lines(runs: Mapping[str, Any]) -> list[str]:
    rows = [["#", "run_id", "started", "stop reason", "elapsed_s", "committed", "requests",
             "cost"]]
    for number, run in enumerate(runs["list"], start=1):
        reason = run["reason"] if run["finished"] else "(no run.finished)"
        rows.append([str(number), run["run_id"] or "-", run["started_at"] or "-", str(reason),
                     _float(run["elapsed_s"]), _int(run["committed"]), _int(run["requests"]),
                     _usd(run["cost_usd"])])
    head = f"Runs: {runs['count']}, {_float(runs['elapsed_s'])} s in total"
    lines = [head, *(_table(rows, left=4) if runs["list"] else [])]
    for number, run in enumerate(runs["list"], start=1):
        if run.get("endpoints"):
            table = [["endpoint", "requests", "429s", "failures", "latency_s", "cost",
                      "rpm limit", "taken out"]]
            table += [[name, _int(e.get("requests") or 0), _int(e.get("429s") or 0),
                       _int(e.get("failures") or 0), _float(e.get("latency_s"), 2),
                       _usd(e.get("cost_usd") or 0.0), _float(e.get("rpm_limit")),
                       _int(e.get("taken_out") or 0)]
                      for name, e in run["endpoints"].items()]
            lines += [f"  run {number}, endpoints:", *_table(table)]
    return lines


def _table1_lines(t1: Mapping[str, Any]) -> list[str]:
    rows = [
        ["# of instructions", _int(t1["instructions"])],
        ["  - # of classification instructions", _int(t1["classification_instructions"])],
        ["  - # of non-classification instructions",
         _int(t1["non_classification_instructions"])],
        ["# of instances", _int(t1["instances"])],
        ["  - # of instances with empty input", _int(t1["instances_with_empty_input"])],
        ["ave. instruction length (in words)", _float(t1["avg_instruction_words"])],
        ["ave. non-empty input length (in words)", _float(t1["avg_nonempty_input_words"])],
        ["ave. output length (in words)", _float(t1["avg_output_words"])],
    ]
    return ["Table 1: statistics of the generated data (tasks.jsonl)", *_table(rows)]


def _funnel_lines(f: Mapping[str, Any]) -> list[str]:
    rows = [["step", "count", "of parsed", "rejected before"]]
    parsed = f["candidates_parsed"]
    for step in FUNNEL_STEPS:
        lost = f["rejected_at_step"].get(step)
        rows.append([step.replace("_", " "), _int(f[step]), _pct(f[step], parsed),
                     _int(lost) if lost is not None else ""])
    lines = ["Funnel (events.jsonl)", *_table(rows)]
    lines.append(f"  in flight when the run stopped: {_int(f['in_flight_at_stop'])}")
    if f["rejected"]:
        reasons = [["rejection reason", "count", "share"]]
        reasons += [[r, _int(n), _pct(n, f["rejected_total"])] for r, n in f["rejected"].items()]
        lines += ["", *_table(reasons)]
    return lines


def _formats_lines(formats: Mapping[str, Any]) -> list[str]:
    rows = [["list format", "answers", "share"]]
    rows += [[name, _int(row["answers"]), _pct(row["answers"], formats["answers"])]
             for name, row in formats["by_format"].items()]
    return ["Generation answers by list format (candidate.parsed)", *_table(rows),
            f"  with a chat preamble or closing remark: {_int(formats['with_chat_remarks'])} "
            f"({_pct(formats['with_chat_remarks'], formats['answers'])})"]


def _requests_lines(report: Mapping[str, Any]) -> list[str]:
    req = report["requests"]
    rows = [["stage", "requests", "prompt tokens", "completion tokens", "cost"]]
    for stage, row in [*req["by_stage"].items(), ("total", req["total"])]:
        rows.append([stage, _int(row["requests"]), _int(row["prompt_tokens"]),
                     _int(row["completion_tokens"]), _usd(row["cost_usd"])])
    per = _usd(report["cost_per_instruction_usd"], digits=6)
    total = _usd(report["cost_usd"], digits=6)
    spent = f"  spent, all runs: {total} (from {report['cost_source']})"
    via = [f"  {name}: {_int(row['requests'])} requests, {_usd(row['cost_usd'], digits=6)}"
           for name, row in req.get("via", {}).items()] if "batch" in req.get("via", {}) else []
    models = req.get("by_model", {})
    by_model = []
    if len(models) > 1:
        table = [["model", "stage", "requests", "cost"]]
        table += [[model, stage, _int(row["requests"]), _usd(row["cost_usd"])]
                  for model, stages in models.items() for stage, row in stages.items()]
        by_model = ["  by model:", *_table(table, left=2)]
    return ["Requests (request.completed)", *_table(rows), *via, *by_model, spent,
            f"  cost per instruction: {per}"]


def _cache_lines(cache: Mapping[str, Any]) -> list[str]:
    rows = [["stage", "prompt tokens", "cached", "share", "saved"]]
    for stage, row in [*cache["by_stage"].items(), ("total", cache["total"])]:
        rows.append([stage, _int(row["prompt_tokens"]), _int(row["cached_tokens"]),
                     _pct(row["cached_tokens"], row["prompt_tokens"]),
                     _usd(row["saved_usd"], digits=6)])
    return ["Prompt cache (prompt tokens served from the provider's cache)", *_table(rows)]


def _latency_lines(latency: Mapping[str, Any]) -> list[str]:
    rows = [["stage", "n", *(f"p{q} ms" for q in PERCENTILES)]]
    for stage, row in latency.items():
        rows.append([stage, _int(row["count"]), *(_float(row[f"p{q}"]) for q in PERCENTILES)])
    return ["Latency", *_table(rows)]


def _errors_lines(errors: Mapping[str, Any]) -> list[str]:
    lines = [f"Errors: {errors['retries']:,} retries, {errors['failed']:,} failed requests, "
             f"{errors['classify_unparseable']:,} unparseable classifications"]
    if errors["by_kind"]:
        rows = [["error kind", "retries", "failed", "final"]]
        rows += [[k, _int(v["retries"]), _int(v["failed"]), _int(v["failed_final"])]
                 for k, v in errors["by_kind"].items()]
        lines += _table(rows)
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    """The report as aligned plain-text tables, sections separated by blank lines."""
    header = f"asyncgen report: {report['dir']}" if "dir" in report else "asyncgen report"
    sections = [
        [header],
        _runs_lines(report["runs"]),
        _table1_lines(report["table1"]),
        _funnel_lines(report["funnel"]),
        *([_formats_lines(report["answer_formats"])] if report["answer_formats"]["answers"]
          else []),
        _requests_lines(report),
        _cache_lines(report["prompt_cache"]),
        _latency_lines(report["latency_ms"]),
        _errors_lines(report["errors"]),
    ]
    if report.get("plots"):
        sections.append(["Plots written", *(f"  {path}" for path in report["plots"])])
    if report.get("html"):
        sections.append(["HTML report written", f"  {report['html']}"])
    if report["warnings"]:
        sections.append(["Warnings", *(f"  - {w}" for w in report["warnings"])])
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


# ---------------------------------------------------------------- plots (optional extra)


def _figure_class() -> Any:
    """matplotlib's Figure (no pyplot, no global backend), or a UsageError if not installed."""
    try:
        importlib.import_module("matplotlib")
        return importlib.import_module("matplotlib.figure").Figure
    except ImportError as exc:
        raise UsageError(MATPLOTLIB_MISSING) from exc


def write_plots(tasks: Sequence[Task], directory: Path, figure: Any) -> list[Path]:
    """Figure 4 (ROUGE-L histogram) and Figure 5 (length histograms) as PNGs in `directory`."""
    fig4 = figure(figsize=(6, 4), layout="constrained")
    ax = fig4.subplots()
    ax.hist(similarity_scores(tasks), bins=[i / 20 for i in range(21)], edgecolor="white")
    ax.set_xlim(0, 1)
    ax.set_xlabel("ROUGE-L overlap with the most similar seed instruction")
    ax.set_ylabel("# instructions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("ROUGE-L between each generated instruction and its most similar seed",
                 fontsize=9)
    fig5 = figure(figsize=(12, 3.5), layout="constrained")
    labels = {"instruction": "instructions", "input": "non-empty inputs", "output": "outputs"}
    for ax, (key, values) in zip(fig5.subplots(1, 3), length_distributions(tasks).items(),
                                 strict=True):
        top = max(1, math.ceil(percentile(values, 99) or 1))  # clip the long tail into one bin
        ax.hist([min(v, top) for v in values], bins=range(0, top + 2), edgecolor="white")
        ax.set_xlabel(f"# of words (≥{top} in the last bin)")
        ax.set_ylabel(f"# {labels[key]}")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"{labels[key].capitalize()} (n={len(values):,})", fontsize=10)
    paths = [directory / "figure4_rouge.png", directory / "figure5_lengths.png"]
    for fig, path in zip((fig4, fig5), paths, strict=True):
        fig.savefig(path, dpi=120)
    return paths


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `asyncgen report`."""
    parser.add_argument("dir", metavar="DIR", type=Path, help="output directory of a run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plots", metavar="DIR", type=Path,
                        help="write Figure 4/5-style PNGs here (needs asyncgen[plots])")
    parser.add_argument("--html", metavar="FILE", type=Path,
                        help="also write the report as one self-contained HTML page (charts "
                        "inline, nothing fetched)")


def main(args: argparse.Namespace) -> int:
    """Read DIR, print the report; exit code 0 (UsageError for bad input)."""
    figure = _figure_class() if args.plots is not None else None
    if args.plots is not None and args.plots.exists() and not args.plots.is_dir():
        raise UsageError(f"--plots {args.plots}: not a directory")
    page: Path | None = getattr(args, "html", None)
    if page is not None and not page.parent.is_dir():
        raise UsageError(f"--html {page}: directory {page.parent} does not exist")
    if page is not None and page.is_dir():
        raise UsageError(f"--html {page}: is a directory")
    output_dir(args.dir)
    before = read_summary(args.dir)
    tasks: list[Task] = []
    if figure is not None or page is not None:  # the figures need every task (fields joined)
        tasks, notes = load_tasks(args.dir)
        t1 = table1(tasks)
        unscored = sum(not task.scored for task in tasks)
    else:
        folded = fold_tasks(args.dir, before, instructions=False)  # Table 1's counts only
        t1 = folded.fold.table1()
        torn_task = folded.torn_note(args.dir / TASKS_FILE)
        unscored = fields.count_missing(args.dir)
        notes = [note for note in (torn_task, fields.missing_note(unscored, args.dir)) if note]
    recovered = spend.recover(args.dir / layout.SPEND_FILE)
    spend_usd = recovered.figure_usd if recovered.journaled else None
    if not (args.dir / EVENTS_FILE).exists():
        notes.append(f"{args.dir / EVENTS_FILE}: not found; funnel, requests, latency "
                     "and errors are empty")
        report = assemble(t1, EventTally(), notes=notes, spend_usd=spend_usd,
                          fields_missing=unscored)
    else:
        events = fold_events(args.dir, before)
        report = assemble(t1, events.fold, notes=notes, spend_usd=spend_usd,
                          fields_missing=unscored)
        if torn := events.torn_note(args.dir / EVENTS_FILE):
            report["warnings"].insert(0, torn)
    report = {"dir": str(args.dir), **report}
    if figure is not None:
        try:
            args.plots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--plots {args.plots}: cannot create ({exc.strerror})") from exc
        report["plots"] = [str(p) for p in write_plots(tasks, args.plots, figure)]
    if page is not None:
        from asyncgen.commands import (
            report_html,  # it builds on this module: imported when asked for
        )

        try:
            report_html.write_page(args.dir, report, tasks, page)
        except OSError as exc:
            raise UsageError(f"--html {page}: cannot write ({exc.strerror})") from exc
        report["html"] = str(page)
    if args.json:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    else:
        sys.stdout.write(render_text(report))
    return 0
