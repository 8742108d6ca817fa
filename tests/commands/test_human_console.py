"""The human console: short lines in words, each fitting the terminal, and a closing summary.

The tmux test runs the README's run command in an 80-column pane of a private tmux server
(skipped when tmux is not installed).
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from asyncgen.commands import console
from asyncgen.observe import events

FINISHED: dict[str, Any] = {
    "event": "run.finished", "level": "info", "timestamp": "2026-12-08T00:00:00Z",
    "run_id": "abc", "reason": "target", "error": None, "note": None, "committed": 217,
    "committed_all_runs": 217, "target": 200, "elapsed_s": 26.4, "requests": 900,
    "cost_usd": 0.0821, "cost_usd_all_runs": 0.0821, "candidates": 397,
    "acceptance_rate": 0.5466, "cached_tokens": 1000, "cache_hit_share": 0.925,
    "cache_saved_usd": 0.2514, "rejected": {"similar": 100, "length": 20},
    "queues": {"a": 1}, "limiter": {"concurrency": 12, "deep": {"x": 1}},
    "cache": {"classify": {"prompt_tokens": 5, "cached_tokens": 4}},
}
STARTED: dict[str, Any] = {
    "event": "run.started", "level": "info", "run_id": "abc", "provider": "sim",
    "model": "sim-1", "resumed_tasks": 0, "prior_cost_usd": 0.0,
    "rescued": {"answers": 0, "settled": 0, "settled_usd": 0.0, "courier_wait_s": 0.0},
    "settings_changed": [], "config": {"target_instructions": 200, "out": "out/demo"},
}


def _human(width: int | None, *, live: bool = True, out: str = "out/demo") -> console.Human:
    human = console.Human(Path(out), io.StringIO(), live)
    human.columns = lambda: width
    return human


def test_a_run_in_a_few_lines_of_words() -> None:
    human = _human(80)
    start = human(STARTED)
    assert start == "asyncgen: sim-1 (sim) -> out/demo, target 200 tasks (new)"
    summary = human(FINISHED).splitlines()
    assert summary[0] == "finished: target reached (200 tasks) in 26s"
    assert "217 this run, 217 in all" in summary[1] and "54.7% of 397 candidates" in summary[1]
    assert "$0.0821 all runs" in summary[2] and "saved $0.2514" in summary[2]
    assert "data: out/demo/tasks.jsonl" in summary
    assert "next: asyncgen report out/demo" in summary
    assert any("asyncgen export out/demo --format alpaca" in line for line in summary)
    text = "\n".join([start, *summary])
    for nested in ("{", "[", "=", "None"):  # no dicts, lists, key=value pairs or Nones
        assert nested not in text, text


def test_a_resumed_run_says_what_it_resumes() -> None:
    human = _human(80)
    lines = human({**STARTED, "resumed_tasks": 203, "prior_cost_usd": 0.0821,
                   "settings_changed": ["model"],
                   "rescued": {"answers": 3}}).splitlines()
    assert lines[0].endswith("target 200 tasks")
    assert lines[1] == "resuming: 203 tasks, $0.0821 spent by earlier runs"
    assert any("3 answers" in line for line in lines)
    assert lines[-1] == "settings changed (--allow-changes): model"


@pytest.mark.parametrize("reason", ["budget", "duration", "max_requests", "signal", "stuck",
                                    "fatal", "io_error"])
def test_every_stop_reason_is_said_in_words(reason: str) -> None:
    line = _human(80)({**FINISHED, "reason": reason}).splitlines()[0]
    assert line == f"finished: {console.REASONS[reason]} in 26s"
    assert len(line.split()) > 4 and "_" not in line  # words, not the reason's name


def test_the_error_that_stopped_a_run_is_wrapped_whole_not_cut() -> None:
    error = "cannot reach http://127.0.0.1:9/v1/chat/completions: " + "refused " * 12
    lines = _human(80)({**FINISHED, "reason": "fatal", "error": error,
                        "committed": 0, "committed_all_runs": 0}).splitlines()
    wrapped = lines[1:next(i for i, line in enumerate(lines) if line.startswith("tasks: "))]
    assert wrapped[0].startswith("error: cannot reach") and len(wrapped) >= 2
    assert all(len(line) <= 77 for line in wrapped)
    assert " ".join(line.strip() for line in wrapped) == f"error: {error}".strip()
    assert lines[-1] == "data: out/demo/tasks.jsonl"  # no task anywhere: nothing to do next


def test_a_failed_resume_still_says_what_to_do_with_the_tasks_it_has() -> None:
    lines = _human(80)({**FINISHED, "reason": "fatal", "error": "x", "committed": 0,
                        "committed_all_runs": 5}).splitlines()
    assert "next: asyncgen report out/demo" in lines


@pytest.mark.parametrize("width", [80, 40, 20])
def test_every_line_fits_the_width_even_with_huge_values(width: int) -> None:
    human = _human(width, out="/very/long/" + "directory/" * 20)
    huge = {**FINISHED, "committed": 10**9, "committed_all_runs": 10**12,
            "cost_usd_all_runs": 1e9, "candidates": 10**12}
    warning = {"event": "run.unpriced", "level": "warning", "message": "no price " * 30}
    failed = {"event": "request.failed", "level": "error", "stage": "classify",
              "error_kind": "http", "message": "x" * 500}
    for event in (STARTED, huge, warning, failed,
                  {**FINISHED, "reason": "signal", "note": "y" * 300}):
        for line in human(event).splitlines():
            assert len(line) <= width - events.STATUS_MARGIN, line


def test_no_width_no_cut_and_progress_only_without_a_live_line() -> None:
    progress = {"event": "run.progress", "committed_all_runs": 50, "target": 200,
                "eta_s": 30.0, "cost_usd_all_runs": 0.01, "open_jobs": 7, "queues": {"x": 1}}
    assert _human(80, live=True)(progress) == ""
    line = _human(None, live=False)(progress)
    assert line == "progress: 50/200 tasks, ETA 30s, $0.0100 spent, 7 in flight"
    long = _human(None)({"event": "x", "level": "warning", "message": "z" * 300})
    assert long == "warning: " + "z" * 300


def test_budget_failures_and_other_events_stay_short() -> None:
    human = _human(80)
    assert human({"event": "request.failed", "error_kind": "budget"}) == ""
    other = human({"event": "batch.submitted", "level": "info", "batch_id": "b1", "seq": 2,
                   "requests": {"nested": 1}})
    assert other == "batch.submitted: batch_id=b1 seq=2"


# --- the README's run command in a real terminal ----------------------------------------------


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_readme_run_in_an_80_column_terminal(tmp_path: Path) -> None:
    socket = f"asyncgen-{uuid.uuid4().hex[:8]}"  # a private server: none of another's sessions
    out = Path("out/demo")  # relative to the pane's directory, as in the README
    env = " ".join(f"-u {name}" for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY",
                                              "ASYNCGEN_API_KEY", "COLUMNS"))
    command = (f"env {env} {shlex.quote(sys.executable)} -m asyncgen run --out "
               f"{shlex.quote(str(out))} --target-instructions 200; echo EXIT=$?; sleep 60")
    _tmux(socket, "new-session", "-d", "-s", "t", "-x", "80", "-y", "40", "-c", str(tmp_path),
          command)
    try:
        deadline = time.monotonic() + 50  # a loaded machine starts slowly
        while "EXIT=" not in (screen := _tmux(socket, "capture-pane", "-p", "-J", "-t", "t")):
            assert time.monotonic() < deadline, screen
            time.sleep(0.5)
        rows = _tmux(socket, "capture-pane", "-p", "-t", "t")  # as shown: wrapped rows apart
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False)
    lines = [line for line in screen.splitlines() if line.strip()]  # -J: wrapped rows joined
    assert lines.pop() == "EXIT=0", screen
    assert len(lines) <= 12, screen
    assert len([row for row in rows.splitlines() if row.strip()]) - 1 <= 12, rows
    for line in lines:
        assert len(line.rstrip()) <= 80, line
    assert f"data: {out / 'tasks.jsonl'}" in lines, screen
    assert f"next: asyncgen report {out}" in lines, screen
    assert (tmp_path / out / "tasks.jsonl").stat().st_size > 0
    assert not any(" tasks  ETA " in line for line in lines), screen  # the live line is cleared
