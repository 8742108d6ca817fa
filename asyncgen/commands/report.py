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
import importlib
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from asyncgen.commands.report_text import (
    render_text,
)
from asyncgen.errors import UsageError
from asyncgen.llm.params import STAGES
from asyncgen.novelty.pool import Task
from asyncgen.rundir import fields, layout, spend
from asyncgen.rundir.layout import EVENTS_FILE, SPEND_FILE, TASKS_FILE
from asyncgen.rundir.summary import fold_tasks, read_summary
from asyncgen.rundir.tally import (
    FUNNEL_STEPS,
    NANO,
    PERCENTILES,
    EventTally,
    Latencies,
    fold_events,
    percentile,
)
from asyncgen.rundir.tasks import load_tasks, output_dir

MATPLOTLIB_MISSING = "matplotlib is not installed; pip install 'asyncgen[plots]'"


# ---------------------------------------------------------------- pure figures


def word_count(text: str) -> int:
    """Length in words, as in the paper's Table 1 (whitespace tokens)."""
    return len(text.split())


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


# --- the fold as a part of OUT/summary.json (asyncgen.rundir.summary) ---------------------


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
    return {"by_stage": rows, "total": _usage_row(total), "via": via, "by_model": by_model,
            "transports": transports(tally)}


def transports(tally: EventTally) -> dict[str, Any]:
    """`--batch`: per stage, the transport its requests took at the end of the last run and
    why (its run.finished), and the measured cost per request on each transport over every
    run (request.completed); empty when no request went through a batch."""
    if "batch" not in tally.via:
        return {}
    out: dict[str, Any] = {}
    for stage in _stage_order(set(tally.stage_via) | set(tally.transports)):
        chosen = tally.transports.get(stage, {})
        row: dict[str, Any] = {"via": chosen.get("via"), "why": chosen.get("why")}
        for name in ("live", "batch"):
            usage = tally.stage_via.get(stage, {}).get(name, Counter())
            row[f"{name}_requests"] = usage["requests"]
            row[f"{name}_usd_per_request"] = (usage["cost_nano_usd"] / NANO / usage["requests"]
                                              if usage["requests"] else None)
        out[stage] = row
    return out


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
