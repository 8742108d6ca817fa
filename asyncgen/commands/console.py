"""The human console (`--log-format human`, the default): a few short lines a person reads.

events.jsonl and `--log-format json` carry every event whole, for machines. The console says
the run in words instead, one line per thing, each cut to the terminal's width, nothing nested:

    asyncgen: sim-1 (sim) -> out/demo, target 200 tasks (new)
    warning: no API key: using the built-in simulator (see --provider)
    stopping: target reached (200 tasks); finishing work in flight (30s at most)
    finished: target reached (200 tasks) in 26s
    tasks: 217 this run, 217 in all; 54.7% of 397 candidates kept
    spend: $0.0821 all runs ($0.0821 this run); cache hits 92.5%, saved $0.2514
    data: out/demo/tasks.jsonl
    next: asyncgen report out/demo
          asyncgen export out/demo --format alpaca -o alpaca.json
          (formats: alpaca, openai-chat, prompt-completion)

The live line between them is `events.StatusLine` (a terminal only); without one, each
`run.progress` is one line of the same words instead.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from asyncgen.commands.export import FORMATS
from asyncgen.observe import events
from asyncgen.rundir.layout import TASKS_FILE

# run.finished's `reason` in words; `{target}` is the target of the run
REASONS: Mapping[str, str] = {
    "target": "target reached ({target} tasks)",
    "budget": "budget reached (--budget-usd)",
    "duration": "time limit reached (--max-duration)",
    "max_requests": "request limit reached (--max-requests)",
    "signal": "stopped by a signal",
    "stuck": "the provider is stuck (no new instruction: --stuck-after)",
    "fatal": "stopped by an error",
    "io_error": "a file could not be written",
}
_NESTED = (dict, list, tuple)


def columns(stream: TextIO) -> int | None:
    """The width to fit lines to: the terminal's, else $COLUMNS, else None (no cut: a file)."""
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError):
        pass
    try:
        return int(os.environ["COLUMNS"]) or None
    except (KeyError, ValueError):
        return None


def usd(value: Any) -> str:
    """$0.0412, $12.35; '-' when unknown."""
    if not isinstance(value, int | float):
        return "-"
    return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"


