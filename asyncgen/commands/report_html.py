"""`asyncgen report DIR --html FILE`: the report as one page to look at, opened from disk.

The page is self-contained and asks the network for nothing: inline CSS, charts drawn as
inline SVG by `commands.charts` (no script, no font, no image to fetch), so it works offline
and can be mailed. Its numbers are the ones `asyncgen report` prints (the dict of
`report.assemble`) and its figures the ones `--plots` draws (`report.similarity_scores`,
`report.length_distributions`); only the time series are new: committed tasks from each
task's `created_at`, spend from the `run.progress` and `run.finished` events (`EventScan`).
Every text from the data goes through `charts.esc` (HTML-escaped, "//" written with
entities, so no generated text reads as an address to a scanner either).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from asyncgen.commands import report, report_text
from asyncgen.commands.charts import bars, esc, histogram, line_chart
from asyncgen.errors import UsageError
from asyncgen.jsonl import atomic_write
from asyncgen.novelty.pool import Task
from asyncgen.observe import events
from asyncgen.rundir import tally
from asyncgen.rundir.layout import EVENTS_FILE
from asyncgen.rundir.record import read_record

SAMPLE_TASKS = 20
TEXT_LIMIT = 600  # characters of an instance's input or output shown in the sample
_TIMELINE_EVENTS = tuple(
    b'"' + name.encode() + b'"'
    for name in (events.RUN_PROGRESS, events.RUN_FINISHED, events.RUN_STARTED))

CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d2330;background:#f6f7f9}
main{max-width:980px;margin:0 auto;padding:12px}
h1{font-size:1.35em;margin:.4em 0}h2{font-size:1.1em;margin:0 0 .5em}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px;margin:12px 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;min-width:50%}
th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#f0f2f5}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px}
figure{margin:0}figcaption{font-size:.85em;color:#555;margin-top:4px}
svg{width:100%;max-width:640px;height:auto;display:block}
svg text{font:13px system-ui,sans-serif;fill:#333}
.muted{color:#666;font-size:.9em}
.task{border-top:1px solid #eceef2;padding:8px 0}
.task p{margin:.2em 0;white-space:pre-wrap;overflow-wrap:anywhere}
.tag{display:inline-block;font-size:.75em;background:#e8edf7;border-radius:4px;padding:0 5px}
@media (max-width:600px){body{font-size:14px}main{padding:6px}section{padding:8px}}
"""


# ---------------------------------------------------------------- the time series


def committed_over_time(tasks: Sequence[Task]) -> list[tuple[datetime, float]]:
    """Tasks committed so far at each task's `created_at` (tasks without one left out)."""
    times = sorted(t for t in (tally._parse_time(task.created_at) for task in tasks) if t)
    return [(at, float(n)) for n, at in enumerate(times, start=1)]


class EventScan:
    """What the page needs from events.jsonl beyond the report's fold, in one pass: the spend
    of all runs over time (`cost_usd_all_runs` of each run.progress and run.finished, a run's
    first point its run.started at the spend before it) and, when `per_model`, requests,
    tokens and cost per endpoint and model (request.completed). Other lines are not parsed."""

    __slots__ = ("spend", "models")

    def __init__(self) -> None:
        self.spend: list[tuple[datetime, float]] = []
        self.models: dict[str, Counter[str]] = {}

    def read(self, path: Path, *, endpoints: Mapping[str, str] | None = None) -> EventScan:
        """Fold `path`; `endpoints` (run_id -> endpoint) asks for the per-model figures."""
        wanted = _TIMELINE_EVENTS + ((b'"' + events.REQUEST_COMPLETED.encode() + b'"',)
                                     if endpoints is not None else ())
        endpoint = "-"
        with path.open("rb") as lines:
            for line in lines:
                if not any(name in line for name in wanted):
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a torn last line
                name = event.get("event")
                if name == events.REQUEST_COMPLETED:
                    usage = self.models.setdefault(f"{endpoint} / {event.get('model')}",
                                                   Counter())
                    usage["requests"] += 1
                    for key in ("prompt_tokens", "completion_tokens"):
                        usage[key] += int(tally._number(event.get(key)))
                    usage["cost_nano_usd"] += round(tally._number(event.get("cost_usd"))
                                                    * tally.NANO)
                    continue
                if name == events.RUN_STARTED and endpoints is not None:
                    endpoint = endpoints.get(str(event.get("run_id")), "-")
                at = tally._parse_time(event.get("timestamp"))
                usd = event.get("prior_cost_usd", event.get("cost_usd_all_runs"))
                if at is not None and isinstance(usd, int | float):
                    self.spend.append((at, float(usd)))
        return self


# ---------------------------------------------------------------- SVG charts


