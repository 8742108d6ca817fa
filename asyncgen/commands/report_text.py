"""The report as text: the tables `asyncgen report` prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asyncgen.rundir.tally import FUNNEL_STEPS, PERCENTILES


def table_lines(rows: Sequence[Sequence[str]], *, left: int = 1) -> list[str]:
    """Aligned columns, two-space indent; the first `left` columns left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if i < left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def as_int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def as_float(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def as_usd(value: Any, digits: int = 4) -> str:
    return f"${value:,.{digits}f}" if isinstance(value, int | float) else "-"


def as_pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _runs_lines(runs: Mapping[str, Any]) -> list[str]:
    rows = [["#", "run_id", "started", "stop reason", "elapsed_s", "committed", "requests",
             "cost"]]
    for number, run in enumerate(runs["list"], start=1):
        reason = run["reason"] if run["finished"] else "(no run.finished)"
        rows.append([str(number), run["run_id"] or "-", run["started_at"] or "-", str(reason),
                     as_float(run["elapsed_s"]), as_int(run["committed"]), as_int(run["requests"]),
                     as_usd(run["cost_usd"])])
    head = f"Runs: {runs['count']}, {as_float(runs['elapsed_s'])} s in total"
    lines = [head, *(table_lines(rows, left=4) if runs["list"] else [])]
    for number, run in enumerate(runs["list"], start=1):
        if run.get("endpoints"):
            table = [["endpoint", "requests", "429s", "failures", "latency_s", "cost",
                      "rpm limit", "taken out"]]
            table += [[name, as_int(e.get("requests") or 0), as_int(e.get("429s") or 0),
                       as_int(e.get("failures") or 0), as_float(e.get("latency_s"), 2),
                       as_usd(e.get("cost_usd") or 0.0), as_float(e.get("rpm_limit")),
                       as_int(e.get("taken_out") or 0)]
                      for name, e in run["endpoints"].items()]
            lines += [f"  run {number}, endpoints:", *table_lines(table)]
    return lines


def _table1_lines(t1: Mapping[str, Any]) -> list[str]:
    rows = [
        ["# of instructions", as_int(t1["instructions"])],
        ["  - # of classification instructions", as_int(t1["classification_instructions"])],
        ["  - # of non-classification instructions",
         as_int(t1["non_classification_instructions"])],
        ["# of instances", as_int(t1["instances"])],
        ["  - # of instances with empty input", as_int(t1["instances_with_empty_input"])],
        ["ave. instruction length (in words)", as_float(t1["avg_instruction_words"])],
        ["ave. non-empty input length (in words)", as_float(t1["avg_nonempty_input_words"])],
        ["ave. output length (in words)", as_float(t1["avg_output_words"])],
    ]
    return ["Table 1: statistics of the generated data (tasks.jsonl)", *table_lines(rows)]


def _funnel_lines(f: Mapping[str, Any]) -> list[str]:
    rows = [["step", "count", "of parsed", "rejected before"]]
    parsed = f["candidates_parsed"]
    for step in FUNNEL_STEPS:
        lost = f["rejected_at_step"].get(step)
        rows.append([step.replace("_", " "), as_int(f[step]), as_pct(f[step], parsed),
                     as_int(lost) if lost is not None else ""])
    lines = ["Funnel (events.jsonl)", *table_lines(rows)]
    lines.append(f"  in flight when the run stopped: {as_int(f['in_flight_at_stop'])}")
    if f["rejected"]:
        reasons = [["rejection reason", "count", "share"]]
        reasons += [[r, as_int(n), as_pct(n, f["rejected_total"])]
                    for r, n in f["rejected"].items()]
        lines += ["", *table_lines(reasons)]
    return lines


def _formats_lines(formats: Mapping[str, Any]) -> list[str]:
    rows = [["list format", "answers", "share"]]
    rows += [[name, as_int(row["answers"]), as_pct(row["answers"], formats["answers"])]
             for name, row in formats["by_format"].items()]
    return ["Generation answers by list format (candidate.parsed)", *table_lines(rows),
            f"  with a chat preamble or closing remark: {as_int(formats['with_chat_remarks'])} "
            f"({as_pct(formats['with_chat_remarks'], formats['answers'])})"]


def _requests_lines(report: Mapping[str, Any]) -> list[str]:
    req = report["requests"]
    rows = [["stage", "requests", "prompt tokens", "completion tokens", "cost"]]
    for stage, row in [*req["by_stage"].items(), ("total", req["total"])]:
        rows.append([stage, as_int(row["requests"]), as_int(row["prompt_tokens"]),
                     as_int(row["completion_tokens"]), as_usd(row["cost_usd"])])
    per = as_usd(report["cost_per_instruction_usd"], digits=6)
    total = as_usd(report["cost_usd"], digits=6)
    spent = f"  spent, all runs: {total} (from {report['cost_source']})"
    via = [f"  {name}: {as_int(row['requests'])} requests, {as_usd(row['cost_usd'], digits=6)}"
           for name, row in req.get("via", {}).items()] if "batch" in req.get("via", {}) else []
    models = req.get("by_model", {})
    by_model = []
    if len(models) > 1:
        table = [["model", "stage", "requests", "cost"]]
        table += [[model, stage, as_int(row["requests"]), as_usd(row["cost_usd"])]
                  for model, stages in models.items() for stage, row in stages.items()]
        by_model = ["  by model:", *table_lines(table, left=2)]
    return ["Requests (request.completed)", *table_lines(rows), *via,
            *_transport_lines(req.get("transports", {})), *by_model, spent,
            f"  cost per instruction: {per}"]


def _transport_lines(chosen: Mapping[str, Any]) -> list[str]:
    """`--batch`: per stage, live or batch and why, and the cost per request on each."""
    if not chosen:
        return []
    table = [["stage", "via", "live $/request", "batch $/request", "why"]]
    table += [[stage, str(row.get("via") or "-"), as_usd(row.get("live_usd_per_request"), 8),
               as_usd(row.get("batch_usd_per_request"), 8), str(row.get("why") or "-")]
              for stage, row in chosen.items()]
    return ["  transport per stage (--batch):", *table_lines(table, left=2)]


def _cache_lines(cache: Mapping[str, Any]) -> list[str]:
    rows = [["stage", "prompt tokens", "cached", "share", "saved"]]
    for stage, row in [*cache["by_stage"].items(), ("total", cache["total"])]:
        rows.append([stage, as_int(row["prompt_tokens"]), as_int(row["cached_tokens"]),
                     as_pct(row["cached_tokens"], row["prompt_tokens"]),
                     as_usd(row["saved_usd"], digits=6)])
    return ["Prompt cache (prompt tokens served from the provider's cache)", *table_lines(rows)]


def _latency_lines(latency: Mapping[str, Any]) -> list[str]:
    rows = [["stage", "n", *(f"p{q} ms" for q in PERCENTILES)]]
    for stage, row in latency.items():
        rows.append([stage, as_int(row["count"]), *(as_float(row[f"p{q}"]) for q in PERCENTILES)])
    return ["Latency", *table_lines(rows)]


def _errors_lines(errors: Mapping[str, Any]) -> list[str]:
    lines = [f"Errors: {errors['retries']:,} retries, {errors['failed']:,} failed requests, "
             f"{errors['classify_unparseable']:,} unparseable classifications"]
    if errors["by_kind"]:
        rows = [["error kind", "retries", "failed", "final"]]
        rows += [[k, as_int(v["retries"]), as_int(v["failed"]), as_int(v["failed_final"])]
                 for k, v in errors["by_kind"].items()]
        lines += table_lines(rows)
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