def duration(seconds: Any) -> str:
    """2.4s, 12s, 3m05s, 2h07m."""
    if not isinstance(seconds, int | float):
        return "?"
    whole = int(seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _share(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, int | float) else "-"


class Human:
    """Renders one event as the lines a person reads ("" for none); a structlog-side callable.

    `out` is the run's directory (the summary names its tasks.jsonl and the next commands);
    `live` says a StatusLine shows progress, so `run.progress` prints nothing.
    """

    __slots__ = ("out", "live", "columns", "target")

    def __init__(self, out: Path, stream: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self.columns: Callable[[], int | None] = lambda: columns(stream)
        self.target: Any = None  # from run.started's config, for the words of `target`

    def __call__(self, event: Mapping[str, Any]) -> str:
        name = event.get("event")
        render = _RENDER.get(str(name), Human._other)
        lines = render(self, event)
        width = self.columns()
        if width is not None:
            lines = [events.fit(line, width) for line in lines]
        return "\n".join(lines)

    def _started(self, e: Mapping[str, Any]) -> list[str]:
        config = e.get("config")
        self.target = config.get("target_instructions") if isinstance(config, dict) else None
        resumed = e.get("resumed_tasks") or 0
        line = f"asyncgen: {e.get('model')} ({e.get('provider')}) -> {self.out}"
        if isinstance(self.target, int):
            line += f", target {self.target:,} tasks"
        lines = [line]
        if resumed or e.get("prior_cost_usd"):
            lines.append(f"resuming: {resumed:,} tasks, {usd(e.get('prior_cost_usd'))} spent "
                         "by earlier runs")
        else:
            lines[0] += " (new)"
        rescued = e.get("rescued")
        if isinstance(rescued, dict) and rescued.get("answers"):
            lines.append(f"rescued: {rescued['answers']:,} answers kept by an earlier run's "
                         "courier (used before new requests)")
        if e.get("settings_changed"):
            lines.append(f"settings changed (--allow-changes): {_words(e['settings_changed'])}")
        return lines

    def _stopping(self, e: Mapping[str, Any]) -> list[str]:
        why = self._reason(e.get("reason"))
        drain = e.get("drain_s")
        how = (f"finishing work in flight ({duration(drain)} at most)" if drain
               else "stopping at once")
        note = f" ({e['note']})" if e.get("note") else ""
        return [f"stopping: {why}{note}; {how}"]

    def _progress(self, e: Mapping[str, Any]) -> list[str]:
        if self.live:
            return []
        eta = duration(e["eta_s"]) if isinstance(e.get("eta_s"), int | float) else "?"
        return [f"progress: {e.get('committed_all_runs', 0):,}/{e.get('target', 0):,} tasks, "
                f"ETA {eta}, {usd(e.get('cost_usd_all_runs'))} spent, "
                f"{e.get('open_jobs', 0):,} in flight"]

    def _finished(self, e: Mapping[str, Any]) -> list[str]:
        """The closing summary: what was made, what it cost, why it stopped, what next."""
        lines = [f"finished: {self._reason(e.get('reason'))} in "
                 f"{duration(e.get('elapsed_s'))}"]
        if e.get("error"):  # the one line that says why a run failed: wrapped, never cut
            width = self.columns()
            if width is None:
                lines.append(f"error: {e['error']}")
            else:
                lines += textwrap.wrap(f"error: {e['error']}", max(width - events.STATUS_MARGIN,
                                                                      20),
                                       subsequent_indent="       ", break_on_hyphens=False)
        if e.get("note"):
            lines.append(f"note: {e['note']}")
        made, total = e.get("committed", 0), e.get("committed_all_runs", 0)
        tasks = f"tasks: {made:,} this run, {total:,} in all"
        if e.get("candidates"):
            tasks += f"; {_share(e.get('acceptance_rate'))} of {e['candidates']:,} candidates kept"
        lines.append(tasks)
        spend = (f"spend: {usd(e.get('cost_usd_all_runs'))} all runs "
                 f"({usd(e.get('cost_usd'))} this run)")
        if e.get("cached_tokens"):
            spend += (f"; cache hits {_share(e.get('cache_hit_share'))}, saved "
                      f"{usd(e.get('cache_saved_usd'))}")
        lines.append(spend)
        out = str(self.out)
        lines.append(f"data: {self.out / TASKS_FILE}")
        if not total:
            return lines  # nothing to report or export yet
        lines += [
            f"next: asyncgen report {out}",
            f"      asyncgen export {out} --format {FORMATS[0]} -o {FORMATS[0]}.json",
            f"      (formats: {', '.join(FORMATS)})",
        ]
        return lines

    def _other(self, e: Mapping[str, Any]) -> list[str]:
        """Warnings and errors, one line each; other events: their name and plain fields."""
        level = e.get("level")
        name = str(e.get("event"))
        prefix = f"{level}: " if level in ("warning", "error", "critical") else ""
        if isinstance(e.get("message"), str):
            return [f"{prefix}{e['message']}"]
        if isinstance(e.get("error"), str):
            return [f"{prefix}{name}: {e['error']}"]
        fields = " ".join(f"{key}={value}" for key, value in e.items()
                          if key not in ("event", "level", "timestamp") and value is not None
                          and not isinstance(value, _NESTED))
        return [f"{prefix}{name}: {fields}".rstrip(": ")]

    def _failed(self, e: Mapping[str, Any]) -> list[str]:
        if e.get("error_kind") == "budget":
            return []  # one per worker at the cap; run.stopping says it once
        return [f"error: {e.get('stage')} request failed ({e.get('error_kind')}): "
                f"{e.get('message')}"]

    def _unpriced(self, e: Mapping[str, Any]) -> list[str]:
        return ["warning: unpriced model, cost not tracked: give --price-in and --price-out"]

    def _torn(self, e: Mapping[str, Any]) -> list[str]:
        return [f"warning: {e.get('path')}: cut a torn last line ({e.get('bytes')} bytes) left "
                "by a killed run"]

    def _newline(self, e: Mapping[str, Any]) -> list[str]:
        return [f"warning: {e.get('path')}: added the newline its last line lacked"]

    def _reason(self, reason: Any) -> str:
        words = REASONS.get(str(reason), str(reason))
        return words.format(target=f"{self.target:,}" if isinstance(self.target, int) else "?")


def _words(values: Any) -> str:
    return ", ".join(map(str, values)) if isinstance(values, list | tuple) else str(values)


_RENDER: Mapping[str, Callable[[Human, Mapping[str, Any]], list[str]]] = {
    events.RUN_STARTED: Human._started,
    events.RUN_STOPPING: Human._stopping,
    events.RUN_PROGRESS: Human._progress,
    events.RUN_FINISHED: Human._finished,
    events.REQUEST_FAILED: Human._failed,
    events.RUN_UNPRICED: Human._unpriced,
    events.STORE_TORN_TAIL: Human._torn,
    events.STORE_NEWLINE_ADDED: Human._newline,
}