# ---------------------------------------------------------------- the page


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], *, id_: str = "") -> str:
    ident = f' id="{id_}"' if id_ else ""
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    head_html = "".join(f"<th>{esc(cell)}</th>" for cell in head)
    return (f'<div class="scroll"><table{ident}><thead><tr>{head_html}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _section(title: str, *content: str, id_: str = "") -> str:
    ident = f' id="{id_}"' if id_ else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{''.join(content)}</section>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _table1(t1: Mapping[str, Any]) -> str:
    rows = [
        ("# of instructions", report_text.as_int(t1["instructions"])),
        ("- # of classification instructions",
         report_text.as_int(t1["classification_instructions"])),
        ("- # of non-classification instructions",
         report_text.as_int(t1["non_classification_instructions"])),
        ("# of instances", report_text.as_int(t1["instances"])),
        ("- # of instances with empty input", report_text.as_int(t1["instances_with_empty_input"])),
        ("ave. instruction length (in words)", report_text.as_float(t1["avg_instruction_words"])),
        ("ave. non-empty input length (in words)",
         report_text.as_float(t1["avg_nonempty_input_words"])),
        ("ave. output length (in words)", report_text.as_float(t1["avg_output_words"])),
    ]
    return _section("Table 1: statistics of the generated data", _table(("", "value"), rows),
                    id_="table1")


def _runs(data: Mapping[str, Any], settings: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for n, run in enumerate(data["runs"]["list"], start=1):
        s = settings.get(str(run["run_id"]), {})
        rows.append((n, run["run_id"] or "-", run["started_at"] or "-",
                     s.get("provider", "-"), s.get("model", "-"), s.get("endpoint", "-"),
                     run["reason"] if run["finished"] else "(no run.finished)",
                     report_text.as_float(run["elapsed_s"]), report_text.as_int(run["committed"]),
                     report_text.as_int(run["requests"]), report_text.as_usd(run["cost_usd"])))
    head = ("#", "run", "started", "provider", "model", "endpoint", "stop", "elapsed s",
            "committed", "requests", "cost")
    return _section(f"Runs: {data['runs']['count']}", _table(head, rows))


def _funnel(f: Mapping[str, Any]) -> str:
    steps = [(step.replace("_", " "), float(f[step])) for step in tally.FUNNEL_STEPS]
    reasons = [(reason, float(n)) for reason, n in f["rejected"].items()]
    rate = f["acceptance_rate"]
    note = (f'<p class="muted">{report_text.as_int(f["committed"])} of '
            f'{report_text.as_int(f["candidates_parsed"])} parsed candidates committed'
            + (f" ({100 * rate:.1f}%)" if rate is not None else "")
            + f'; {report_text.as_int(f["in_flight_at_stop"])} in flight at the stop.</p>')
    return _section(
        "Funnel and rejection reasons", note,
        '<div class="grid">',
        _figure(bars(steps, label="funnel"), "Candidates through the steps"),
        _figure(bars(reasons, label="rejection reasons"), "Why candidates were rejected"),
        "</div>", id_="funnel")


def _requests(data: Mapping[str, Any], models: Mapping[str, Counter[str]]) -> str:
    req = data["requests"]
    rows = [(stage, report_text.as_int(r["requests"]), report_text.as_int(r["prompt_tokens"]),
             report_text.as_int(r["completion_tokens"]), report_text.as_usd(r["cost_usd"]))
            for stage, r in [*req["by_stage"].items(), ("total", req["total"])]]
    head = ("stage", "requests", "prompt tokens", "completion tokens", "cost")
    parts = [_table(head, rows),
             f'<p class="muted">spent, all runs: {report_text.as_usd(data["cost_usd"], 6)} (from '
             f'{esc(data["cost_source"])}); per instruction: '
             f'{report_text.as_usd(data["cost_per_instruction_usd"], 6)}</p>']
    if len(models) > 1:
        text = report_text
        rows = [(model, text.as_int(c["requests"]), text.as_int(c["prompt_tokens"]),
                 text.as_int(c["completion_tokens"]), text.as_usd(c["cost_nano_usd"] / tally.NANO))
                for model, c in sorted(models.items())]
        parts.append(_table(("endpoint / model", *head[1:]), rows))
    cost = [(stage, r["cost_usd"]) for stage, r in req["by_stage"].items()]
    parts.append(_figure(bars(cost, label="cost per stage"), "Cost (USD) per stage"))
    return _section("Requests, tokens and cost", *parts, id_="requests")


def _over_time(tasks: Sequence[Task], spend: Sequence[tuple[datetime, float]]) -> str:
    return _section(
        "Over time", '<div class="grid">',
        _figure(line_chart(committed_over_time(tasks), label="committed tasks",
                           y_label="tasks"), "Committed tasks (all runs)"),
        _figure(line_chart(spend, label="spend", y_label="USD"), "Spend (all runs, USD)"),
        "</div>", id_="time")


def _latency(latency: Mapping[str, Any]) -> str:
    rows = [(stage, report_text.as_int(r["count"]),
             *(report_text.as_float(r[f"p{q}"]) for q in tally.PERCENTILES))
            for stage, r in latency.items()]
    p95 = [(stage, r["p95"]) for stage, r in latency.items() if r["p95"] is not None]
    return _section("Latency (ms)",
                    _table(("stage", "n", *(f"p{q}" for q in tally.PERCENTILES)), rows),
                    _figure(bars(p95, label="p95 latency"), "p95 latency per stage (ms)"),
                    id_="latency")


def _cache(cache: Mapping[str, Any]) -> str:
    rows = [(stage, report_text.as_int(r["prompt_tokens"]), report_text.as_int(r["cached_tokens"]),
             report_text.as_pct(r["cached_tokens"], r["prompt_tokens"]),
             report_text.as_usd(r["saved_usd"], 6))
            for stage, r in [*cache["by_stage"].items(), ("total", cache["total"])]]
    return _section("Prompt cache",
                    _table(("stage", "prompt tokens", "cached", "share", "saved"), rows),
                    id_="cache")


def _figures(tasks: Sequence[Task]) -> str:
    scores = report.similarity_scores(tasks)
    fig4 = histogram(scores, [i / 20 for i in range(21)], label="Figure 4",
                     x_label="ROUGE-L with the most similar seed", y_label="# instructions")
    parts = [_figure(fig4, "Figure 4: ROUGE-L between each generated instruction and its most "
                     f"similar seed instruction (n={len(scores):,})")]
    names = {"instruction": "instructions", "input": "non-empty inputs", "output": "outputs"}
    for key, values in report.length_distributions(tasks).items():
        top = max(1, math.ceil(tally.percentile(values, 99) or 1))  # the tail in one bin
        edges = [float(v) for v in range(0, top + 2)]
        svg = histogram([min(v, top) for v in values], edges, label=f"Figure 5 {key}",
                        x_label=f"# of words (≥{top} in the last bin)",
                        y_label=f"# {names[key]}")
        parts.append(_figure(svg, f"Figure 5: length of {names[key]} "
                                  f"(n={len(values):,})"))
    return _section("Figures 4 and 5", '<div class="grid">', *parts, "</div>", id_="figures")


def _sample(tasks: Sequence[Task], *, size: int, seed: int) -> str:
    chosen = sorted(random.Random(seed).sample(range(len(tasks)), min(size, len(tasks))))
    parts = [f'<p class="muted">{len(chosen)} of {len(tasks):,} tasks, chosen at random.</p>']
    for index in chosen:
        task = tasks[index]
        kind = "classification" if task.is_classification else "generation"
        parts.append(f'<div class="task"><p><b>{esc(task.id)}</b> <span class="tag">{kind}'
                     f"</span> {esc(task.instruction)}</p>")
        for instance in task.instances[:2]:
            if instance.input.strip():
                parts.append(f"<p><i>input:</i> {esc(_cut(instance.input))}</p>")
            parts.append(f"<p><i>output:</i> {esc(_cut(instance.output))}</p>")
        parts.append("</div>")
    return _section("A sample of tasks", *parts, id_="sample")


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def write_page(directory: Path, data: Mapping[str, Any], tasks: Sequence[Task],
               output: Path) -> None:
    """Read what the page needs beyond `data` and `tasks` from `directory`; write it (0644
    under umask 022, atomically)."""
    try:
        runs = read_record(directory).runs
    except UsageError:
        runs = ()
    settings = {str(run.get("run_id")): run.get("settings", {}) for run in runs}
    several = len({(s.get("endpoint"), s.get("model")) for s in settings.values()}) > 1 \
        or len({task.model for task in tasks}) > 1
    endpoints = {run_id: str(s.get("endpoint", "-")) for run_id, s in settings.items()}
    scan = EventScan()
    if (directory / EVENTS_FILE).is_file():
        scan.read(directory / EVENTS_FILE, endpoints=endpoints if several else None)
    page = render_html(data, tasks, spend=scan.spend, settings=settings, models=scan.models)
    atomic_write(output, page.encode())


def render_html(data: Mapping[str, Any], tasks: Sequence[Task], *,
                spend: Sequence[tuple[datetime, float]] = (),
                settings: Mapping[str, Mapping[str, Any]] | None = None,
                models: Mapping[str, Counter[str]] | None = None,
                sample: int = SAMPLE_TASKS, seed: int = 0) -> str:
    """The page for `data` (report.assemble's dict, with `dir`) and the run's tasks; `spend`
    over time, each run's `settings` (asyncgen.json) and the usage per endpoint and model
    (`EventScan`)."""
    title = f"asyncgen report: {data.get('dir', '')}"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in data["warnings"])
    body = [
        f"<h1>{esc(title)}</h1>",
        _section("Warnings", f"<ul>{warnings}</ul>") if warnings else "",
        _table1(data["table1"]),
        _runs(data, settings or {}),
        _funnel(data["funnel"]),
        _requests(data, models or {}),
        _over_time(tasks, spend),
        _latency(data["latency_ms"]),
        _cache(data["prompt_cache"]),
        _figures(tasks),
        _sample(tasks, size=sample, seed=seed),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            + "".join(body) + "</main></body></html>\n")
